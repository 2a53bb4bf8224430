// First, as rsp's CLI does: graphql-js in production mode unless NODE_ENV is set (measured as served).
import '../gateway/server/graphql-production';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadConfig } from '../gateway/config/config';
import { startGateway } from '../gateway/server/gateway';
import { broken, capacityChecks } from '../test/helpers/consistency';
import { freshDatabase } from './fresh-database';
import { runWithGatewayFlags } from './gateway-flags';
import { withCpuProfile } from './cpu-profile';
import { graphqlCaller } from './graphql-caller';
import { postgresCpuMsSince, readPostgresCpu } from './postgres-cpu';
import { runClients, type ClientJob } from './placement-clients';
import { UNLIMITED } from './unlimited';

/**
 * Contention benchmark (issue 22): one gateway on PostgreSQL, BENCH_CLIENTS (20) clients calling
 * `allocate` (CPU 1 + RAM 1 GiB each) for BENCH_SECONDS (20) s, on 10 and on 5,000 hosts with
 * ample capacity, with the default settings (RSP_PLACEMENT_SNAPSHOT_MS unset: the shared placement
 * picture) and with the picture off (RSP_PLACEMENT_SNAPSHOT_MS=0), and at BENCH_SNAPSHOT_MS too
 * when it is set (a tuned figure beside). Prints allocations/s, p50, p99 and the CONFLICT count
 * per run with the load average during it, the CPU time per call of the gateway, the PostgreSQL
 * backends and the clients (figures a loaded machine does not inflate as it does latencies), the
 * ratio default / off, and checks from the database
 * that no resource is over capacity and `used` equals the active claims.
 *
 * Each measured window follows BENCH_WARMUP_SECONDS (3) of the same calls, not counted (the first
 * calls of a run are compiled meanwhile: without it the first run paid for the JIT).
 *
 * Knobs (environment): BENCH_HOST_COUNTS ("10,5000"), BENCH_CLIENTS, BENCH_SECONDS, BENCH_WARMUP_SECONDS,
 * BENCH_SNAPSHOT_MS, BENCH_ADMIN_URL (a database is made per run and dropped at its end),
 * BENCH_CPU_PROFILE (a file prefix: the gateway's CPU profile of each default-settings run; the
 * profiler's own cost is then in that run's figures).
 */
const HOST_COUNTS = (process.env.BENCH_HOST_COUNTS ?? '10,5000').split(',').map(Number);
const CLIENTS = num('BENCH_CLIENTS', 20);
const SECONDS = num('BENCH_SECONDS', 20);
/** Seconds of allocate before each measured window, not counted (0: none). */
const WARMUP_SECONDS = process.env.BENCH_WARMUP_SECONDS === undefined ? 3 : Number(process.env.BENCH_WARMUP_SECONDS);
const TUNED_MS = process.env.BENCH_SNAPSHOT_MS === undefined ? undefined : Number(process.env.BENCH_SNAPSHOT_MS);
/** When set, a file prefix: the gateway's CPU profile of each default-settings run is written to `<prefix>.<hosts>`. */
const PROFILE = process.env.BENCH_CPU_PROFILE;
const GiB = 2 ** 30;

function num(name: string, fallback: number): number {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** One run's figures. */
interface RunResult {
  perSecond: number;
  p50: number;
  p99: number;
  conflicts: number;
  otherErrors: Record<string, number>;
  placed: number;
  broken: number;
  /** The 1-minute load average at the end of the run. */
  load: number;
  /** The gateway's CPU time (user + system, process.cpuUsage) per call of the run, in ms. */
  cpuPerCall: number;
  /** The CPU time of the PostgreSQL backends of the run's database per call, in ms (0: server not on this machine). */
  pgPerCall: number;
  /** The client process's CPU time per call, in ms. */
  clientPerCall: number;
  /** Requests written per database transaction (the group commit's mean group). */
  perCommit: number;
}

/** One gateway, `hosts` simulated hosts with room for every request of the run, clients for SECONDS; `snapshotMs` undefined: the default. */
async function run(hosts: number, snapshotMs: number | undefined): Promise<RunResult> {
  const db = await freshDatabase();
  const dataDir = await mkdtemp(join(tmpdir(), 'rsp-bench-contention-'));
  const config = loadConfig({ PORT: '0', RSP_DATA_DIR: dataDir, RSP_DRIVERS: 'fake', LOG_LEVEL: 'silent', LOG_FORMAT: 'json', DATABASE_URL: db.url, ...(snapshotMs === undefined ? {} : { RSP_PLACEMENT_SNAPSHOT_MS: String(snapshotMs) }), ...UNLIMITED });
  const gateway = await startGateway(config, { logger: pino({ level: 'silent' }), setup: false });
  try {
    const ok = graphqlCaller(gateway.graphqlUrl, gateway.bootstrapToken!);
    const group = async (slug: string) => (await ok('mutation ($i: CreateGroupInput!) { createGroup(input: $i) { id } }', { i: { slug, name: slug } })).createGroup.id as string;
    const owner = await group('infra');
    const tenant = await group('tenant');
    const site = (await ok('mutation ($i: CreateSiteInput!) { createSite(input: $i) { id } }', { i: { name: 'site', ownerGroupId: owner, placementPolicy: 'BINPACK' } })).createSite.id as string;
    const ds = gateway.dataSource;
    // Ample: 100,000 cores and 100,000 GiB over all hosts, whatever their number.
    const perHost = Math.ceil(100_000 / hosts);
    await ds.query(
      `INSERT INTO host (id, "siteId", "ownerGroupId", hostname, state, drivers, agent)
       SELECT gen_random_uuid(), $1, $2, 'node-' || i, 'UP', '["docker"]'::jsonb, 'simulated' FROM generate_series(1, $3::int) AS i`,
      [site, owner, hosts],
    );
    await ds.query(
      `INSERT INTO resource ("hostId", type, unit, total, "allocationRatio", generation)
       SELECT h.id, 'CPU', 'CORES', ${perHost}, 1, 1 FROM host h
       UNION ALL SELECT h.id, 'RAM', 'BYTES', ${perHost}::float8 * ${GiB}, 1, 1 FROM host h`,
    );
    await ds.query(
      `INSERT INTO share ("hostId", "groupId", kind, quotas, "cpuWeight")
       SELECT h.id, $1, 'CUSTOM', jsonb_build_object('CPU', ${perHost}, 'RAM', ${perHost}::float8 * ${GiB}), 100 FROM host h`,
      [tenant],
    );
    const request = { groupId: tenant, guarantee: 'BEST_EFFORT' as const, resources: [{ type: 'CPU', amount: 1, unit: 'CORES' }, { type: 'RAM', amount: GiB, unit: 'BYTES' }], technologies: [] };
    // Warm-up, not counted: the allocate path's first calls are compiled and the pool's connections opened meanwhile.
    const warmup = WARMUP_SECONDS ? await runClients({ kind: 'single', url: gateway.graphqlUrl, token: gateway.bootstrapToken!, tenants: [tenant], from: 0, count: 0, clients: CLIENTS, batch: 1, seconds: WARMUP_SECONDS, request }) : undefined;
    const database = new URL(db.url).pathname.slice(1);
    const pgBefore = await readPostgresCpu(database);
    const cpuBefore = process.cpuUsage();
    const job: ClientJob = { kind: 'single', url: gateway.graphqlUrl, token: gateway.bootstrapToken!, tenants: [tenant], from: 0, count: 0, clients: CLIENTS, batch: 1, seconds: SECONDS, request };
    const profile = PROFILE && snapshotMs === undefined ? `${PROFILE}.${hosts}` : undefined;
    const report = profile ? await withCpuProfile(profile, () => runClients(job)) : await runClients(job);
    const cpu = process.cpuUsage(cpuBefore);
    const { ms: pgMs } = await postgresCpuMsSince(pgBefore, database);
    const latencies = report.latencies.sort((a, b) => a - b);
    const [{ perCommit }]: Array<{ perCommit: number }> = await ds.query(`SELECT count(*)::float8 / greatest(count(DISTINCT xmin::text), 1) AS "perCommit" FROM allocation_request`);
    const checks = broken(await capacityChecks((q, p) => ds.query(q, p)));
    // Refusals of the warm-up count too: with ample capacity there should be none, compiled or not.
    const refused: Record<string, number> = { ...report.refused };
    for (const [code, n] of Object.entries(warmup?.refused ?? {})) refused[code] = (refused[code] ?? 0) + n;
    const { CONFLICT: conflicts = 0, ...otherErrors } = refused;
    return { perSecond: report.placed / report.seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), conflicts, otherErrors, placed: report.placed, broken: checks.reduce((n, c) => n + c.count, 0), load: loadavg()[0]!, cpuPerCall: (cpu.user + cpu.system) / 1000 / latencies.length, pgPerCall: pgMs / latencies.length, clientPerCall: report.cpuMs / latencies.length, perCommit };
  } finally {
    await gateway.close();
    await rm(dataDir, { recursive: true, force: true });
    await db.drop();
  }
}

async function main(): Promise<void> {
  const configured = loadConfig({}).placementSnapshotMs;
  console.log(`contention benchmark: ${CLIENTS} clients × ${SECONDS} s of allocate (CPU 1 + RAM 1 GiB) after ${WARMUP_SECONDS} s of warm-up, PostgreSQL, ample capacity; default RSP_PLACEMENT_SNAPSHOT_MS=${configured}; load average before: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`${'hosts'.padStart(6)} ${'snapshot ms'.padStart(14)} ${'alloc/s'.padStart(9)} ${'p50 ms'.padStart(9)} ${'p99 ms'.padStart(9)} ${'CONFLICT'.padStart(9)} ${'placed'.padStart(8)} ${'CPU ms: gateway'.padStart(15)} ${'PG'.padStart(6)} ${'clients'.padStart(7)} ${'per commit'.padStart(10)} ${'load'.padStart(6)}  other errors`);
  const settings: Array<{ label: string; ms: number | undefined }> = [
    { label: `default ${configured}`, ms: undefined },
    { label: '0 (off)', ms: 0 },
    ...(TUNED_MS !== undefined && Number.isFinite(TUNED_MS) ? [{ label: `tuned ${TUNED_MS}`, ms: TUNED_MS }] : []),
  ];
  for (const hosts of HOST_COUNTS) {
    const results: RunResult[] = [];
    for (const { label, ms } of settings) {
      const r = await run(hosts, ms);
      results.push(r);
      console.log(`${String(hosts).padStart(6)} ${label.padStart(14)} ${r.perSecond.toFixed(0).padStart(9)} ${r.p50.toFixed(1).padStart(9)} ${r.p99.toFixed(1).padStart(9)} ${String(r.conflicts).padStart(9)} ${String(r.placed).padStart(8)} ${r.cpuPerCall.toFixed(3).padStart(15)} ${r.pgPerCall.toFixed(3).padStart(6)} ${r.clientPerCall.toFixed(3).padStart(7)} ${r.perCommit.toFixed(1).padStart(10)} ${r.load.toFixed(2).padStart(6)}  ${JSON.stringify(r.otherErrors)}`);
      if (r.broken) {
        console.log(`  self-check failed: ${r.broken} records break a capacity check (over capacity, used ≠ active claims…)`);
        process.exitCode = 1;
      }
    }
    const [byDefault, off] = results as [RunResult, RunResult];
    console.log(`${String(hosts).padStart(6)} ratio default / off: throughput ×${(byDefault.perSecond / off.perSecond).toFixed(1)}, p99 ÷${(off.p99 / byDefault.p99).toFixed(1)}`);
  }
}

// The gateway runs in this process: run it with the flags `npm start` serves it with.
runWithGatewayFlags(__filename, main);
