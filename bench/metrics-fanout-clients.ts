// The subscriber side of bench/metrics-fanout.ts, run as a separate process (child_process.fork):
// opens N graphql-ws connections, each subscribing to hostMetrics, and measures what arrives.
import { createClient, Client } from 'graphql-ws';
import WebSocket from 'ws';

/** What the parent sends. */
type Command = { type: 'connect'; url: string; token: string; hostId: string; subscribers: number } | { type: 'stage-start' } | { type: 'stage-end' } | { type: 'exit' };

const LATENCY_RESERVOIR = 200_000;
let received = 0;
let maxDropped = 0;
let latencies: number[] = [];
let seen = 0;
const clients: Client[] = [];

function onEvent(at: string, dropped: number): void {
  received += 1;
  if (dropped > maxDropped) maxDropped = dropped;
  const latency = Date.now() - Date.parse(at);
  seen += 1;
  if (latencies.length < LATENCY_RESERVOIR) latencies.push(latency);
  else {
    const i = Math.floor(Math.random() * seen);
    if (i < LATENCY_RESERVOIR) latencies[i] = latency;
  }
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Opens one connection with its subscription; resolves once the server acknowledged it. */
function open(url: string, token: string, hostId: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const fail = (e: unknown) => reject(new Error(describe(e)));
    const client = createClient({ url, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${token}` }, retryAttempts: 0, lazy: false, onNonLazyError: fail });
    clients.push(client);
    client.on('connected', () => resolve());
    client.subscribe<{ hostMetrics: { at: string; dropped: number } }>(
      { query: 'subscription ($h: ID!) { hostMetrics(hostId: $h) { at cpu { usage } memory { usedBytes totalBytes } dropped } }', variables: { h: hostId } },
      { next: ({ data }) => data && onEvent(data.hostMetrics.at, data.hostMetrics.dropped), error: fail, complete: () => undefined },
    );
  });
}

/** Connects `n` subscribers, 50 at a time (the server gives each a few seconds to authenticate). */
async function connect(url: string, token: string, hostId: string, n: number): Promise<void> {
  for (let i = 0; i < n; i += 50) await Promise.all(Array.from({ length: Math.min(50, n - i) }, () => open(url, token, hostId)));
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
      await connect(cmd.url, cmd.token, cmd.hostId, cmd.subscribers);
      process.send!({ type: 'connected' });
    } else if (cmd.type === 'stage-start') {
      received = 0;
      seen = 0;
      maxDropped = 0;
      latencies = [];
      process.send!({ type: 'stage-started' });
    } else if (cmd.type === 'stage-end') {
      const sorted = Float64Array.from(latencies).sort();
      process.send!({ type: 'stage', received, p50: percentile(Array.from(sorted), 50), p99: percentile(Array.from(sorted), 99), maxDropped, rss: process.memoryUsage().rss });
    } else if (cmd.type === 'exit') {
      await Promise.allSettled(clients.map((c) => c.dispose()));
      process.exit(0);
    }
  })().catch((e: unknown) => {
    process.send!({ type: 'error', message: (e as Error).message ?? String(e) });
  });
});
