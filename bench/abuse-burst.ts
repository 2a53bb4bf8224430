// The anonymous socket burst of issue 21: N sockets without a token (default 500), each from its
// own address, all at once, each sending M subscriptions (default 20) once acknowledged, against
// one gateway with its default limits (this process, logging JSON at info to a file as a served
// gateway does). The burst runs in one child process, and a light /healthz probe in another (one
// request at a time on a fresh connection). Prints /healthz p50/p99/max idle (baseline, same run)
// and during the burst, their ratio, the gateway's event loop delay in each phase, the slowest
// probes split (connecting, waiting to be accepted and the connections accepted meanwhile and in how
// many turns of its event loop, in the gateway, back to the probe), how the sockets
// were answered, the gateway's CPU time per burst (the figure other load on the machine does not
// change), the log lines the burst cost, and the load average. Goal: /healthz under 1 s.
// Usage: npm run bench:burst [-- --sockets=500] [--subscriptions=20] [--rounds=3] [--idleMs=3000]
//        [--holdMs=2000] [--sameAddress] [--healthPort] (--healthPort: a health port of its own
//        too, RSP_HEALTH_PORT, probed by a second probe the same way; DATABASE_URL: PostgreSQL instead of PGlite; RSP_MAX_*,
//        RSP_RATE_*, RSP_WS_*: other limits than the defaults; BENCH_ACCEPT_HANDLES=n: n listening
//        sockets on the port instead of ACCEPT_HANDLES; BENCH_CPU_PROFILE=path: one more burst, not
//        counted, under the gateway's CPU profiler)
// First, as rsp's CLI does: graphql-js in production mode unless NODE_ENV is set (measured as served).
import '../gateway/server/graphql-production';
import { fork, ChildProcess } from 'node:child_process';
import { subscribe } from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import pino from 'pino';
import { loadConfig } from '../gateway/config/config';
import { ACCEPT_HANDLES } from '../gateway/server/accept-handles';
import { startGateway } from '../gateway/server/gateway';
import type { BurstOutcome } from './abuse-burst-clients';
import type { Probed } from './healthz-probe';
import { withCpuProfile } from './cpu-profile';
import { graphqlCaller } from './graphql-caller';

const GOAL_MS = 1000;

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string | undefined]));
const SOCKETS = Number(args.sockets ?? 500);
const SUBSCRIPTIONS = Number(args.subscriptions ?? 20);
const ROUNDS = Math.max(1, Number(args.rounds ?? 3));
const IDLE_MS = Number(args.idleMs ?? 3000);
const HOLD_MS = Number(args.holdMs ?? 2000);
const SAME_ADDRESS = 'sameAddress' in args;
const HEALTH_PORT = 'healthPort' in args;

/** Sends `message` to `child` and resolves with its first answer of type `answer`. */
function ask<T>(child: ChildProcess, message: object, answer: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const on = (m: { type: string; message?: string }) => {
      if (m.type !== answer && m.type !== 'error') return;
      child.off('message', on);
      if (m.type === 'error') reject(new Error(m.message));
      else resolve(m as T);
    };
    child.on('message', on);
    child.send(message);
  });
}

/** The p-quantile of sorted values. */
function at(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : NaN;
}

/** This process's read and write system calls so far (Linux: /proc/self/io; NaN elsewhere): a figure other load on the machine does not change. */
async function systemCalls(): Promise<{ reads: number; writes: number }> {
  const io = await readFile('/proc/self/io', 'utf8').catch(() => '');
  const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)`, 'm').exec(io)?.[1] ?? NaN);
  return { reads: field('syscr'), writes: field('syscw') };
}

/** Starts the attacker's process (bench/abuse-burst-clients.ts). */
async function spawnAttacker(): Promise<ChildProcess> {
  const attacker = fork(join(__dirname, 'abuse-burst-clients.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise((r) => attacker.once('spawn', r));
  return attacker;
}

/** Ends the attacker's process (its sockets close with it). */
async function stopAttacker(attacker: ChildProcess): Promise<void> {
  const exited = new Promise((r) => attacker.once('exit', r));
  attacker.send({ type: 'exit' });
  await exited;
}

/** The event loop's thread's time on a CPU and time runnable but waiting for one, ms (Linux: its /proc schedstat; NaN elsewhere): how much of a burst's time the machine's other load took. */
async function schedulerTimes(): Promise<{ onCpu: number; waiting: number }> {
  // The main thread's own (the file is read on a thread of libuv's pool: not /proc/thread-self).
  const [onCpu, waiting] = (await readFile(`/proc/${process.pid}/task/${process.pid}/schedstat`, 'utf8').catch(() => '')).split(' ').map(Number);
  return { onCpu: (onCpu ?? NaN) / 1e6, waiting: (waiting ?? NaN) / 1e6 };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ms = (v: number) => `${v.toFixed(1)} ms`;

async function main(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'rsp-bench-burst-'));
  const logFile = join(dataDir, 'gateway.log');
  // The limits are the defaults unless RSP_MAX_*, RSP_RATE_* or RSP_WS_* are set (to compare settings).
  const limits = Object.fromEntries(Object.entries(process.env).filter(([k]) => /^RSP_(MAX|RATE|WS)_/.test(k)));
  const env = { PORT: '0', RSP_DATA_DIR: dataDir, RSP_DRIVERS: 'fake', RSP_METRICS_INTERVAL_MS: '0', LOG_LEVEL: 'info', LOG_FORMAT: 'json', ...(HEALTH_PORT ? { RSP_HEALTH_PORT: '0' } : {}), ...limits, ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}) };
  const config = loadConfig(env);
  const logger = pino({ name: 'rsp', level: 'info', base: { pid: process.pid } }, pino.destination({ dest: logFile, sync: true }));
  const acceptHandles = process.env.BENCH_ACCEPT_HANDLES ? Number(process.env.BENCH_ACCEPT_HANDLES) : ACCEPT_HANDLES;
  const gateway = await startGateway(config, { logger, setup: false, acceptHandles });
  const probe = fork(join(__dirname, 'healthz-probe.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const healthProbe = gateway.healthUrl ? fork(join(__dirname, 'healthz-probe.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }) : undefined;
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const delays: Record<string, number> = {};
  // Where each /healthz spent its time on the gateway's side: when its connection was accepted and its answer written (ms since the epoch, by the probe's client port).
  const epoch = () => performance.timeOrigin + performance.now();
  const accepted = new WeakMap<Socket, number>();
  const answered = new Map<number, Array<{ acceptedAt: number; answeredAt: number }>>();
  // When each connection was accepted, in order, and in which turn of the event loop (counted by a setImmediate after a turn's first acceptance): how many were accepted while a slow probe waited, in how many turns.
  const acceptances: Array<{ at: number; turn: number }> = [];
  let turn = 0;
  let turnCounted = false;
  subscribe('net.server.socket', (m) => {
    const at = epoch();
    accepted.set((m as { socket: Socket }).socket, at);
    acceptances.push({ at, turn });
    if (!turnCounted) {
      turnCounted = true;
      setImmediate(() => {
        turn++;
        turnCounted = false;
      });
    }
  });
  subscribe('http.server.response.finish', (m) => {
    const { request } = m as { request: IncomingMessage };
    const at = accepted.get(request.socket as Socket);
    if (request.url === '/healthz' && at !== undefined) answered.set(request.socket.remotePort ?? 0, [...(answered.get(request.socket.remotePort ?? 0) ?? []), { acceptedAt: at, answeredAt: epoch() }]);
  });
  const phase = async (name: string) => {
    await ask(probe, { type: 'phase', name }, 'phased');
    if (healthProbe) await ask(healthProbe, { type: 'phase', name }, 'phased');
    loop.reset();
  };
  const endPhase = (name: string) => (delays[name] = Math.max(delays[name] ?? 0, loop.max / 1e6));
  const outcomes: Array<BurstOutcome & { cpuMs: number; reads: number; writes: number; onCpuMs: number; waitingMs: number; wallMs: number }> = [];
  let logLines = 0;
  try {
    process.stdout.write(`Anonymous socket burst: ${SOCKETS} sockets × ${SUBSCRIPTIONS} subscriptions, ${ROUNDS} round(s), ${SAME_ADDRESS ? 'one address' : 'one address per socket'}, ${config.databaseUrl ? 'PostgreSQL' : 'PGlite'}; caps: ${config.maxAnonymousSockets} sockets without a token (${config.maxAnonymousSocketsPerAddress} per address), ${config.maxSocketsPerAddress} open per address, ${config.rateSocketsPerMinute} new a minute per address; ${acceptHandles} listening socket(s) on the port\n`);
    await ask(probe, { type: 'start', url: gateway.url }, 'started');
    if (healthProbe) await ask(healthProbe, { type: 'start', url: gateway.healthUrl }, 'started');
    for (let round = 0; round < ROUNDS; round++) {
      await phase('idle');
      const idleBefore = process.cpuUsage();
      const idleStarted = performance.now();
      await sleep(IDLE_MS);
      endPhase('idle');
      const idleCpu = process.cpuUsage(idleBefore);
      const idleCpuPerSecond = (idleCpu.user + idleCpu.system) / (performance.now() - idleStarted);
      const attacker = await spawnAttacker();
      const logBefore = (await readFile(logFile, 'utf8')).split('\n').length;
      await phase('burst');
      const cpuBefore = process.cpuUsage();
      const callsBefore = await systemCalls();
      const schedBefore = await schedulerTimes();
      const burstStarted = performance.now();
      const { outcome } = await ask<{ outcome: BurstOutcome }>(attacker, { type: 'burst', url: gateway.websocketUrl, sockets: SOCKETS, subscriptions: SUBSCRIPTIONS, sameAddress: SAME_ADDRESS }, 'burst');
      // The admitted sockets stay open a while.
      await sleep(HOLD_MS);
      endPhase('burst');
      const cpu = process.cpuUsage(cpuBefore);
      const callsAfter = await systemCalls();
      const schedAfter = await schedulerTimes();
      // Less what the gateway spends idle (the probe's requests, timers) in as long.
      outcomes.push({ ...outcome, cpuMs: (cpu.user + cpu.system) / 1000 - idleCpuPerSecond * ((performance.now() - burstStarted) / 1000), reads: callsAfter.reads - callsBefore.reads, writes: callsAfter.writes - callsBefore.writes, onCpuMs: schedAfter.onCpu - schedBefore.onCpu, waitingMs: schedAfter.waiting - schedBefore.waiting, wallMs: performance.now() - burstStarted });
      logLines += (await readFile(logFile, 'utf8')).split('\n').length - logBefore;
      await stopAttacker(attacker);
    }
    if (process.env.BENCH_CPU_PROFILE) {
      // One more burst under the profiler, not counted in the figures.
      await sleep(IDLE_MS);
      const attacker = await spawnAttacker();
      await withCpuProfile(process.env.BENCH_CPU_PROFILE, async () => {
        await ask(attacker, { type: 'burst', url: gateway.websocketUrl, sockets: SOCKETS, subscriptions: SUBSCRIPTIONS, sameAddress: SAME_ADDRESS }, 'burst');
        await sleep(HOLD_MS);
      });
      await stopAttacker(attacker);
    }
    await phase('after');
    const started = performance.now();
    const served = await graphqlCaller(gateway.graphqlUrl, gateway.bootstrapToken!)('{ viewer { role } }');
    const queryMs = performance.now() - started;
    type Report = { phases: Record<string, { latencies: number[]; connects: number[]; probes: Probed[]; failures: number }> };
    const { phases } = await ask<Report>(probe, { type: 'report' }, 'report');

    process.stdout.write('  phase   probes  failed   p50 ms   p99 ms   max ms   gateway event loop max delay\n');
    const figures: Record<string, { p50: number; p99: number; max: number }> = {};
    for (const name of ['idle', 'burst']) {
      const p = phases[name] ?? { latencies: [], connects: [], probes: [], failures: 0 };
      const sorted = [...p.latencies].sort((a, b) => a - b);
      figures[name] = { p50: at(sorted, 0.5), p99: at(sorted, 0.99), max: sorted[sorted.length - 1] ?? NaN };
      const f = figures[name]!;
      process.stdout.write(`  ${name.padEnd(6)} ${String(sorted.length).padStart(7)} ${String(p.failures).padStart(7)} ${f.p50.toFixed(1).padStart(8)} ${f.p99.toFixed(1).padStart(8)} ${f.max.toFixed(1).padStart(8)}   ${ms(delays[name] ?? NaN)}\n`);
      // The slowest probes split: connecting (the kernel), connected until the gateway accepted, accepted until answered (the gateway's event loop), answered until the probe read it (the probe's process).
      const slowest = [...p.probes].sort((a, b) => b.ms - a.ms).slice(0, 3);
      const parts = slowest.map((s) => {
        // A client port is used again later: the answer to this probe is the first accepted after it connected (the clocks agree within a few ms).
        const g = answered.get(s.port)?.find((a) => a.acceptedAt >= s.connectedAt - 50);
        if (!g) return `${s.ms.toFixed(0)} = ?`;
        const before = acceptances.filter((a) => a.at > s.connectedAt && a.at < g.acceptedAt);
        const turns = new Set(before.map((a) => a.turn)).size;
        return `${s.ms.toFixed(0)} = ${s.connectMs.toFixed(0)} + ${(g.acceptedAt - s.connectedAt).toFixed(0)} (${before.length} accepted meanwhile, in ${turns} turns) + ${(g.answeredAt - g.acceptedAt).toFixed(0)} + ${(s.endedAt - g.answeredAt).toFixed(0)}`;
      });
      process.stdout.write(`    slowest (ms = connecting + until accepted + accepted until answered + answer until read): ${parts.join('; ')}\n`);
    }
    if (healthProbe) {
      // The health port's probe: the same checks on a port no client of the gateway's port queues before.
      const health = (await ask<Report>(healthProbe, { type: 'report' }, 'report')).phases;
      for (const name of ['idle', 'burst']) {
        const p = health[name] ?? { latencies: [], connects: [], probes: [], failures: 0 };
        const sorted = [...p.latencies].sort((a, b) => a - b);
        process.stdout.write(`  health port, ${name}: ${sorted.length} probes, ${p.failures} failed, p50 ${at(sorted, 0.5).toFixed(1)} ms, p99 ${at(sorted, 0.99).toFixed(1)} ms, max ${(sorted[sorted.length - 1] ?? NaN).toFixed(1)} ms\n`);
      }
    }
    const { idle, burst } = figures as { idle: { p50: number; p99: number; max: number }; burst: { p50: number; p99: number; max: number } };
    process.stdout.write(`  burst / idle: p50 ${(burst.p50 / idle.p50).toFixed(1)}×, p99 ${(burst.p99 / idle.p99).toFixed(1)}×, max ${(burst.max / idle.max).toFixed(1)}×\n`);
    for (const [i, o] of outcomes.entries()) {
      process.stdout.write(`  round ${i + 1}: ${o.admitted} admitted, refused at the upgrade ${JSON.stringify(o.refusedAtUpgrade)}, closed after the handshake ${JSON.stringify(o.closed)}, failed ${o.failed}; subscriptions answered ${JSON.stringify(o.answers)}; all settled in ${ms(o.ms)}; gateway CPU ${ms(o.cpuMs)} above idle, ${o.reads} read and ${o.writes} write system calls (with the probe's and the idle work's); its event loop's thread ran ${ms(o.onCpuMs)} and waited for a CPU ${ms(o.waitingMs)} while runnable, in the burst's ${ms(o.wallMs)}\n`);
    }
    process.stdout.write(`  gateway log lines during the bursts: ${logLines}\n`);
    process.stdout.write(`  after the bursts, an authenticated query: ${JSON.stringify(served)} in ${ms(queryMs)}\n`);
    process.stdout.write(`  /healthz max during the burst ${ms(burst.max)} — goal < ${GOAL_MS} ms: ${burst.max < GOAL_MS ? 'meets goal' : 'ABOVE goal'}\n`);
    process.stdout.write(`  load average (1, 5, 15 min): ${loadavg().map((l) => l.toFixed(2)).join(', ')} on ${cpus().length} cores\n`);
  } finally {
    loop.disable();
    probe.send({ type: 'exit' });
    healthProbe?.send({ type: 'exit' });
    await gateway.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
