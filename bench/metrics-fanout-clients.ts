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

async function connect(url: string, token: string, hostId: string, n: number): Promise<void> {
  let subscribed = 0;
  await new Promise<void>((resolve, reject) => {
    for (let i = 0; i < n; i++) {
      const client = createClient({ url, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${token}` }, retryAttempts: 0, lazy: false, onNonLazyError: reject });
      clients.push(client);
      client.on('connected', () => {
        subscribed += 1;
        if (subscribed === n) resolve();
      });
      client.subscribe<{ hostMetrics: { at: string; dropped: number } }>(
        { query: 'subscription ($h: ID!) { hostMetrics(hostId: $h) { at cpu { usage } memory { usedBytes totalBytes } dropped } }', variables: { h: hostId } },
        { next: ({ data }) => data && onEvent(data.hostMetrics.at, data.hostMetrics.dropped), error: reject, complete: () => undefined },
      );
    }
  });
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
