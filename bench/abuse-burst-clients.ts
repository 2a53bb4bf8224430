// The attacker side of bench/abuse-burst.ts, run as a separate process (child_process.fork):
// opens N graphql-transport-ws sockets without a token, all at once, each from its own client
// address (X-Forwarded-For, believed from loopback) unless told otherwise; every acknowledged
// socket sends M subscriptions at once and stays open until the parent says exit.
import WebSocket from 'ws';

/** What the parent sends. */
type Command = { type: 'burst'; url: string; sockets: number; subscriptions: number; sameAddress: boolean } | { type: 'exit' };

/** How the burst's sockets ended up, counted. */
export interface BurstOutcome {
  /** Acknowledged (connection_ack). */
  admitted: number;
  /** Refused at the HTTP upgrade, by status. */
  refusedAtUpgrade: Record<string, number>;
  /** Closed after the WebSocket handshake, by close code. */
  closed: Record<string, number>;
  /** Failed otherwise (socket errors). */
  failed: number;
  /** Subscriptions of admitted sockets answered (`next` or `error` for the first time), by type. */
  answers: Record<string, number>;
  /** Milliseconds from the first socket to the last outcome and answer. */
  ms: number;
}

const SUBSCRIPTION = 'subscription { events { __typename } }';
const sockets: WebSocket[] = [];

function add(counts: Record<string, number>, key: string | number): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

/** One socket: resolves once it is refused, closed, failed, or acknowledged with each of its subscriptions answered once. */
function attack(url: string, subscriptions: number, address: string | undefined, outcome: BurstOutcome): Promise<void> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, 'graphql-transport-ws', { perMessageDeflate: false, headers: address ? { 'x-forwarded-for': address } : {} });
    sockets.push(socket);
    let settled = false;
    let pending = subscriptions;
    const answered = new Set<string>();
    const settle = (count: () => void) => {
      if (settled) return;
      settled = true;
      count();
      resolve();
    };
    socket.on('unexpected-response', (_req, res) => {
      res.resume();
      settle(() => add(outcome.refusedAtUpgrade, res.statusCode ?? 0));
      socket.terminate();
    });
    socket.on('error', () => settle(() => outcome.failed++));
    socket.on('close', (code) => settle(() => add(outcome.closed, code)));
    socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: {} })));
    socket.on('message', (data: Buffer) => {
      const m = JSON.parse(data.toString()) as { type: string; id?: string };
      if (m.type === 'connection_ack') {
        outcome.admitted++;
        if (!subscriptions) settle(() => undefined);
        for (let i = 0; i < subscriptions; i++) socket.send(JSON.stringify({ id: `s${i}`, type: 'subscribe', payload: { query: SUBSCRIPTION } }));
      } else if (m.type === 'ping') socket.send('{"type":"pong"}');
      else if (m.id && !answered.has(m.id) && (m.type === 'next' || m.type === 'error' || m.type === 'complete')) {
        answered.add(m.id);
        add(outcome.answers, m.type);
        if (--pending === 0) settle(() => undefined);
      }
    });
  });
}

/** The `i`th address of the burst: 10.x.y.z, one per socket. */
function addressOf(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

process.on('message', (raw) => {
  const cmd = raw as Command;
  void (async () => {
    if (cmd.type === 'burst') {
      const outcome: BurstOutcome = { admitted: 0, refusedAtUpgrade: {}, closed: {}, failed: 0, answers: {}, ms: 0 };
      const started = performance.now();
      await Promise.all(Array.from({ length: cmd.sockets }, (_, i) => attack(cmd.url, cmd.subscriptions, cmd.sameAddress ? undefined : addressOf(i), outcome)));
      outcome.ms = performance.now() - started;
      process.send!({ type: 'burst', outcome });
    } else if (cmd.type === 'exit') {
      for (const s of sockets) s.terminate();
      process.exit(0);
    }
  })().catch((e: unknown) => process.send!({ type: 'error', message: (e as Error).message ?? String(e) }));
});
