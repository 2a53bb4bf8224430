/**
 * bench/failover: two host agents (`a`, `b`) in one gateway, each with its own Docker driver
 * instance on the one engine, a busybox environment with data in a volume and an auto-failover
 * policy. Per run:
 *
 * - failover time: agent `a` is cut off; from "host declared DOWN" (the failure detector's mark)
 *   to "replica running on host B" (the failover operation's `failoverMs`); goal ≤ 5 s. The
 *   detection delay before it (agent cut off → DOWN, about RSP_HOST_DOWN_AFTER_MS) is printed apart.
 * - migration downtime: `migrateEnvironment` back to host A, stop → running on A (the
 *   operation's `downtimeMs`); goal ≤ 10 s (seed 004).
 *
 * Baseline in the same run: `docker stop` + `docker start` (CLI, execFile) of a container of the
 * same image and command — the least downtime any restart costs. Medians; ratios to the baseline.
 *
 *   npm run bench:replication          (runs bench/replication, then this)
 *   node dist/bench/failover.js [N]    (default N = 3 runs; DOCKER_HOST honoured)
 */
// First, as rsp's CLI does: graphql-js in production mode unless NODE_ENV is set (measured as served).
import '../gateway/server/graphql-production';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { createDockerDriver } from '../drivers/docker';
import { loadConfig } from '../gateway/config/config';
import { startGateway } from '../gateway/server/gateway';
import { buildBusyboxRootfs, IDLE_COMMAND, importBusyboxImage } from '../test/fixtures/busybox-rootfs';
import { until } from '../test/helpers/until';
import { graphqlCaller } from './graphql-caller';

const run = promisify(execFile);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? process.env.BENCH_N ?? 3);
  if (!Number.isInteger(n) || n < 1) throw new Error(`N must be a positive integer, got ${process.argv[2]}`);
  const dir = await mkdtemp(join(tmpdir(), 'rsp-bench-failover-'));
  const heartbeatMs = 200;
  const downAfterMs = 1000;
  const config = loadConfig({ PORT: '0', RSP_DATA_DIR: dir, RSP_DRIVERS: 'docker', RSP_AGENTS: 'a,b', RSP_HEARTBEAT_MS: String(heartbeatMs), RSP_HOST_DOWN_AFTER_MS: String(downAfterMs), RSP_METRICS_INTERVAL_MS: '0', LOG_LEVEL: 'silent', LOG_FORMAT: 'json' });
  const gateway = await startGateway(config, { logger: pino({ level: 'silent' }), setup: false });
  const token = gateway.bootstrapToken!;
  const gql = graphqlCaller(gateway.graphqlUrl, token);
  const settle = async (id: string) => {
    const op = await gateway.services.operations.settled(id);
    if (op.state !== 'SUCCEEDED') throw new Error(`operation ${op.kind} ${op.state}: ${op.errorMessage}`);
    return op;
  };
  const hostState = async (id: string) => (await gql('query ($id: ID!) { host(id: $id) { state } }', { id })).host.state as string;

  const baselineDriver = createDockerDriver({ stateDir: join(dir, 'baseline') });
  const baselineImage = await importBusyboxImage(baselineDriver, 'bench-failover-busybox');
  const baselineName = `rsp-bench-failover-${process.pid.toString(36)}`;
  const failoverMs: number[] = [];
  const detectMs: number[] = [];
  const downtimeMs: number[] = [];
  const baselineMs: number[] = [];
  try {
    const group = (await gql('mutation { createGroup(input: { slug: "bench", name: "bench" }) { id } }')).createGroup.id;
    const site = (await gql('mutation ($g: ID!) { createSite(input: { name: "bench", ownerGroupId: $g }) { id } }', { g: group })).createSite.id;
    const host = async (hostname: string, agent: string) => (await gql('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: site, ownerGroupId: group, hostname, drivers: ['docker'], agent } })).createHost.id as string;
    const hostA = await host('bench-a', 'a');
    const hostB = await host('bench-b', 'b');
    const image = (await gql('mutation ($g: ID!) { registerImage(input: { vendorGroupId: $g, name: "busybox", version: "1", technology: "docker" }) { id } }', { g: group })).registerImage.id;
    const up = await fetch(`${gateway.url}/images/${image}/content`, { method: 'PUT', headers: { authorization: `Bearer ${token}` }, body: new Uint8Array(await readFile(await buildBusyboxRootfs())) });
    if (!up.ok) throw new Error(`image upload: ${up.status} ${await up.text()}`);

    await run('docker', ['create', '--name', baselineName, '--init', '--network', 'none', baselineImage.ref, ...IDLE_COMMAND]);
    await run('docker', ['start', baselineName]);

    for (let i = 0; i < n; i++) {
      const created = (await gql('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: group, hostId: hostA, imageId: image, name: `bench-${i}`, network: 'none', command: IDLE_COMMAND, volumes: [{ name: 'data', mountPath: '/data' }] } })).createEnvironment;
      const id = created.environment.id as string;
      await settle(created.operation.id);
      await settle((await gql('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id })).startEnvironment.id);
      await gql('mutation ($id: ID!) { execEnvironment(id: $id, command: ["sh", "-c", "head -c 1048576 /dev/urandom > /data/blob"]) { exitCode } }', { id });
      const policy = (await gql('mutation ($i: CreateReplicationPolicyInput!) { createReplicationPolicy(input: $i) { id } }', { i: { environmentId: id, targetKind: 'STORE', schedule: 'every 60 minutes', autoFailover: true } })).createReplicationPolicy.id;
      await settle((await gql('mutation ($id: ID!) { replicateNow(policyId: $id) { id } }', { id: policy })).replicateNow.id);

      const cutOff = Date.now();
      gateway.agents.disconnect('a');
      await until('host A DOWN', async () => ((await hostState(hostA)) === 'DOWN' ? true : undefined), 60_000, 25);
      detectMs.push(Date.now() - cutOff);
      const op = await until('the failover', async () => (await gateway.services.operations.list({ targetId: id }, 10, 0)).items.find((o) => o.kind === 'environment.failover'), 60_000, 25);
      const failover = await settle(op.id);
      failoverMs.push(failover.result!.failoverMs as number);
      gateway.agents.reconnect('a');
      await until('host A UP', async () => ((await hostState(hostA)) === 'UP' ? true : undefined), 60_000, 25);

      const migrated = await settle((await gql('mutation ($id: ID!, $h: ID) { migrateEnvironment(id: $id, hostId: $h) { id } }', { id, h: hostA })).migrateEnvironment.id);
      downtimeMs.push(migrated.result!.downtimeMs as number);
      await settle((await gql('mutation ($id: ID!) { destroyEnvironment(id: $id) { id } }', { id })).destroyEnvironment.id);

      const t0 = performance.now();
      await run('docker', ['stop', '-t', '10', baselineName]);
      await run('docker', ['start', baselineName]);
      baselineMs.push(performance.now() - t0);
      process.stderr.write(`run ${i + 1}/${n}: failover ${failoverMs[i]} ms, migration downtime ${downtimeMs[i]} ms, docker stop+start ${baselineMs[i]!.toFixed(0)} ms\n`);
    }
  } finally {
    await run('docker', ['rm', '-f', baselineName]).catch(() => undefined);
    await baselineDriver.engine.getImage(baselineImage.ref).remove().catch(() => undefined);
    await gateway.close();
    await rm(dir, { recursive: true, force: true });
  }

  const base = median(baselineMs);
  const fo = median(failoverMs);
  const mig = median(downtimeMs);
  const docker = (await run('docker', ['version', '--format', '{{.Server.Version}}'])).stdout.trim();
  process.stdout.write(
    [
      `bench/failover — Docker ${docker}, busybox, ${n} run(s), medians (heartbeat ${heartbeatMs} ms, DOWN after ${downAfterMs} ms)`,
      `  detection (agent cut off → DOWN):             ${median(detectMs).toFixed(0)} ms (threshold ${downAfterMs} ms after the last beat, which was up to ${heartbeatMs} ms earlier)`,
      `  failover (DOWN → replica running on B):       ${fo.toFixed(0)} ms   goal ≤ 5000 ms: ${fo <= 5000 ? 'met' : 'NOT met'}`,
      `  migration downtime (stop → running on A):     ${mig.toFixed(0)} ms   goal ≤ 10000 ms: ${mig <= 10000 ? 'met' : 'NOT met'}`,
      `  baseline docker stop + start, same image:     ${base.toFixed(0)} ms`,
      `  ratio failover / baseline:                    ${(fo / base).toFixed(2)}`,
      `  ratio migration downtime / baseline:          ${(mig / base).toFixed(2)}`,
      '',
    ].join('\n'),
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
