/**
 * bench/lifecycle-docker: create + start + stop + destroy of N environments through the Docker
 * driver, against the same lifecycle through the `docker` CLI (execFile, no shell), same image
 * (the busybox rootfs of test/fixtures), same command, same container spec, same run. The spec is
 * the one the gateway sends by default: a read-only root with tmpfs on /tmp and /run
 * (`WRITABLE_TMPFS`), no network, one config value, Docker's `local` log driver. Iterations alternate between the
 * two paths so machine noise hits both alike. Prints both totals, per-environment means, and the
 * ratio driver/CLI (goal ≤ 1.2), and gateway/driver (goal ≤ 1.1) with this process's CPU per environment on each path
 * and the gateway's SQL statements per environment (the embedded database runs in this process: each costs CPU here).
 *
 * A third path goes through the whole gateway: GraphQL mutations over HTTP → service → in-process
 * agent → driver, each step an operation followed over graphql-ws (ratio gateway/CLI: the issue's
 * figure).
 *
 *   npm run bench:docker -- [N]        (default N = 10; DOCKER_HOST honoured;
 *   BENCH_CPU_PROFILE=file: a CPU profile of N more cycles through the gateway, not counted;
 *   BENCH_SQL=1: each statement text the gateway ran, with how often per environment;
 *   BENCH_BREAKDOWN=1: where the gateway path's time goes, step by step, over N more cycles, not counted;
 *   BENCH_DOCKER_CALLS=1: the Docker Engine API calls each path makes per environment, by method and path)
 */
// First, as rsp's CLI does: graphql-js in production mode unless NODE_ENV is set (measured as served).
import '../gateway/server/graphql-production';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createDockerDriver, DockerDriver } from '../drivers/docker';
import type { EnvironmentSpec } from '../drivers/contract';
import { WRITABLE_TMPFS } from '../drivers/host/rootfs';
import { buildBusyboxRootfs, IDLE_COMMAND, importBusyboxImage } from '../test/fixtures/busybox-rootfs';
import { withCpuProfile } from './cpu-profile';
import { DockerCallCounter } from './docker-calls';
import { startGatewayBench } from './gateway-lifecycle';
import { lifecycleBreakdown } from './lifecycle-breakdown';

const run = promisify(execFile);
const cpuMs = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1000;

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? process.env.BENCH_N ?? 10);
  if (!Number.isInteger(n) || n < 1) throw new Error(`N must be a positive integer, got ${process.argv[2]}`);
  // Installed before any Docker client is made; counts only while a path's label is set.
  const dockerCalls = process.env.BENCH_DOCKER_CALLS ? new DockerCallCounter() : undefined;
  const dir = await mkdtemp(join(tmpdir(), 'rsp-bench-docker-'));
  const driver = createDockerDriver({ stateDir: join(dir, 'state') });
  const probe = await driver.probe();
  if (!probe.available) throw new Error(`no Docker engine: ${probe.reason}`);
  const cli = (await run('docker', ['version', '--format', '{{.Client.Version}}'])).stdout.trim();
  const image = await importBusyboxImage(driver, 'bench-busybox');
  const tag = process.pid.toString(36);
  const configEnv = join(dir, 'config.env');
  await writeFile(configEnv, 'A=1\n');

  // The gateway's default for a Docker environment: a read-only root (checked against the gateway's own spec below).
  const driverIface = { network: { mode: 'none' as const }, config: { A: '1' }, readOnlyRoot: true };
  const viaDriver = async (i: number) => {
    const id = `bench-${tag}-d${i}`;
    await driver.create({ id, image, command: IDLE_COMMAND, iface: { hostname: id, ...driverIface }, labels: { 'rsp.group': 'bench' } });
    await driver.start(id);
    await driver.stop(id);
    await driver.destroy(id);
  };
  const tmpfs = Object.entries(WRITABLE_TMPFS).flatMap(([at, options]) => ['--tmpfs', `${at}:${options}`]);
  const viaCli = async (i: number) => {
    const name = `rsp-bench-${tag}-c${i}`;
    await run('docker', ['create', '--name', name, '--init', '--network', 'none', '--hostname', name, '--label', `rsp.environment=${name}`, '--label', 'rsp.group=bench', '-e', 'A=1', '-v', `${configEnv}:/etc/rsp/config.env:ro`, '--log-driver', 'local', '--read-only', ...tmpfs, image.ref, ...IDLE_COMMAND]);
    await run('docker', ['start', name]);
    await run('docker', ['stop', '-t', '10', name]);
    await run('docker', ['rm', '-f', name]);
  };

  const gateway = await startGatewayBench('docker', 'docker', await buildBusyboxRootfs(), IDLE_COMMAND);
  const viaGateway = (i: number) => gateway.cycle(`bench-${tag}-g${i}`.replace(/[^a-z0-9-]/g, ''));

  await viaDriver(-1); // warm-up, not counted
  await viaCli(-1);
  // The gateway's warm-up cycle shows the spec its driver is given: the driver path must ask Docker for the same container.
  const create = DockerDriver.prototype.create;
  let gatewaySpec: EnvironmentSpec | undefined;
  DockerDriver.prototype.create = function (this: DockerDriver, spec, ...rest) {
    gatewaySpec = spec;
    return create.call(this, spec, ...rest);
  };
  await viaGateway(99999).finally(() => (DockerDriver.prototype.create = create));
  if (!!gatewaySpec?.iface.readOnlyRoot !== driverIface.readOnlyRoot || gatewaySpec?.iface.network?.mode !== driverIface.network.mode) {
    throw new Error(`the driver path's container differs from the gateway's: ${JSON.stringify(gatewaySpec?.iface)} against ${JSON.stringify(driverIface)}`);
  }
  // Optional: the gateway path's CPU profile (this process: gateway, agent and driver), in cycles of their own, not counted.
  const profile = process.env.BENCH_CPU_PROFILE;
  if (profile) await withCpuProfile(profile, async () => {
    for (let i = 0; i < n; i++) await viaGateway(100000 + i);
  });
  // Optional: where the gateway path's time goes, in cycles of their own (its hooks cost a little), not counted.
  const breakdown = process.env.BENCH_BREAKDOWN ? await lifecycleBreakdown(gateway, n, (i) => `bench-${tag}-b${i}`) : [];
  let driverMs = 0;
  let cliMs = 0;
  let gatewayMs = 0;
  // CPU of this process (user + system) on each path: the gateway's own cost, which the machine's load hardly disturbs.
  let gatewayCpu = 0;
  let driverCpu = 0;
  // Minor page faults of this process on each path: memory newly touched (fresh heap pages), which
  // costs CPU in the kernel per page (on a virtual machine such as CI's, about 10-16 µs a fault).
  let gatewayFaults = 0;
  let driverFaults = 0;
  for (let i = 0; i < n; i++) {
    let t = performance.now();
    let c = process.cpuUsage();
    let f = process.resourceUsage().minorPageFault;
    gateway.statements.start();
    if (dockerCalls) dockerCalls.label = 'through the gateway';
    await viaGateway(i);
    gateway.statements.stop();
    gatewayMs += performance.now() - t;
    gatewayCpu += cpuMs(process.cpuUsage(c));
    gatewayFaults += process.resourceUsage().minorPageFault - f;
    t = performance.now();
    c = process.cpuUsage();
    f = process.resourceUsage().minorPageFault;
    if (dockerCalls) dockerCalls.label = 'through the driver';
    await viaDriver(i);
    if (dockerCalls) dockerCalls.label = undefined;
    driverMs += performance.now() - t;
    driverCpu += cpuMs(process.cpuUsage(c));
    driverFaults += process.resourceUsage().minorPageFault - f;
    t = performance.now();
    await viaCli(i);
    cliMs += performance.now() - t;
  }
  const counted = gateway.statements.stop();
  const statements = counted.total / n;
  await gateway.close();
  await rm(dir, { recursive: true, force: true });
  await driver.engine.getImage(image.ref).remove().catch(() => undefined);

  const ratio = driverMs / cliMs;
  const gatewayRatio = gatewayMs / cliMs;
  process.stdout.write(
    [
      `lifecycle-docker: create+start+stop+destroy × ${n}, ${probe.version}, docker CLI ${cli}, image busybox rootfs (${image.ref.slice(0, 19)}…)`,
      `  through the gateway: ${gatewayMs.toFixed(0)} ms total, ${(gatewayMs / n).toFixed(0)} ms per environment  (GraphQL → agent → driver, operations followed over graphql-ws)`,
      `  through the driver : ${driverMs.toFixed(0)} ms total, ${(driverMs / n).toFixed(0)} ms per environment`,
      `  through docker CLI : ${cliMs.toFixed(0)} ms total, ${(cliMs / n).toFixed(0)} ms per environment  (baseline)`,
      `  ratio gateway/CLI  : ${gatewayRatio.toFixed(2)}×  (goal ≤ 1.20× — ${gatewayRatio <= 1.2 ? 'met' : 'NOT met'})`,
      `  ratio driver/CLI   : ${ratio.toFixed(2)}×`,
      `  ratio gateway/driver: ${(gatewayMs / driverMs).toFixed(2)}×  (goal ≤ 1.10× — ${gatewayMs / driverMs <= 1.1 ? 'met' : 'NOT met'})`,
      `  CPU of this process per environment: gateway path ${(gatewayCpu / n).toFixed(1)} ms, driver path ${(driverCpu / n).toFixed(1)} ms; minor page faults ${(gatewayFaults / n).toFixed(0)} / ${(driverFaults / n).toFixed(0)}; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
      `  SQL statements per environment through the gateway: ${statements.toFixed(1)} (its background work during the cycles included)`,
      ...breakdown,
      ...(dockerCalls?.lines(n) ?? []),
      ...(process.env.BENCH_SQL ? counted.byText.map((s) => `    ${(s.count / n).toFixed(1).padStart(5)} ${(s.ms / s.count).toFixed(2).padStart(6)} ms  ${s.text.replace(/\s+/g, ' ').slice(0, 150)}`) : []),
      '',
    ].join('\n'),
  );
}

main().catch((e: Error) => {
  process.stderr.write(`lifecycle-docker failed: ${e.message}\n`);
  process.exitCode = 1;
});
