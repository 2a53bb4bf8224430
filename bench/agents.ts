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
 *   connect and its heartbeat: the gateway's CPU over a window as % of one core (goal ≤ 10 %),
 *   against the same gateway idle with no agent; the time for all to be connected again after a
 *   gateway restart (goal ≤ 30 s), against all dropping their connections at once while the
 *   gateway stays up.
 * - failover: a remote agent whose link is cut (bytes dropped both ways by a relay, no FIN): from
 *   its host declared DOWN to the replica running on another host (goal ≤ 5 s); baseline
 *   `docker stop` + `docker start` of a container of the same image.
 *
 *   npm run bench:agents -- [lifecycle] [swarm] [failover]     (default: all three; BENCH_N runs)
 */
import { execFile, fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { createDockerDriver } from '../drivers/docker';
import type { HostAgent } from '../gateway/agent/host-agent';
import { loadConfig } from '../gateway/config/config';
import { startGateway, type Gateway } from '../gateway/server/gateway';
import { buildBusyboxRootfs, IDLE_COMMAND, importBusyboxImage } from '../test/fixtures/busybox-rootfs';
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

/** A real `rsp agent` process dialling `gatewayUrl` with a join token; resolves once the gateway has it in its agent link. */
async function startRemoteAgent(gateway: Gateway, gatewayUrl: string, agentId: string, token: string, drivers: string): Promise<{ child: ChildProcess; dataDir: string; stop(): Promise<void> }> {
  const dataDir = await mkdtemp(join(tmpdir(), `rsp-bench-agent-${agentId}-`));
  const child = spawn(process.execPath, [RSP, 'agent', '--gateway', gatewayUrl, '--token', token, '--drivers', drivers, '--data-dir', dataDir], { env: { ...process.env, LOG_LEVEL: 'warn', LOG_FORMAT: 'json' }, stdio: ['ignore', 'ignore', 'inherit'] });
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
  const gateway = await startGateway(loadConfig(gatewayEnv(dir, { RSP_DRIVERS: engine })), { logger: silent });
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

/** Gateway CPU (user + system, all threads of this process) over `ms`, as a share of one core. */
async function cpuShare(ms: number): Promise<number> {
  const before = process.cpuUsage();
  const t = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000 / (performance.now() - t);
}

async function swarm(): Promise<void> {
  const count = Number(process.env.BENCH_AGENTS ?? 1000);
  const processes = Number(process.env.BENCH_AGENT_PROCESSES ?? 4);
  const windowMs = Number(process.env.BENCH_WINDOW_MS ?? 10_000);
  const dir = await mkdtemp(join(tmpdir(), 'rsp-bench-swarm-'));
  // Host metrics sampling (a hostSample call per agent per interval) is left out: the figure is the cost of heartbeats and facts.
  const config = loadConfig(gatewayEnv(dir, { PORT: String(await freePort()), RSP_DRIVERS: 'fake', RSP_METRICS_INTERVAL_MS: '0' }));
  let gateway = await startGateway(config, { logger: silent });
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
    // Facts as the machine's own, with each simulated agent's id for hostname.
    const facts = await gateway.agents.get('local')!.hostFacts({});

    await new Promise((r) => setTimeout(r, 1000));
    const idle = await cpuShare(windowMs);

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

    await new Promise((r) => setTimeout(r, 2000));
    const steady = await cpuShare(windowMs);

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
    gateway = await startGateway(config, { logger: silent });
    const listeningMs = performance.now() - t;
    cpu = process.cpuUsage();
    await allBack('all back after the restart');
    const restartMs = performance.now() - t;
    const restartCpu = process.cpuUsage(cpu);

    await new Promise((r) => setTimeout(r, 2000));
    const steadyAfter = await cpuShare(windowMs);
    const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;
    const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
    out([
      `bench/agents swarm — ${count} simulated agents in ${processes} processes, one gateway (${config.databaseUrl ? 'PostgreSQL' : 'PGlite, in the gateway process'}), heartbeat ${config.heartbeatMs} ms, DOWN after ${config.hostDownAfterMs} ms, host metrics sampling off`,
      `  gateway CPU, ${count} agents connected, heartbeating:  ${pct(steady)} of a core (after the restart: ${pct(steadyAfter)})   goal ≤ 10 %: ${met(Math.max(steady, steadyAfter) <= 0.1)}`,
      `  gateway CPU idle, no agent (baseline):             ${pct(idle)} of a core;  ratio ${(steady / Math.max(idle, 1e-6)).toFixed(1)}×, i.e. ${pct((steady - idle) / count * 1000)} per 1,000 agents above idle`,
      `  enrolment of ${count} (join token → credential, facts): ${enrolMs.toFixed(0)} ms, gateway CPU ${(cpuMs(enrolCpu) / count).toFixed(2)} ms per agent`,
      `  all ${count} back after a gateway restart:          ${(restartMs / 1000).toFixed(1)} s (gateway closed in ${(closedMs / 1000).toFixed(1)} s, listening again at ${(listeningMs / 1000).toFixed(1)} s; reconnect CPU ${(cpuMs(restartCpu) / count).toFixed(2)} ms per agent)   goal ≤ 30 s: ${met(restartMs <= 30_000)}`,
      `  all ${count} back after all connections drop, gateway up (baseline): ${(dropMs / 1000).toFixed(1)} s (CPU ${(cpuMs(dropCpu) / count).toFixed(2)} ms per agent);  ratio restart / drop ${(restartMs / dropMs).toFixed(1)}×`,
      '',
    ]);
  } finally {
    for (const child of children) child.send({ type: 'exit' } satisfies SwarmCommand);
    await Promise.all(children.map((child) => new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)))));
    await gateway.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function failover(n: number): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'rsp-bench-agents-fo-'));
  const engine = await pickEngine(dir);
  if (engine !== 'docker') {
    out(['bench/agents failover — skipped: needs Docker (the baseline is docker stop + start)', '']);
    return;
  }
  const config = loadConfig(gatewayEnv(dir, { RSP_DRIVERS: engine, RSP_AGENTS: 'b' }));
  const gateway = await startGateway(config, { logger: silent });
  const s = await scaffold(gateway);
  const link = await LinkCutter.start({ host: '127.0.0.1', port: Number(new URL(gateway.url).port) });
  const remote = await startRemoteAgent(gateway, link.url, 'a', await s.joinToken('a'), engine);
  const baselineDriver = createDockerDriver({ stateDir: join(dir, 'baseline') });
  const baselineImage = await importBusyboxImage(baselineDriver, 'bench-agents-failover');
  const baselineName = `rsp-bench-agents-fo-${process.pid.toString(36)}`;
  const hostState = async (id: string) => (await s.gql('query ($id: ID!) { host(id: $id) { state } }', { id })).host.state as string;
  const detectMs: number[] = [];
  const failoverMs: number[] = [];
  const baselineMs: number[] = [];
  try {
    const hostA = await s.host('bench-a', 'a');
    const hostB = await s.host('bench-b', 'b');
    const image = await s.image(engine);
    await run('docker', ['create', '--name', baselineName, '--init', '--network', 'none', baselineImage.ref, ...IDLE_COMMAND]);
    await run('docker', ['start', baselineName]);
    for (let i = 0; i < n; i++) {
      const created = (await s.gql('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: s.group, hostId: hostA, imageId: image, name: `fo-${i}`, network: 'none', command: IDLE_COMMAND, volumes: [{ name: 'data', mountPath: '/data' }] } })).createEnvironment;
      const id = created.environment.id as string;
      await s.settle(created.operation.id);
      await s.settle((await s.gql('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id })).startEnvironment.id);
      await s.gql('mutation ($id: ID!) { execEnvironment(id: $id, command: ["sh", "-c", "head -c 1048576 /dev/urandom > /data/blob"]) { exitCode } }', { id });
      const policy = (await s.gql('mutation ($i: CreateReplicationPolicyInput!) { createReplicationPolicy(input: $i) { id } }', { i: { environmentId: id, targetKind: 'STORE', schedule: 'every 60 minutes', autoFailover: true } })).createReplicationPolicy.id;
      await s.settle((await s.gql('mutation ($id: ID!) { replicateNow(policyId: $id) { id } }', { id: policy })).replicateNow.id);

      const cut = Date.now();
      link.cutLink();
      await until('host A DOWN', async () => ((await hostState(hostA)) === 'DOWN' ? true : undefined), 120_000, 25);
      detectMs.push(Date.now() - cut);
      const op = await until('the failover', async () => (await gateway.services.operations.list({ targetId: id }, 10, 0)).items.find((o) => o.kind === 'environment.failover'), 60_000, 25);
      const done = await s.settle(op.id);
      failoverMs.push(done.result!.failoverMs as number);
      link.heal();
      await until('host A UP', async () => ((await hostState(hostA)) === 'UP' ? true : undefined), 120_000, 50);
      await s.settle((await s.gql('mutation ($id: ID!) { destroyEnvironment(id: $id) { id } }', { id })).destroyEnvironment.id);

      const t0 = performance.now();
      await run('docker', ['stop', '-t', '10', baselineName]);
      await run('docker', ['start', baselineName]);
      baselineMs.push(performance.now() - t0);
      process.stderr.write(`failover run ${i + 1}/${n}: detection ${detectMs[i]} ms, failover ${failoverMs[i]} ms, docker stop+start ${baselineMs[i]!.toFixed(0)} ms\n`);
    }
  } finally {
    await run('docker', ['rm', '-f', baselineName]).catch(() => undefined);
    await baselineDriver.engine.getImage(baselineImage.ref).remove().catch(() => undefined);
    await remote.stop();
    await link.close();
    await gateway.close();
    await rm(dir, { recursive: true, force: true });
  }
  const fo = median(failoverMs);
  const base = median(baselineMs);
  out([
    `bench/agents failover — a remote agent (rsp agent process) whose link is cut, replica in the gateway's store, ${n} run(s), medians (heartbeat ${config.heartbeatMs} ms, DOWN after ${config.hostDownAfterMs} ms)`,
    `  detection (link cut → host DOWN):               ${median(detectMs).toFixed(0)} ms`,
    `  failover (DOWN → replica running on host B):    ${fo.toFixed(0)} ms   goal ≤ 5000 ms: ${met(fo <= 5000)}`,
    `  baseline docker stop + start, same image:       ${base.toFixed(0)} ms;  ratio ${(fo / base).toFixed(2)}×`,
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
