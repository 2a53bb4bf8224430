// The subscriber side of bench/metrics-fanout.ts, run as separate processes (child_process.fork):
// opens N graphql-ws connections, each subscribing to hostMetrics (or the subscription the parent
// names: bench/federation's `events`), and measures what arrives.
// `raw` clients speak the graphql-transport-ws protocol directly over `ws` (connection_init,
// subscribe, next) and cost as little as a subscriber can: no UTF-8 validation, and a `next` frame
// of the subscription (recognized by its first bytes, as the gateway writes it) is only counted,
// except a random one in `sampleEvery` (each frame independently, so the latency percentiles stay an
// unbiased estimate over all subscribers and all events), which is parsed for its latency and drop
// count; any other frame is parsed. `graphql-ws` clients use the graphql-ws library's client
// (heavier per message, every message parsed).
import { createClient, Client } from 'graphql-ws';
import WebSocket from 'ws';

/** What the parent sends. */
type Command =
  | { type: 'connect'; url: string; token: string; hostId?: string; subscribers: number; client: 'raw' | 'graphql-ws'; subscription?: Subscription; sampleEvery?: number }
  | { type: 'stage-start' }
  | { type: 'stage-end' }
  | { type: 'exit' };

/** The subscription each client opens: its document, variables and root field, whose value has `at` and `dropped`. */
interface Subscription {
  query: string;
  variables: Record<string, unknown>;
  field: string;
}

/** hostMetrics of the parent's host: bench/metrics-fanout's subscription. */
const hostMetrics = (hostId: string | undefined): Subscription => ({ query: 'subscription ($h: ID!) { hostMetrics(hostId: $h) { at cpu { usage } memory { usedBytes totalBytes } dropped } }', variables: { h: hostId }, field: 'hostMetrics' });
const LATENCY_RESERVOIR = 200_000;
let received = 0;
let maxDropped = 0;
let latencies: number[] = [];
let seen = 0;
/** Raw clients parse a random one in this many `next` frames (1: every frame). */
let sampleProbability = 1;
const closers: Array<() => Promise<void> | void> = [];

/** A sampled event: its latency and drop count (`received` counts every event). */
function onSample(at: string | number, dropped: number): void {
  if (dropped > maxDropped) maxDropped = dropped;
  const latency = Date.now() - (typeof at === 'number' ? at : Date.parse(at));
  seen += 1;
  if (latencies.length < LATENCY_RESERVOIR) latencies.push(latency);
  else {
    const i = Math.floor(Math.random() * seen);
    if (i < LATENCY_RESERVOIR) latencies[i] = latency;
  }
}

function percentile(sorted: Float64Array, p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** One graphql-ws library client with its subscription; resolves once the server acknowledged it. */
function openLibraryClient(url: string, token: string, sub: Subscription): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const fail = (e: unknown) => reject(new Error(describe(e)));
    const client: Client = createClient({ url, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${token}` }, retryAttempts: 0, lazy: false, onNonLazyError: fail });
    closers.push(() => client.dispose());
    client.on('connected', () => resolve());
    client.subscribe<Record<string, { at: string; dropped: number }>>(
      { query: sub.query, variables: sub.variables },
      {
        next: ({ data }) => {
          if (!data?.[sub.field]) return;
          received += 1;
          onSample(data[sub.field]!.at, data[sub.field]!.dropped);
        },
        error: fail,
        complete: () => undefined,
      },
    );
  });
}

/** One raw graphql-transport-ws connection with its subscription; resolves once the server acknowledged it. */
function openRawClient(url: string, token: string, sub: Subscription): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const socket = new WebSocket(url, 'graphql-transport-ws', { perMessageDeflate: false, skipUTF8Validation: true });
    // The first bytes of a `next` frame with data of the subscription (id "1"), as the gateway writes them.
    const next = Buffer.from(`{"id":"1","type":"next","payload":{"data":{${JSON.stringify(sub.field)}:{`);
    closers.push(() => socket.close(1000));
    socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })));
    socket.on('error', (e) => reject(e));
    socket.on('close', (code, reason) => reject(new Error(`connection closed: ${code} ${reason.toString()}`)));
    socket.on('message', (data: Buffer) => {
      const counted = data.length > next.length && data.compare(next, 0, next.length, 0, next.length) === 0;
      if (counted) {
        received += 1;
        if (sampleProbability < 1 && Math.random() >= sampleProbability) return;
      }
      const m = JSON.parse(data.toString()) as { type: string; payload?: any };
      if (m.type === 'next') {
        const h = m.payload?.data?.[sub.field];
        if (h && !counted) received += 1;
        if (h) onSample(h.at, h.dropped);
      } else if (m.type === 'connection_ack') {
        socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: sub.query, variables: sub.variables } }));
        resolve();
      } else if (m.type === 'ping') {
        socket.send('{"type":"pong"}');
      } else if (m.type === 'error') {
        reject(new Error(JSON.stringify(m.payload)));
      }
    });
  });
}

/** Connects `n` subscribers, 50 at a time (the server gives each a few seconds to authenticate). */
async function connect(cmd: Extract<Command, { type: 'connect' }>): Promise<void> {
  const open = cmd.client === 'graphql-ws' ? openLibraryClient : openRawClient;
  for (let i = 0; i < cmd.subscribers; i += 50) await Promise.all(Array.from({ length: Math.min(50, cmd.subscribers - i) }, () => open(cmd.url, cmd.token, cmd.subscription ?? hostMetrics(cmd.hostId))));
}

function describe(e: unknown): string {
  if (e instanceof Error) return e.message;
  const closed = e as { code?: number; reason?: string };
  return closed?.code ? `connection closed: ${closed.code} ${closed.reason ?? ''}` : JSON.stringify(e);
}

process.on('message', (raw) => {
  const cmd = raw as Command;
  void (async () => {
    if (cmd.type === 'connect') {
      sampleProbability = 1 / Math.max(1, cmd.sampleEvery ?? 1);
      await connect(cmd);
      process.send!({ type: 'connected' });
    } else if (cmd.type === 'stage-start') {
      received = 0;
      seen = 0;
      maxDropped = 0;
      latencies = [];
      process.send!({ type: 'stage-started', cpu: process.cpuUsage() });
    } else if (cmd.type === 'stage-end') {
      const sorted = Float64Array.from(latencies).sort();
      process.send!({ type: 'stage', received, latencies: Array.from(sorted.filter((_, i) => i % Math.max(1, Math.floor(sorted.length / 20_000)) === 0)), p50: percentile(sorted, 50), p99: percentile(sorted, 99), maxDropped, rss: process.memoryUsage().rss, cpu: process.cpuUsage() });
    } else if (cmd.type === 'exit') {
      await Promise.allSettled(closers.map((c) => c()));
      process.exit(0);
    }
  })().catch((e: unknown) => {
    process.send!({ type: 'error', message: (e as Error).message ?? String(e) });
  });
});
