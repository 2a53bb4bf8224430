import { randomBytes } from 'node:crypto';
import { fork } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import pino from 'pino';
import { loadConfig } from '../gateway/config/config';
import { startGateway } from '../gateway/server/gateway';
import { GATEWAY_NODE_FLAGS } from '../gateway/server/node-flags';
import { graphqlCaller } from './graphql-caller';
import { runClients, type ClientJob } from './placement-clients';

/**
 * Contention benchmark (issue 22): one gateway on PostgreSQL, BENCH_CLIENTS (20) clients calling
 * `allocate` (CPU 1 + RAM 1 GiB each) for BENCH_SECONDS (20) s, on 10 and on 5,000 hosts with
 * ample capacity, with the shared placement picture off (RSP_PLACEMENT_SNAPSHOT_MS=0) and at
 * BENCH_SNAPSHOT_MS (2000). Prints allocations/s, p50, p99 and the CONFLICT count per run, the
 * ratio of the two settings, and checks from the database that no resource is over capacity and
 * `used` equals the active claims.
 *
 * Knobs (environment): BENCH_HOST_COUNTS ("10,5000"), BENCH_CLIENTS, BENCH_SECONDS,
 * BENCH_SNAPSHOT_MS, BENCH_ADMIN_URL (a database is made per run and dropped at its end).
 */
const HOST_COUNTS = (process.env.BENCH_HOST_COUNTS ?? '10,5000').split(',').map(Number);
const CLIENTS = num('BENCH_CLIENTS', 20);
const SECONDS = num('BENCH_SECONDS', 20);
const SNAPSHOT_MS = num('BENCH_SNAPSHOT_MS', 2000);
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
}

/** Makes a database for one run on the admin server; returns its URL and how to drop it. */
async function freshDatabase(adminUrl: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `rsp_bench_${randomBytes(4).toString('hex')}`;
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await c.end();
    },
  };
}

/** One gateway, `hosts` simulated hosts with room for every request of the run, clients for SECONDS. */
async function run(adminUrl: string, hosts: number, snapshotMs: number): Promise<RunResult> {
  const db = await freshDatabase(adminUrl);
  const dataDir = await mkdtemp(join(tmpdir(), 'rsp-bench-contention-'));
  const config = loadConfig({ PORT: '0', RSP_DATA_DIR: dataDir, RSP_DRIVERS: 'fake', LOG_LEVEL: 'silent', LOG_FORMAT: 'json', DATABASE_URL: db.url, RSP_PLACEMENT_SNAPSHOT_MS: String(snapshotMs) });
  const gateway = await startGateway(config, { logger: pino({ level: 'silent' }) });
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
    const report = await runClients({ kind: 'single', url: gateway.graphqlUrl, token: gateway.bootstrapToken!, tenants: [tenant], from: 0, count: 0, clients: CLIENTS, batch: 1, seconds: SECONDS, request });
    const latencies = report.latencies.sort((a, b) => a - b);
    const [over] = await ds.query(`SELECT count(*)::int AS n FROM resource WHERE used > (total - reserved) * "allocationRatio" + 1e-6`);
    const [drift] = await ds.query(`SELECT count(*)::int AS n FROM resource r LEFT JOIN (SELECT "resourceId", SUM(amount) AS s FROM allocation_claim WHERE active GROUP BY 1) c ON c."resourceId" = r.id WHERE abs(r.used - coalesce(c.s, 0)) > 1e-3`);
    const { CONFLICT: conflicts = 0, ...otherErrors } = report.refused;
    return { perSecond: report.placed / report.seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), conflicts, otherErrors, placed: report.placed, broken: over.n + drift.n };
  } finally {
    await gateway.close();
    await rm(dataDir, { recursive: true, force: true });
    await db.drop();
  }
}

async function main(): Promise<void> {
  const adminUrl = process.env.BENCH_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const configured = loadConfig({}).placementSnapshotMs;
  console.log(`contention benchmark: ${CLIENTS} clients × ${SECONDS} s of allocate (CPU 1 + RAM 1 GiB), PostgreSQL, ample capacity; configured default RSP_PLACEMENT_SNAPSHOT_MS=${configured}`);
  console.log(`${'hosts'.padStart(6)} ${'snapshot ms'.padStart(11)} ${'alloc/s'.padStart(9)} ${'p50 ms'.padStart(9)} ${'p99 ms'.padStart(9)} ${'CONFLICT'.padStart(9)} ${'placed'.padStart(8)}  other errors`);
  for (const hosts of HOST_COUNTS) {
    const results: RunResult[] = [];
    for (const snapshotMs of [0, SNAPSHOT_MS]) {
      const r = await run(adminUrl, hosts, snapshotMs);
      results.push(r);
      console.log(`${String(hosts).padStart(6)} ${String(snapshotMs).padStart(11)} ${r.perSecond.toFixed(0).padStart(9)} ${r.p50.toFixed(1).padStart(9)} ${r.p99.toFixed(1).padStart(9)} ${String(r.conflicts).padStart(9)} ${String(r.placed).padStart(8)}  ${JSON.stringify(r.otherErrors)}`);
      if (r.broken) {
        console.log(`  self-check failed: ${r.broken} resources over capacity or with used ≠ active claims`);
        process.exitCode = 1;
      }
    }
    const [off, on] = results as [RunResult, RunResult];
    console.log(`${String(hosts).padStart(6)} ratio ${SNAPSHOT_MS} / 0: throughput ×${(on.perSecond / off.perSecond).toFixed(1)}, p99 ÷${(off.p99 / on.p99).toFixed(1)}`);
  }
}

const missingFlags = GATEWAY_NODE_FLAGS.filter((f) => !process.execArgv.includes(f));
if (missingFlags.length) {
  // The gateway runs in this process: run it with the flags `npm start` serves it with.
  fork(__filename, process.argv.slice(2), { execArgv: [...process.execArgv, ...missingFlags], stdio: 'inherit' }).on('exit', (code) => process.exit(code ?? 1));
} else {
  void main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
