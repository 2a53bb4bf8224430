// The HTTP side of bench/soak.ts: every request the soak sends goes through one `SoakTraffic`,
// which holds new requests while the gateway is down (killed, restarting), counts HTTP statuses
// and GraphQL error codes per minute, and tells the requests a kill cut ("killed": in flight when
// the gateway was killed) from the failures that count against it (5xx, or a connection error
// while the gateway was up).

/** A GraphQL answer as it came. */
export interface Reply {
  status: number;
  data?: any;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

/** What one minute of traffic saw. */
export interface MinuteCounts {
  requests: number;
  /** HTTP status → answers. */
  statuses: Record<string, number>;
  /** GraphQL error code → answers carrying it. */
  codes: Record<string, number>;
  /** Requests in flight when the gateway was killed (their connection was cut). */
  killed: number;
  /** Connection errors of requests that started and ended while the gateway was up. */
  networkErrors: number;
}

/** Thrown for a request the soak does not count as answered: cut by a kill, or a connection error. */
export class CutRequest extends Error {}

const emptyMinute = (): MinuteCounts => ({ requests: 0, statuses: {}, codes: {}, killed: 0, networkErrors: 0 });

/** The soak's HTTP client and its counters. */
export class SoakTraffic {
  /** Counters by minute since `startedAt`. */
  readonly minutes: MinuteCounts[] = [];
  /** Examples of failures (5xx, INTERNAL_SERVER_ERROR, connection errors while up), the first few. */
  readonly failures: string[] = [];
  /** The first answers of each GraphQL error code, for the report. */
  readonly codeSamples: Record<string, string[]> = {};
  private readonly startedAt = Date.now();
  /** Bumped at each kill: a request that saw it change was in flight at a kill. */
  private generation = 0;
  private gate: Promise<void> = Promise.resolve();
  private open: () => void = () => undefined;

  constructor(
    private url: string,
    private readonly token: string,
  ) {}

  /** The gateway is about to be killed: requests in flight are "killed", new ones wait for `up`. */
  down(): void {
    this.generation += 1;
    this.gate = new Promise((resolve) => (this.open = resolve));
  }

  /** The gateway answers again (at `url`, an origin such as `http://127.0.0.1:4000`). */
  up(url = this.url): void {
    this.url = url;
    this.open();
  }

  /** POSTs a GraphQL operation; throws `CutRequest` for a cut connection. */
  async graphql(query: string, variables: Record<string, unknown> = {}): Promise<Reply> {
    return this.send('/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) }, async (res) => {
      const text = await res.text();
      try {
        return { status: res.status, ...(JSON.parse(text) as Omit<Reply, 'status'>) };
      } catch {
        return { status: res.status, errors: [{ message: `not JSON: ${text.slice(0, 200)}` }] };
      }
    });
  }

  /** PUTs an image's content; resolves with the HTTP status. */
  async upload(imageId: string, body: Uint8Array<ArrayBuffer>): Promise<number> {
    return this.send(`/images/${imageId}/content`, { method: 'PUT', headers: { 'content-type': 'application/x-tar' }, body }, async (res) => {
      await res.arrayBuffer();
      return res.status;
    });
  }

  /** The counts of the minute now running. */
  private minute(): MinuteCounts {
    const i = Math.floor((Date.now() - this.startedAt) / 60_000);
    while (this.minutes.length <= i) this.minutes.push(emptyMinute());
    return this.minutes[i]!;
  }

  private fail(what: string): void {
    if (this.failures.length < 20) this.failures.push(`${new Date().toISOString()} ${what}`);
  }

  private async send<T extends number | Reply>(path: string, init: RequestInit, read: (res: Response) => Promise<T>): Promise<T> {
    await this.gate;
    const generation = this.generation;
    let result: T;
    try {
      const res = await fetch(`${this.url}${path}`, { ...init, headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${this.token}` } });
      result = await read(res);
    } catch (e) {
      const m = this.minute();
      m.requests += 1;
      if (generation !== this.generation) m.killed += 1;
      else {
        m.networkErrors += 1;
        this.fail(`${path}: ${(e as Error).message} ${String((e as { cause?: unknown }).cause ?? '')}`);
      }
      throw new CutRequest(`${path}: ${(e as Error).message}`);
    }
    const m = this.minute();
    m.requests += 1;
    const status = typeof result === 'number' ? result : result.status;
    m.statuses[status] = (m.statuses[status] ?? 0) + 1;
    if (status >= 500) this.fail(`${path}: HTTP ${status}${typeof result === 'number' ? '' : ` ${JSON.stringify(result.errors ?? []).slice(0, 300)}`}`);
    if (typeof result !== 'number') {
      for (const e of result.errors ?? []) {
        const code = e.extensions?.code ?? 'NO_CODE';
        m.codes[code] = (m.codes[code] ?? 0) + 1;
        const samples = (this.codeSamples[code] ??= []);
        if (samples.length < 3) samples.push(e.message.slice(0, 200));
        if (code === 'INTERNAL_SERVER_ERROR') this.fail(`${path}: ${e.message.slice(0, 300)}`);
      }
    }
    return result;
  }
}
