// A light probe run as its own process (child_process.fork) by bench/abuse-burst.ts: one
// `GET /healthz` at a time, a new one 20 ms after each answer, each timed; the parent marks
// phases and reads each phase's latencies.
import { request } from 'node:http';

/** What the parent sends. */
type Command = { type: 'start'; url: string } | { type: 'phase'; name: string } | { type: 'report' } | { type: 'exit' };

const PAUSE_MS = 20;
/** One answered probe: its latency, the ms until connected, its local port, and when (ms since the epoch, the machine's clock) it connected and read the end of its answer. */
export interface Probed {
  ms: number;
  connectMs: number;
  port: number;
  connectedAt: number;
  endedAt: number;
}

/** A phase's probes: each answered one's latency and the part of it until the TCP connection was made (the rest is the gateway's answer), each answered probe, and the failures. */
const phases = new Map<string, { latencies: number[]; connects: number[]; probes: Probed[]; failures: number }>();
const epoch = () => performance.timeOrigin + performance.now();
let phase = 'idle';
let running = false;

/** One `GET /healthz` on a fresh connection (as a load balancer's check), or undefined if it failed or did not answer 200. */
function probe(url: string): Promise<Probed | undefined> {
  return new Promise((resolve) => {
    const started = performance.now();
    let connectMs = NaN;
    let connectedAt = NaN;
    let port = 0;
    const req = request(`${url}/healthz`, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? { ms: performance.now() - started, connectMs, port, connectedAt, endedAt: epoch() } : undefined));
    });
    req.on('socket', (socket) =>
      socket.once('connect', () => {
        connectMs = performance.now() - started;
        connectedAt = epoch();
        port = socket.localPort ?? 0;
      }),
    );
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

async function loop(url: string): Promise<void> {
  while (running) {
    const name = phase;
    const answered = await probe(url);
    let p = phases.get(name);
    if (!p) phases.set(name, (p = { latencies: [], connects: [], probes: [], failures: 0 }));
    if (answered === undefined) p.failures++;
    else {
      p.latencies.push(answered.ms);
      p.connects.push(answered.connectMs);
      p.probes.push(answered);
    }
    await new Promise((r) => setTimeout(r, PAUSE_MS));
  }
}

process.on('message', (raw) => {
  const cmd = raw as Command;
  if (cmd.type === 'start') {
    running = true;
    void loop(cmd.url);
    process.send!({ type: 'started' });
  } else if (cmd.type === 'phase') {
    phase = cmd.name;
    process.send!({ type: 'phased' });
  } else if (cmd.type === 'report') {
    process.send!({ type: 'report', phases: Object.fromEntries(phases) });
  } else if (cmd.type === 'exit') {
    running = false;
    process.exit(0);
  }
});
