// The subscription side of bench/soak.ts: `sockets` graphql-ws clients, each with its share of
// the soak's subscriptions (host and site metrics, events, operation updates). A client whose
// socket closes (the gateway was killed) reconnects after 0.5–1.5 s, as long as it takes, and
// graphql-ws subscribes its subscriptions again; one that ends with an error is subscribed again.
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

/** A subscription the pool keeps open, and how many of the pool's it is. */
export interface SubscriptionKind {
  name: string;
  query: string;
  variables?: Record<string, unknown>;
  count: number;
}

/** What the pool saw. */
export interface SubscriptionCounts {
  /** Events received per minute since the pool opened. */
  eventsPerMinute: number[];
  /** Sockets opened (the first time and after each kill). */
  connects: number;
  /** Subscriptions ended by an error (then subscribed again). */
  errors: number;
  /** The first few of those errors. */
  errorSamples: string[];
}

/** Open subscriptions, each remembering when it last received an event. */
export class SubscriptionPool {
  readonly counts: SubscriptionCounts = { eventsPerMinute: [], connects: 0, errors: 0, errorSamples: [] };
  private readonly clients: Client[] = [];
  private readonly lastEvent: number[] = [];
  private readonly openedAt = Date.now();
  private closed = false;

  /** Opens `sockets` clients sharing the subscriptions of `kinds` round-robin. */
  constructor(url: string, token: string, kinds: SubscriptionKind[], sockets: number) {
    for (let s = 0; s < sockets; s++) {
      const client = createClient({
        url,
        webSocketImpl: WebSocket,
        connectionParams: { authorization: `Bearer ${token}` },
        lazy: false,
        retryAttempts: Number.MAX_SAFE_INTEGER,
        shouldRetry: () => !this.closed,
        retryWait: () => new Promise((r) => setTimeout(r, 500 + Math.random() * 1000)),
        onNonLazyError: () => undefined,
        on: { connected: () => (this.counts.connects += 1) },
      });
      this.clients.push(client);
    }
    let n = 0;
    for (const kind of kinds) for (let k = 0; k < kind.count; k++) this.subscribe(this.clients[n++ % sockets]!, kind, this.lastEvent.push(0) - 1);
  }

  /** Subscriptions in the pool. */
  get size(): number {
    return this.lastEvent.length;
  }

  /** How many subscriptions received an event after `since` (ms since the epoch). */
  deliveringSince(since: number): number {
    return this.lastEvent.filter((t) => t > since).length;
  }

  /** Closes every socket. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.clients.map((c) => c.dispose()));
  }

  private subscribe(client: Client, kind: SubscriptionKind, index: number): void {
    client.subscribe(
      { query: kind.query, variables: kind.variables },
      {
        next: () => {
          this.lastEvent[index] = Date.now();
          const minute = Math.floor((Date.now() - this.openedAt) / 60_000);
          while (this.counts.eventsPerMinute.length <= minute) this.counts.eventsPerMinute.push(0);
          this.counts.eventsPerMinute[minute]! += 1;
        },
        error: (e) => {
          if (this.closed) return;
          this.counts.errors += 1;
          if (this.counts.errorSamples.length < 5) this.counts.errorSamples.push(`${kind.name}: ${describe(e)}`);
          setTimeout(() => !this.closed && this.subscribe(client, kind, index), 1000);
        },
        complete: () => undefined,
      },
    );
  }
}

/** An error as text: graphql-ws gives GraphQL errors as arrays, socket closes as events. */
function describe(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (Array.isArray(e)) return e.map((x) => (x as { message?: string }).message).join('; ');
  const close = e as { code?: number; reason?: string };
  return close?.code ? `socket closed ${close.code} ${close.reason ?? ''}` : JSON.stringify(e).slice(0, 200);
}
