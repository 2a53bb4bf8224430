/**
 * bench/agents: host agents on other machines (`rsp agent` over WebSocket), with default settings
 * (RSP_HEARTBEAT_MS, RSP_HOST_DOWN_AFTER_MS, embedded PGlite unless DATABASE_URL is set). Three parts:
 *
 * - lifecycle: create + start + exec + stop + destroy through GraphQL on a host served by a real
 *   `rsp agent` process (WebSocket on 127.0.0.1) against the same on the gateway's in-process agent,
 *   same engine (Docker when dockerd answers, else LXC), alternating in one run; ratio remote /
 *   in-process, goal ≤ 1.1. Also the round trip of one bare call (hello) each way.
 * - swarm: BENCH_AGENTS (1,000) simulated agents, many WebSocket connections in a few child
 *   processes (bench/agents-swarm), each with the real handshake and credential, its facts at
 *   connect and its heartbeat: the gateway's CPU over a window as % of one core (goal ≤ 10 %) —
 *   its own process's, the simulators' measured apart, each pinned to its own cores with `taskset`
 *   when the machine has two or more — against the same gateway idle with no agent, with the load
 *   average beside; each window once every host is UP (none DOWN or recovering after a slow reconnection); the time for all to be connected again after a gateway restart (goal ≤ 30 s),
 *   against all dropping their connections at once while the gateway stays up; and where this
 *   design stops scaling, from the CPU one beat costs.
 * - failover: two `rsp agent` processes on Docker; A's link is cut (bytes dropped both ways by a
 *   relay, no FIN): from its host declared DOWN to the replica running on B (goal ≤ 5 s), as the
 *   operation measures it (from the DOWN mark written) and as a client polling the API sees it; the
 *   detection before it (cut → DOWN) apart; baseline `docker stop` + `docker start` of a container
 *   of the same image.
 *
 *   npm run bench:agents -- [lifecycle] [swarm] [failover]     (default: all three; BENCH_N runs)
 *   BENCH_CPU_PROFILE=/tmp/swarm.cpuprofile npm run bench:agents -- swarm   (CPU profiles of the swarm's steady windows, before and after the restart)
 *   BENCH_SWARM_SERIES=3 npm run bench:agents -- swarm   (3 more windows after each measured one, printed as they come: whether a window settles)
 *
 * Each swarm window also prints where the gateway's CPU went: user and system time, beats taken per
 * turn of the event loop, the main thread's sleeps (wake-ups) and preemptions, SQL statements a
 * second and the time in them (the costliest with their mean), the batches of the beat statement
 * and their size, the `host` table's dead rows at the start, garbage collection and the heap.
 */
// First, as rsp's CLI does: graphql-js in production mode unless NODE_ENV is set (measured as served).
import '../gateway/server/graphql-production';
import { execFile, fork, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector';
import { constants, performance as nodePerformance, PerformanceObserver } from 'node:perf_hooks';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createClient } from 'graphql-ws';
import pino from 'pino';
import type { AfterQueryEvent, BeforeQueryEvent, DataSource, EntitySubscriberInterface } from 'typeorm';
import WebSocket from 'ws';
import { createDockerDriver } from '../drivers/docker';
import type { HostAgent } from '../gateway/agent/host-agent';
import type { HeartbeatReceiver } from '../gateway/agent/remote/upstream-dispatcher';
import { loadConfig } from '../gateway/config/config';
import { startGateway, type Gateway } from '../gateway/server/gateway';
import { buildBusyboxRootfs, IDLE_COMMAND, importBusyboxImage } from '../test/fixtures/busybox-rootfs';
import { StatementCounter } from '../gateway/persistence/statement-counter';
import { until } from '../test/helpers/until';
import type { SwarmCommand, SwarmReport } from './agents-swarm';
import { graphqlCaller } from './graphql-caller';
import { LinkCutter } from './link-cutter';

const run = promisify(execFile);
const RSP = join(__dirname, '..', 'gateway', 'cli', 'rsp.js');
const silent = pino({ level: 'silent' });
const out = (lines: string[]): void => void process.stdout.write(`${lines.join('\n')}\n`);
const met = (ok: boolean) => (ok ? 'met' : 'NOT met');

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The gateway's settings for a part: defaults, silent logs, PGlite in `dataDir` unless DATABASE_URL is set. */
function gatewayEnv(dataDir: string, extra: Record<string, string>): Record<string, string> {
  return { PORT: '0', RSP_DATA_DIR: dataDir, LOG_LEVEL: 'silent', LOG_FORMAT: 'json', ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}), ...extra };
}

/** A group and a site to register hosts in, and a way to register them and images. */
async function scaffold(gateway: Gateway) {
  const token = gateway.bootstrapToken!;
  const gql = graphqlCaller(gateway.graphqlUrl, token);
  const group = (await gql('mutation { createGroup(input: { slug: "bench", name: "bench" }) { id } }')).createGroup.id as string;
  const site = (await gql('mutation ($g: ID!) { createSite(input: { name: "bench", ownerGroupId: $g }) { id } }', { g: group })).createSite.id as string;
  const host = async (hostname: string, agent: string, drivers?: string[]) => (await gql('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: site, ownerGroupId: group, hostname, agent, ...(drivers ? { drivers } : {}) } })).createHost.id as string;
  const joinToken = async (agentId: string) => (await gql('mutation ($a: String!) { createAgentJoinToken(agentId: $a, ttlSeconds: 3600) { token } }', { a: agentId })).createAgentJoinToken.token as string;
  const image = async (technology: string) => {
    const id = (await gql('mutation ($g: ID!, $t: String!) { registerImage(input: { vendorGroupId: $g, name: "busybox", version: "1", technology: $t }) { id } }', { g: group, t: technology })).registerImage.id as string;
    const up = await fetch(`${gateway.url}/images/${id}/content`, { method: 'PUT', headers: { authorization: `Bearer ${token}` }, body: new Uint8Array(await readFile(await buildBusyboxRootfs())) });
    if (!up.ok) throw new Error(`image upload: ${up.status} ${await up.text()}`);
    return id;
  };
  const settle = async (operationId: string) => {
    const op = await gateway.services.operations.settled(operationId);
    if (op.state !== 'SUCCEEDED') throw new Error(`operation ${op.kind} ${op.state}: ${op.errorMessage}`);
    return op;
  };
  return { gql, token, group, site, host, joinToken, image, settle };
}

/** A real `rsp agent` process dialling `gatewayUrl` with a join token (`extra`: more options); resolves once the gateway has it in its agent link. */
async function startRemoteAgent(gateway: Gateway, gatewayUrl: string, agentId: string, token: string, drivers: string, extra: string[] = []): Promise<{ child: ChildProcess; dataDir: string; stop(): Promise<void> }> {
  const dataDir = await mkdtemp(join(tmpdir(), `rsp-bench-agent-${agentId}-`));
  const child = spawn(process.execPath, [RSP, 'agent', '--gateway', gatewayUrl, '--token', token, '--drivers', drivers, '--data-dir', dataDir, ...extra], { env: { ...process.env, LOG_LEVEL: 'warn', LOG_FORMAT: 'json' }, stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await until(`agent ${agentId} connected`, () => (gateway.agents.get(agentId) ? true : undefined), 60_000, 25);
  return {
    child,
    dataDir,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Docker when dockerd answers, else LXC. */
async function pickEngine(dir: string): Promise<'docker' | 'lxc'> {
  const probe = await createDockerDriver({ stateDir: join(dir, 'probe') }).probe();
  return probe.available ? 'docker' : 'lxc';
}

async function lifecycle(n: number): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'rsp-bench-agents-'));
  const engine = await pickEngine(dir);
  const gateway = await startGateway(loadConfig(gatewayEnv(dir, { RSP_DRIVERS: engine })), { logger: silent, setup: false });
  const s = await scaffold(gateway);
  const remote = await startRemoteAgent(gateway, gateway.url, 'bench-remote', await s.joinToken('bench-remote'), engine);
  try {
    const localHost = await s.host('bench-local', 'local');
    const remoteHost = await s.host('bench-remote', 'bench-remote');
    const image = await s.image(engine);
    const STEPS = ['create', 'start', 'exec', 'stop', 'destroy'] as const;
    /** One environment's lifecycle; the time of each step (ms). */
    const cycle = async (hostId: string, name: string): Promise<number[]> => {
      const times: number[] = [];
      let t = performance.now();
      const lap = () => {
        const now = performance.now();
        times.push(now - t);
        t = now;
      };
      const created = (await s.gql('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: s.group, hostId, imageId: image, name, network: 'none', config: { A: '1' }, command: IDLE_COMMAND } })).createEnvironment;
      await s.settle(created.operation.id);
      lap();
      const id = created.environment.id as string;
      await s.settle((await s.gql('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id })).startEnvironment.id);
      lap();
      const exec = (await s.gql('mutation ($id: ID!) { execEnvironment(id: $id, command: ["echo", "ok"]) { exitCode stdout } }', { id })).execEnvironment;
      if (exec.exitCode !== 0 || exec.stdout !== 'ok\n') throw new Error(`exec: ${JSON.stringify(exec)}`);
      lap();
      for (const step of ['stopEnvironment', 'destroyEnvironment']) {
        await s.settle((await s.gql(`mutation ($id: ID!) { ${step}(id: $id) { id } }`, { id }))[step].id);
        lap();
      }
      return times;
    };
    const tag = process.pid.toString(36);
    // Warm-up, not counted: the remote agent fetches the image's chunks once and imports it.
    await cycle(localHost, `warm-l-${tag}`);
    await cycle(remoteHost, `warm-r-${tag}`);
    const localMs: number[][] = [];
    const remoteMs: number[][] = [];
    for (let i = 0; i < n; i++) {
      // ABBA: each path goes first every other run, so drift hits both alike.
      const order: Array<[string, number[][], string]> = i % 2 ? [[remoteHost, remoteMs, 'r'], [localHost, localMs, 'l']] : [[localHost, localMs, 'l'], [remoteHost, remoteMs, 'r']];
      for (const [host, times, letter] of order) times.push(await cycle(host, `b-${letter}${i}-${tag}`));
    }
    const roundTrip = async (agent: HostAgent) => {
      for (let i = 0; i < 50; i++) await agent.hello({});
      const t = performance.now();
      for (let i = 0; i < 1000; i++) await agent.hello({});
      return (performance.now() - t) / 1000;
    };
    const callLocal = await roundTrip(gateway.agents.get('local')!);
    const callRemote = await roundTrip(gateway.agents.get('bench-remote')!);
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const totals = (runs: number[][]) => runs.map(sum);
    const remoteTotal = sum(totals(remoteMs));
    const localTotal = sum(totals(localMs));
    const ratio = remoteTotal / localTotal;
    const steps = (runs: number[][]) => STEPS.map((step, k) => `${step} ${median(runs.map((r) => r[k]!)).toFixed(0)}`).join(', ');
    out([
      `bench/agents lifecycle — ${engine}, busybox, create+start+exec+stop+destroy × ${n} each, alternating, through GraphQL (operations awaited)`,
      `  remote agent (rsp agent process, WebSocket): ${remoteTotal.toFixed(0)} ms total, ${(remoteTotal / n).toFixed(0)} ms per environment (median ${median(totals(remoteMs)).toFixed(0)}; steps ${steps(remoteMs)})`,
      `  in-process agent (baseline):                 ${localTotal.toFixed(0)} ms total, ${(localTotal / n).toFixed(0)} ms per environment (median ${median(totals(localMs)).toFixed(0)}; steps ${steps(localMs)})`,
      `  ratio remote / in-process:                   ${ratio.toFixed(3)}×   goal ≤ 1.10×: ${met(ratio <= 1.1)}`,
      `  one bare call (hello) round trip:            remote ${(callRemote * 1000).toFixed(0)} µs, in-process ${(callLocal * 1000).toFixed(1)} µs`,
      '',
    ]);
  } finally {
    await remote.stop();
    await gateway.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** A free TCP port on 127.0.0.1 (the swarm's gateway comes back on the same one after its restart). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function ask(child: ChildProcess, command: SwarmCommand, answer: SwarmReport['type']): Promise<SwarmReport> {
  return new Promise((resolve) => {
    const on = (report: SwarmReport) => {
      if (report.type !== answer) return;
      child.off('message', on);
      resolve(report);
    };
    child.on('message', on);
    child.send(command);
  });
}

/** CPU of one window: the gateway's process and the simulators' (all of them, summed), as shares of one core; the 1-minute load average at its end. */
interface CpuWindow {
  gateway: number;
  /** The gateway's user and system CPU apart (shares of one core). */
  gatewayUser: number;
  gatewaySystem: number;
  simulators: number;
  load: number;
  /** What the gateway's process did meanwhile (with a data source to watch): SQL statements a second, the beat statement's batches, GC, event-loop use. */
  work?: WindowWork;
}

/** Where a window's gateway CPU went, beyond the total: statements, batches of beats, garbage collection, the event loop. */
interface WindowWork {
  statementsPerSecond: number;
  /** Time in statements (wall time from sending to the answer, PGlite's own work on this thread included), ms a second. */
  sqlMsPerSecond: number;
  /** The statements that took the most time, with how many a second and their mean time (ms). */
  top: Array<{ text: string; perSecond: number; meanMs: number }>;
  /** Dead row versions in the `host` table when the window began (its live ones beside). */
  hostRows?: { live: number; dead: number };
  /** Batches of beats written (one statement each) a second, and their mean size (agents). */
  beatBatchesPerSecond: number;
  beatBatchSize: number;
  /** Time in garbage collection, as a share of the window, and how many collections (major apart). */
  gc: number;
  gcCount: number;
  majorGcCount: number;
  /** Event-loop utilisation over the window (0–1). */
  elu: number;
  /** Heap used at the end of the window (MB). */
  heapMb: number;
  /** Beats received a second, and how many the gateway took in one turn of its event loop (mean). */
  beatsPerSecond: number;
  beatsPerTurn: number;
  /** Times the gateway's main thread went to sleep (voluntary context switches: its event loop's wake-ups) and was preempted, a second. */
  wakeUpsPerSecond: number;
  preemptedPerSecond: number;
}

/** The voluntary and involuntary context switches of this process's main thread so far (Linux), or zeros. */
function contextSwitches(): { voluntary: number; involuntary: number } {
  try {
    const status = readFileSync(`/proc/self/task/${process.pid}/status`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
    return { voluntary: field('voluntary_ctxt_switches'), involuntary: field('nonvoluntary_ctxt_switches') };
  } catch {
    return { voluntary: 0, involuntary: 0 };
  }
}

/** The live and dead row versions of `table`, as the statistics collector counts them. */
async function deadRows(dataSource: DataSource, table: string): Promise<{ live: number; dead: number } | undefined> {
  const [row] = (await dataSource.query('SELECT n_live_tup AS live, n_dead_tup AS dead FROM pg_stat_user_tables WHERE relname = $1', [table])) as Array<{ live: string; dead: string }>;
  return row ? { live: Number(row.live), dead: Number(row.dead) } : undefined;
}

/** One line of a window's work. */
function describeWork(w: WindowWork): string {
  const top = w.top.map((s) => `${s.perSecond.toFixed(1)}/s × ${s.meanMs.toFixed(1)} ms ${s.text}`).join(' | ');
  return `${w.beatsPerSecond.toFixed(0)} beats/s, ${w.beatsPerTurn.toFixed(1)} a turn of the event loop; main thread asleep ${w.wakeUpsPerSecond.toFixed(0)}/s, preempted ${w.preemptedPerSecond.toFixed(0)}/s; ${w.statementsPerSecond.toFixed(1)} statements/s, ${w.sqlMsPerSecond.toFixed(1)} ms/s in them${w.hostRows ? ` (host rows ${w.hostRows.live} live, ${w.hostRows.dead} dead at the start)` : ''} (beat batches ${w.beatBatchesPerSecond.toFixed(2)}/s of ${w.beatBatchSize.toFixed(0)} agents); GC ${(w.gc * 100).toFixed(2)} % (${w.gcCount}, ${w.majorGcCount} major); event loop ${(w.elu * 100).toFixed(1)} % busy; heap ${w.heapMb.toFixed(0)} MB; top: ${top}`;
}

/** Watches a data source's statements and the process's garbage collection over a window (see `WindowWork`). */
class WorkProbe implements EntitySubscriberInterface {
  private readonly counts = new Map<string, number>();
  private readonly ms = new Map<string, number>();
  private beatBatches = 0;
  private beatAgents = 0;
  private gcMs = 0;
  private gcCount = 0;
  private majorGcCount = 0;
  private readonly observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      this.gcMs += entry.duration;
      this.gcCount += 1;
      if ((entry as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) this.majorGcCount += 1;
    }
  });
  private readonly elu = nodePerformance.eventLoopUtilization();
  private readonly t = performance.now();
  private readonly switches = contextSwitches();
  private beats = 0;
  private turns = 0;
  private inTurn = false;
  private readonly receive: HeartbeatReceiver['receiveHeartbeat'];

  constructor(
    private readonly dataSource: DataSource,
    private readonly health: HeartbeatReceiver,
  ) {
    dataSource.subscribers.push(this);
    this.observer.observe({ entryTypes: ['gc'] });
    // The beats, counted on their way to the health service; those of one turn of the event loop end at its check phase.
    this.receive = health.receiveHeartbeat;
    health.receiveHeartbeat = (agentId, beat) => {
      this.beats += 1;
      if (!this.inTurn) {
        this.inTurn = true;
        this.turns += 1;
        setImmediate(() => (this.inTurn = false));
      }
      return this.receive.call(health, agentId, beat);
    };
  }

  afterQuery(event: AfterQueryEvent): void {
    this.ms.set(event.query, (this.ms.get(event.query) ?? 0) + (event.executionTime ?? 0));
  }

  beforeQuery(event: BeforeQueryEvent): void {
    this.counts.set(event.query, (this.counts.get(event.query) ?? 0) + 1);
    if (event.query.startsWith('WITH beat AS')) {
      this.beatBatches += 1;
      this.beatAgents += ((event.parameters as unknown[] | undefined)?.[0] as unknown[] | undefined)?.length ?? 0;
    }
  }

  stop(): WindowWork {
    const seconds = (performance.now() - this.t) / 1000;
    const at = this.dataSource.subscribers.indexOf(this);
    if (at >= 0) this.dataSource.subscribers.splice(at, 1);
    this.observer.disconnect();
    this.health.receiveHeartbeat = this.receive;
    const switches = contextSwitches();
    const total = [...this.counts.values()].reduce((a, b) => a + b, 0);
    const ms = (text: string) => this.ms.get(text) ?? 0;
    const top = [...this.counts].sort((a, b) => ms(b[0]) - ms(a[0])).slice(0, 4).map(([text, n]) => ({ text: text.replace(/\s+/g, ' ').slice(0, 60), perSecond: n / seconds, meanMs: ms(text) / n }));
    return {
      statementsPerSecond: total / seconds,
      sqlMsPerSecond: [...this.ms.values()].reduce((a, b) => a + b, 0) / seconds,
      top,
      beatBatchesPerSecond: this.beatBatches / seconds,
      beatBatchSize: this.beatBatches ? this.beatAgents / this.beatBatches : 0,
      gc: this.gcMs / 1000 / seconds,
      gcCount: this.gcCount,
      majorGcCount: this.majorGcCount,
      elu: nodePerformance.eventLoopUtilization(this.elu).utilization,
      heapMb: process.memoryUsage().heapUsed / 1e6,
      beatsPerSecond: this.beats / seconds,
      beatsPerTurn: this.turns ? this.beats / this.turns : 0,
      wakeUpsPerSecond: (switches.voluntary - this.switches.voluntary) / seconds,
      preemptedPerSecond: (switches.involuntary - this.switches.involuntary) / seconds,
    };
  }
}

/**
 * CPU over `ms`: the gateway's (user + system, all threads of this process — the bench only
 * waits meanwhile —: the gateway and, without DATABASE_URL, its PGlite) and the simulators' (each
 * child's own `process.cpuUsage`), as shares of one core. With `profile`, a V8 CPU profile of the
 * gateway over the window is written there (open it in Chrome DevTools or speedscope).
 */
async function cpuWindow(ms: number, children: ChildProcess[], profile?: string, watched?: Gateway): Promise<CpuWindow> {
  const session = profile ? new Session() : undefined;
  const post = (method: string) => new Promise<unknown>((resolve, reject) => session!.post(method, (e, result) => (e ? reject(e) : resolve(result))));
  if (session) {
    session.connect();
    await post('Profiler.enable');
    await post('Profiler.start');
  }
  const simulatorsCpu = async () => (await Promise.all(children.map((c) => ask(c, { type: 'cpu' }, 'cpu')))).reduce((a, r) => a + (r.type === 'cpu' ? r.cpu.user + r.cpu.system : 0), 0);
  const simulatorsBefore = await simulatorsCpu();
  const hostRows = watched ? await deadRows(watched.dataSource, 'host') : undefined;
  const probe = watched ? new WorkProbe(watched.dataSource, watched.services.health) : undefined;
  const before = process.cpuUsage();
  const t = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const used = process.cpuUsage(before);
  const work = probe ? { ...probe.stop(), ...(hostRows ? { hostRows } : {}) } : undefined;
  const elapsed = performance.now() - t;
  const gateway = (used.user + used.system) / 1000 / elapsed;
  const gatewayUser = used.user / 1000 / elapsed;
  const gatewaySystem = used.system / 1000 / elapsed;
  const simulators = ((await simulatorsCpu()) - simulatorsBefore) / 1000 / elapsed;
  if (session) {
    const { profile: written } = (await post('Profiler.stop')) as { profile: unknown };
    await writeFile(profile!, JSON.stringify(written));
    session.disconnect();
    process.stderr.write(`  CPU profile of the window: ${profile}\n`);
  }
  return { gateway, gatewayUser, gatewaySystem, simulators, load: loadavg()[0]!, ...(work ? { work } : {}) };
}

/**
 * Pins every thread of process `pid` (and the threads it starts later) to `cpus` (a taskset list,
 * "0" or "1-3"); false when taskset is not there or refuses.
 */
async function pin(pid: number, cpus: string): Promise<boolean> {
  return run('taskset', ['-a', '-p', '-c', cpus, String(pid)]).then(
    () => true,
    () => false,
  );
}

async function swarm(): Promise<void> {
  const count = Number(process.env.BENCH_AGENTS ?? 1000);
  const processes = Number(process.env.BENCH_AGENT_PROCESSES ?? 4);
  const windowMs = Number(process.env.BENCH_WINDOW_MS ?? 10_000);
  const dir = await mkdtemp(join(tmpdir(), 'rsp-bench-swarm-'));
  // During the CPU windows, the gateway (this process, every thread it has or starts) is on core 0 and the simulators on the
  // others: they must not take its CPU. Between windows every process has every core (reconnection is a matter of throughput).
  const cores = availableParallelism();
  let pinned = false;
  const inWindow = async (children: ChildProcess[], measure: () => Promise<CpuWindow>): Promise<CpuWindow> => {
    if (cores >= 2) pinned = (await pin(process.pid, '0')) && (await Promise.all(children.map((c) => pin(c.pid!, `1-${cores - 1}`)))).every(Boolean);
    try {
      return await measure();
    } finally {
      if (cores >= 2) await Promise.all([process.pid, ...children.map((c) => c.pid!)].map((pid) => pin(pid, `0-${cores - 1}`)));
    }
  };
  // Host metrics sampling (a hostSample call per agent per interval) is left out: the figure is the cost of heartbeats and facts.
  const config = loadConfig(gatewayEnv(dir, { PORT: String(await freePort()), RSP_DRIVERS: 'fake', RSP_METRICS_INTERVAL_MS: '0' }));
  let gateway = await startGateway(config, { logger: silent, setup: false });
  // Connections that closed (an agent cut off as silent, replaced, …): a steady window should have none.
  let closed = 0;
  const countCloses = (g: Gateway) => g.agents.onChange((_agent, connected) => void (connected || (closed += 1)));
  countCloses(gateway);
  const children: ChildProcess[] = [];
  try {
    const s = await scaffold(gateway);
    const ids = Array.from({ length: count }, (_, i) => `sim-${String(i).padStart(5, '0')}`);
    const connected = () => ids.reduce((a, id) => a + (gateway.agents.get(id) ? 1 : 0), 0);
    const allBack = async (label: string) => {
      const t0 = Date.now();
      const progress = setInterval(() => process.stderr.write(`  … ${label}: ${connected()} of ${count} connected after ${((Date.now() - t0) / 1000).toFixed(0)} s\n`), 5000);
      try {
        await until(label, () => (connected() === count ? true : undefined), 300_000, 20);
      } finally {
        clearInterval(progress);
      }
    };
    // A steady window starts once every host is UP (none DOWN for a reconnection slower than the grace period on a busy
    // machine, none recovering through the split-brain guard: that work is not the beats'), two beats have passed, and the
    // work of the connections is over: a beat without more statements than a steady one runs (the beats' batch, the
    // detector's round, a few periodic reads), not the settling of reconnected agents still queued on a loaded machine.
    const steadyState = async (label: string) => {
      const notUp = async () => Number(((await gateway.dataSource.query(`SELECT count(*) AS n FROM host WHERE agent LIKE 'sim-%' AND state <> 'UP'`)) as Array<{ n: string }>)[0]!.n);
      const waiting = await notUp();
      if (waiting) process.stderr.write(`  … ${label}: ${waiting} hosts not UP yet (DOWN while their agents reconnected, or recovering); waiting\n`);
      await until(`every host UP ${label}`, async () => ((await notUp()) === 0 ? true : undefined), 300_000, 250);
      await new Promise((r) => setTimeout(r, 2 * config.heartbeatMs));
      const started = Date.now();
      for (;;) {
        const counter = new StatementCounter(gateway.dataSource).start();
        await new Promise((r) => setTimeout(r, config.heartbeatMs));
        const { total } = counter.stop();
        if (total <= STEADY_STATEMENTS_PER_BEAT) break;
        if (Date.now() - started > 300_000) throw new Error(`${label}: still ${total} statements a beat after 300 s`);
      }
      if (Date.now() - started > 2 * config.heartbeatMs) process.stderr.write(`  … ${label}: the connections' work went on for ${((Date.now() - started) / 1000).toFixed(0)} s after every host was UP\n`);
    };
    // Diagnostics: BENCH_SWARM_SERIES more windows after each measured one, printed as they come.
    const series = async (label: string) => {
      for (let k = 0; k < Number(process.env.BENCH_SWARM_SERIES ?? 0); k++) {
        const profile = process.env.BENCH_CPU_PROFILE?.replace(/(\.cpuprofile)?$/, `-series-${label.replace(/\W+/g, '-')}-${k + 1}.cpuprofile`);
        const w = await inWindow(children, () => cpuWindow(windowMs, children, profile, gateway));
        process.stderr.write(`  series ${label} #${k + 1}: ${(w.gateway * 100).toFixed(1)} % (user ${(w.gatewayUser * 100).toFixed(1)}, system ${(w.gatewaySystem * 100).toFixed(1)}; load ${w.load.toFixed(1)}) ${w.work ? describeWork(w.work) : ''}\n`);
      }
    };
    // Facts as the machine's own, with each simulated agent's id for hostname.
    const facts = await gateway.agents.get('local')!.hostFacts({});

    await new Promise((r) => setTimeout(r, 1000));
    const idle = await inWindow([], () => cpuWindow(windowMs, [], undefined, gateway));

    // Hosts and join tokens, 25 a request (50 aliases: RSP_MAX_QUERY_ALIASES).
    const secrets: string[] = [];
    for (let i = 0; i < count; i += 25) {
      const batch = ids.slice(i, i + 25);
      const hosts = batch.map((id, k) => `h${k}: createHost(input: { siteId: "${s.site}", ownerGroupId: "${s.group}", hostname: "${id}", agent: "${id}" }) { id }`).join(' ');
      const tokens = batch.map((id, k) => `t${k}: createAgentJoinToken(agentId: "${id}", ttlSeconds: 3600) { token }`).join(' ');
      const data = await s.gql(`mutation { ${hosts} ${tokens} }`);
      batch.forEach((_, k) => secrets.push(data[`t${k}`].token as string));
    }

    for (let p = 0; p < processes; p++) children.push(fork(join(__dirname, 'agents-swarm.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    for (const child of children) child.on('message', (r: SwarmReport) => r.type === 'refused' && process.stderr.write(`refused ${r.agent}: ${r.code} ${r.reason}\n`));
    const per = Math.ceil(count / processes);
    let cpu = process.cpuUsage();
    let t = performance.now();
    await Promise.all(children.map((child, p) => ask(child, { type: 'start', gateway: gateway.url, facts, agents: ids.slice(p * per, (p + 1) * per).map((id, k) => ({ id, secret: secrets[p * per + k]! })) }, 'started')));
    await allBack('all enrolled');
    const enrolMs = performance.now() - t;
    const enrolCpu = process.cpuUsage(cpu);

    await steadyState('after the enrolment');
    // The profile has a window of its own: profiling costs CPU too, the figure is measured without it.
    if (process.env.BENCH_CPU_PROFILE) await inWindow(children, () => cpuWindow(windowMs, children, process.env.BENCH_CPU_PROFILE));
    let closedBefore = closed;
    const steady = await inWindow(children, () => cpuWindow(windowMs, children, undefined, gateway));
    await series('after the enrolment');
    const steadyCloses = closed - closedBefore;

    // Baseline of the reconnection: every connection drops at once, the gateway stays up.
    t = performance.now();
    cpu = process.cpuUsage();
    await Promise.all(children.map((child) => ask(child, { type: 'drop' }, 'dropped')));
    await until('the drop seen', () => (connected() < count ? true : undefined), 30_000, 5);
    await allBack('all back after the drop');
    const dropMs = performance.now() - t;
    const dropCpu = process.cpuUsage(cpu);

    // The figure: the gateway restarts (closes, starts again on the same port and database).
    await new Promise((r) => setTimeout(r, 2000));
    t = performance.now();
    await gateway.close();
    const closedMs = performance.now() - t;
    gateway = await startGateway(config, { logger: silent, setup: false });
    countCloses(gateway);
    const listeningMs = performance.now() - t;
    cpu = process.cpuUsage();
    await allBack('all back after the restart');
    const restartMs = performance.now() - t;
    const restartCpu = process.cpuUsage(cpu);

    await steadyState('after the restart');
    if (process.env.BENCH_CPU_PROFILE) await inWindow(children, () => cpuWindow(windowMs, children, process.env.BENCH_CPU_PROFILE!.replace(/(\.cpuprofile)?$/, '-after-restart.cpuprofile')));
    closedBefore = closed;
    const steadyAfter = await inWindow(children, () => cpuWindow(windowMs, children, undefined, gateway));
    await series('after the restart');
    const steadyAfterCloses = closed - closedBefore;
    const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;
    const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
    const load = (w: CpuWindow) => `load ${w.load.toFixed(1)} on ${cores} cores`;
    const worst = Math.max(steady.gateway, steadyAfter.gateway);
    // What one beat costs the gateway above idle (µs), and how many agents at this pace would fill one core.
    const beatsPerSecond = (count * 1000) / config.heartbeatMs;
    const perBeatUs = (Math.max(steady.gateway - idle.gateway, 0) * 1e6) / beatsPerSecond;
    const perCore = perBeatUs > 0 ? Math.floor(1e6 / perBeatUs / (1000 / config.heartbeatMs)) : Infinity;
    out([
      `bench/agents swarm — ${count} simulated agents in ${processes} processes, one gateway (${config.databaseUrl ? 'PostgreSQL' : 'PGlite, in the gateway process'}), heartbeat ${config.heartbeatMs} ms, DOWN after ${config.hostDownAfterMs} ms, host metrics sampling off`,
      `  CPU windows ${windowMs} ms, ${pinned ? `the gateway pinned to core 0, the simulators to cores 1-${cores - 1} (taskset; all cores between windows)` : 'not pinned (taskset missing or one core): the simulators share the gateway\'s cores'}; CPU is each process's own (user + system)`,
      `  THE FIGURE — gateway CPU with ${count} agents heartbeating (default settings; the whole process, idle work included): ${pct(worst)} of a core in the worse window   goal ≤ 10 %: ${met(worst <= 0.1)}`,
      `    after the enrolment: ${pct(steady.gateway)} (${load(steady)}); after the restart: ${pct(steadyAfter.gateway)} (${load(steadyAfter)}); above the idle baseline of this run: ${pct(steady.gateway - idle.gateway)} and ${pct(steadyAfter.gateway - idle.gateway)}`,
      `  gateway CPU idle, no agent (baseline):             ${pct(idle.gateway)} of a core (${load(idle)});  ratio ${(steady.gateway / Math.max(idle.gateway, 1e-6)).toFixed(1)}×, i.e. ${pct(((steady.gateway - idle.gateway) / count) * 1000)} per 1,000 agents above idle`,
      `  the simulators' CPU, apart (not in the figure):    ${pct(steady.simulators)} of a core; after the restart ${pct(steadyAfter.simulators)}`,
      `  connections closed inside the windows (reconnections, in the figure): ${steadyCloses}; after the restart ${steadyAfterCloses}`,
      ...(
        [['idle', idle], ['after the enrolment', steady], ['after the restart', steadyAfter]] as Array<[string, CpuWindow]>
      ).flatMap(([label, w]) => (w.work ? [`  ${label}: user ${pct(w.gatewayUser)}, system ${pct(w.gatewaySystem)}; ${describeWork(w.work)}`] : [])),
      `  enrolment of ${count} (join token → credential, facts): ${enrolMs.toFixed(0)} ms, gateway CPU ${(cpuMs(enrolCpu) / count).toFixed(2)} ms per agent`,
      `  all ${count} back after a gateway restart:          ${(restartMs / 1000).toFixed(1)} s (gateway closed in ${(closedMs / 1000).toFixed(1)} s, listening again at ${(listeningMs / 1000).toFixed(1)} s; reconnect CPU ${(cpuMs(restartCpu) / count).toFixed(2)} ms per agent)   goal ≤ 30 s: ${met(restartMs <= 30_000)}`,
      `  all ${count} back after all connections drop, gateway up (baseline): ${(dropMs / 1000).toFixed(1)} s (CPU ${(cpuMs(dropCpu) / count).toFixed(2)} ms per agent);  ratio restart / drop ${(restartMs / dropMs).toFixed(1)}×`,
      `  one beat costs the gateway ${perBeatUs.toFixed(0)} µs of CPU above idle: at one beat every ${config.heartbeatMs} ms, one core is full near ${Number.isFinite(perCore) ? perCore.toLocaleString('en') : '∞'} agents (Nomad's servers track 10,000 clients)`,
      ...SCALING_LIMITS.map((line) => `  ${line}`),
      '',
    ]);
  } finally {
    for (const child of children) child.send({ type: 'exit' } satisfies SwarmCommand);
    await Promise.all(children.map((child) => new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)))));
    await gateway.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Statements a beat of a steady swarm stays under: its batch of beats, the detector's round, a few periodic reads (about 3 measured). */
const STEADY_STATEMENTS_PER_BEAT = 10;

/** Where the swarm's design stops scaling and what would take it further (README, "Host agents on other machines"). */
const SCALING_LIMITS = [
  'where it stops: one gateway holds every agent\'s WebSocket on one event-loop thread, and each beat costs it a read, a parse and a written answer (the lease) —',
  '  CPU grows with agents × beat rate, so one gateway at 1 s beats tops out near the figure above; PGlite runs in that same thread (the beats\' batched writes, the detector\'s round).',
  'what takes it further: gateway replicas (PostgreSQL + Redis: an agent connects to any, calls reach it through the replica holding it) spread the connections;',
  '  a beat interval that grows with the number of agents, as Nomad does (its servers keep all heartbeats under 50/s: TTL = clients / 50, at least 10 s), trading detection time for CPU',
  '  (the welcome already gives each agent its pace); PostgreSQL instead of PGlite takes the database off the gateway\'s thread.',
];

/** The steps of a failover operation, by the start of their progress message, in order. */
const FAILOVER_STEPS: Array<[string, string]> = [
  ['choose host', 'choosing a host'],
  ['checks', 'restoring replica'],
  ['verify', 'verifying every checksum'],
  ['copy to B', 'copying the replica'],
  ['import on B', 'importing'],
  ['start on B', 'starting'],
];

/** The median time of each step: from its mark to the next one's (DOWN read → the operation's first report, …, start → SUCCEEDED). */
function stepTimes(runs: Array<Map<string, number>>): string {
  const order = ['DOWN', ...FAILOVER_STEPS.map(([step]) => step), 'SUCCEEDED'];
  const parts: string[] = [];
  for (let k = 0; k < order.length - 1; k++) {
    const times = runs.map((marks) => {
      const from = marks.get(order[k]!);
      const to = order.slice(k + 1).map((step) => marks.get(step)).find((t) => t !== undefined);
      return from !== undefined && to !== undefined ? to - from : NaN;
    }).filter((t) => !Number.isNaN(t));
    if (times.length) parts.push(`${k === 0 ? 'DOWN → operation' : order[k]} ${median(times).toFixed(0)}`);
  }
  return parts.join(', ');
}

async function failover(n: number): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'rsp-bench-agents-fo-'));
  const engine = await pickEngine(dir);
  if (engine !== 'docker') {
    out(['bench/agents failover — skipped: needs Docker (the baseline is docker stop + start)', '']);
    return;
  }
  const config = loadConfig(gatewayEnv(dir, { RSP_DRIVERS: engine }));
  const gateway = await startGateway(config, { logger: silent, setup: false });
  const s = await scaffold(gateway);
  const link = await LinkCutter.start({ host: '127.0.0.1', port: Number(new URL(gateway.url).port) });
  // Two rsp agent processes on the one dockerd, each with its own instance: A behind the cutter, B straight to the gateway.
  const tag = process.pid.toString(36);
  const remote = await startRemoteAgent(gateway, link.url, 'a', await s.joinToken('a'), engine, ['--instance', `fo-a-${tag}`]);
  const other = await startRemoteAgent(gateway, gateway.url, 'b', await s.joinToken('b'), engine, ['--instance', `fo-b-${tag}`]);
  const baselineDriver = createDockerDriver({ stateDir: join(dir, 'baseline') });
  const baselineImage = await importBusyboxImage(baselineDriver, 'bench-agents-failover');
  const baselineName = `rsp-bench-agents-fo-${process.pid.toString(36)}`;
  const hostState = async (id: string) => (await s.gql('query ($id: ID!) { host(id: $id) { state } }', { id })).host.state as string;
  const envWhere = async (id: string) => (await s.gql('query ($id: ID!) { environment(id: $id) { status hostId } }', { id })).environment as { status: string; hostId: string };
  const detectMs: number[] = [];
  const failoverMs: number[] = [];
  const observedMs: number[] = [];
  const baselineMs: number[] = [];
  // Where the time goes: when each step of the failover operation was first reported (graphql-ws), per run.
  const phases: Array<Map<string, number>> = [];
  let marks = new Map<string, number>();
  // The environment whose failover is being timed: other environments' operations (earlier runs') are not counted.
  let timed: string | undefined;
  const ws = createClient({ url: gateway.websocketUrl, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${s.token}` } });
  ws.subscribe<{ operationUpdated: { kind: string; targetId: string | null; state: string; message: string | null } }>(
    { query: 'subscription { operationUpdated { kind targetId state message } }' },
    {
      next: ({ data }) => {
        const op = data?.operationUpdated;
        if (op?.kind !== 'environment.failover' || op.targetId !== timed) return;
        const step = op.state === 'RUNNING' ? FAILOVER_STEPS.find(([, prefix]) => op.message?.startsWith(prefix))?.[0] : op.state;
        if (step && !marks.has(step)) marks.set(step, Date.now());
      },
      error: () => undefined,
      complete: () => undefined,
    },
  );
  try {
    const hostA = await s.host('bench-a', 'a');
    const hostB = await s.host('bench-b', 'b');
    const image = await s.image(engine);
    await run('docker', ['create', '--name', baselineName, '--init', '--network', 'none', baselineImage.ref, ...IDLE_COMMAND]);
    await run('docker', ['start', baselineName]);
    for (let i = 0; i < n; i++) {
      const created = (await s.gql('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: s.group, hostId: hostA, imageId: image, name: `fo-${i}`, network: 'none', command: IDLE_COMMAND, volumes: [{ name: 'data', mountPath: '/data' }] } })).createEnvironment;
      const id = created.environment.id as string;
      timed = id;
      await s.settle(created.operation.id);
      await s.settle((await s.gql('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id })).startEnvironment.id);
      await s.gql('mutation ($id: ID!) { execEnvironment(id: $id, command: ["sh", "-c", "head -c 1048576 /dev/urandom > /data/blob"]) { exitCode } }', { id });
      const policy = (await s.gql('mutation ($i: CreateReplicationPolicyInput!) { createReplicationPolicy(input: $i) { id } }', { i: { environmentId: id, targetKind: 'STORE', schedule: 'every 60 minutes', autoFailover: true } })).createReplicationPolicy.id;
      await s.settle((await s.gql('mutation ($id: ID!) { replicateNow(policyId: $id) { id } }', { id: policy })).replicateNow.id);

      marks = new Map();
      const cut = Date.now();
      link.cutLink();
      await until('host A DOWN', async () => ((await hostState(hostA)) === 'DOWN' ? true : undefined), 120_000, 25);
      const down = Date.now();
      detectMs.push(down - cut);
      marks.set('DOWN', down);
      // As a client sees it: the environment RUNNING on host B through the API (polled every 25 ms).
      await until('the replica running on host B', async () => {
        const env = await envWhere(id);
        return env.status === 'RUNNING' && env.hostId === hostB ? true : undefined;
      }, 60_000, 25);
      observedMs.push(Date.now() - down);
      const op = await until('the failover', async () => (await gateway.services.operations.list({ targetId: id }, 10, 0)).items.find((o) => o.kind === 'environment.failover'), 60_000, 25);
      const done = await s.settle(op.id);
      failoverMs.push(done.result!.failoverMs as number);
      await until('the failover reported over graphql-ws', () => marks.has('SUCCEEDED'), 30_000, 10);
      phases.push(marks);
      link.heal();
      await until('host A UP', async () => ((await hostState(hostA)) === 'UP' ? true : undefined), 120_000, 50);
      await s.settle((await s.gql('mutation ($id: ID!) { destroyEnvironment(id: $id) { id } }', { id })).destroyEnvironment.id);

      const t0 = performance.now();
      await run('docker', ['stop', '-t', '10', baselineName]);
      await run('docker', ['start', baselineName]);
      baselineMs.push(performance.now() - t0);
      process.stderr.write(`failover run ${i + 1}/${n}: detection ${detectMs[i]} ms, failover ${failoverMs[i]} ms (seen by a client ${observedMs[i]} ms), docker stop+start ${baselineMs[i]!.toFixed(0)} ms\n`);
    }
  } finally {
    await ws.dispose();
    await run('docker', ['rm', '-f', baselineName]).catch(() => undefined);
    await baselineDriver.engine.getImage(baselineImage.ref).remove().catch(() => undefined);
    await remote.stop();
    await other.stop();
    // The busybox image each agent instance imported.
    for (const agent of ['a', 'b']) {
      const images = (await run('docker', ['images', '-q', '--filter', `reference=rsp-fo-${agent}-${tag}*`])).stdout.split('\n').filter(Boolean);
      if (images.length) await run('docker', ['rmi', '-f', ...new Set(images)]).catch(() => undefined);
    }
    await link.close();
    await gateway.close();
    await rm(dir, { recursive: true, force: true });
  }
  const fo = median(failoverMs);
  const base = median(baselineMs);
  out([
    `bench/agents failover — two rsp agent processes on ${engine}, A's link cut, replica in the gateway's store, ${n} run(s), medians (heartbeat ${config.heartbeatMs} ms, DOWN after ${config.hostDownAfterMs} ms)`,
    `  detection (link cut → host DOWN), apart:        ${median(detectMs).toFixed(0)} ms`,
    `  failover (DOWN written → replica running on B): ${fo.toFixed(0)} ms   goal ≤ 5000 ms: ${met(fo <= 5000)}`,
    `  the same as a client sees it (DOWN read → RUNNING on B read, 25 ms polls): ${median(observedMs).toFixed(0)} ms   goal ≤ 5000 ms: ${met(median(observedMs) <= 5000)}`,
    `  baseline docker stop + start, same image:       ${base.toFixed(0)} ms;  ratio ${(fo / base).toFixed(2)}×`,
    `  where the time goes (medians, ms, as reported over graphql-ws; the first run also brings the image to B): ${stepTimes(phases)}`,
    '',
  ]);
}

async function main(): Promise<void> {
  const parts = process.argv.slice(2).filter((a) => !/^\d+$/.test(a));
  const n = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? process.env.BENCH_N ?? 10);
  const want = (part: string) => parts.length === 0 || parts.includes(part);
  if (want('lifecycle')) await lifecycle(n);
  if (want('swarm')) await swarm();
  if (want('failover')) await failover(Math.min(n, 3));
}

main().catch((e: unknown) => {
  process.stderr.write(`bench/agents failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
