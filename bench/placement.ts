// First, as rsp's CLI does: graphql-js in production mode unless NODE_ENV is set (measured as served).
import '../gateway/server/graphql-production';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import type { DataSource } from 'typeorm';
import { loadConfig } from '../gateway/config/config';
import { AllocationGuarantee, AntiAffinity, ResourceWant } from '../gateway/persistence/entities';
import { placementAsk } from '../gateway/placement/model';
import { placeReplicas } from '../gateway/placement/scheduler';
import { loadHostViews } from '../gateway/placement/snapshot';
import { startGateway } from '../gateway/server/gateway';
import { freshDatabase } from './fresh-database';
import { runWithGatewayFlags } from './gateway-flags';
import { postgresCpuMsSince, readPostgresCpu } from './postgres-cpu';
import { graphqlCaller } from './graphql-caller';
import { ClientJob, randomRequest, runClients } from './placement-clients';
import { withCpuProfile, withHeapProfile } from './cpu-profile';
import { UNLIMITED } from './unlimited';
import { broken, capacityChecks } from '../test/helpers/consistency';

/**
 * Placement benchmark (issue 9): simulated hosts in 3 sites with 2 technologies and mixed sizes,
 * allocation requests persisted in PostgreSQL through GraphQL, sent by clients in a separate process.
 * The simulated hosts belong to an agent that is not connected (`simulated`), so this gateway's
 * metrics collector does not sample 5,000 hosts as if each were this machine. Reports placements/s through
 * `allocateMany` batches, p50/p99 of single `allocate` under concurrent clients, scheduler-only
 * decisions/s (on the batched requests, and on the filled inventory), and checks that no host is over capacity × ratio and no share over its quota.
 *
 * The batches follow a warm-up of their own kind, not counted, whose allocations are leased for a
 * second and expired before the batches start (the inventory is then as empty as before it): the
 * gateway's heap grows to its working size, its hot paths are compiled, and the database's
 * connections touch the shared buffers. Each page a process touches for the first time costs a page
 * fault, on a virtual machine such as CI's 10-16 µs of CPU: the first 20,000 placements of a fresh
 * gateway took 1.4 faults each, the next 0.3 (the figure is printed). The scheduler-only figure is
 * measured first, before the gateway has placed anything, as it was before the warm-up existed: after
 * the gateway's own placements its shared code runs slower alone (109,000 against 142,500
 * decisions/s on the same inventory), which would flatter the ratio.
 *
 * Knobs (environment): BENCH_HOSTS (5000), BENCH_REQUESTS (100000, through batches),
 * BENCH_BATCH_WARMUP (20000 batched requests before those, leased, expired, not counted),
 * BENCH_BATCH (500), BENCH_BATCH_CLIENTS (4), BENCH_SINGLE (20000: long enough for a steady p99),
 * BENCH_WARMUP (2000 single allocates before those, reported but not counted),
 * BENCH_SINGLE_CLIENTS (20), BENCH_DECISIONS (20000, on the filled inventory),
 * RSP_PLACEMENT_SNAPSHOT_MS (unset: the gateway's default), BENCH_CPU_PROFILE (a file: the gateway's CPU
 * profile of 5,000 more single allocates after the measured ones), BENCH_BATCH_PROFILE (a file: the
 * gateway's CPU profile of the batch phase, whose figures then include the profiler),
 * BENCH_BATCH_HEAP_PROFILE (a file: the gateway's sampled allocations over the batch phase, and the
 * bytes allocated per placement), DATABASE_URL (else a database made on 127.0.0.1 and dropped
 * at the end).
 */
const HOSTS = num('BENCH_HOSTS', 5000);
const REQUESTS = num('BENCH_REQUESTS', 100_000);
const BATCH_WARMUP = num('BENCH_BATCH_WARMUP', 20_000);
/** Index of the batch warm-up's first request: the same mix as the measured ones, other indices. */
const WARMUP_FROM = 1_000_000_000;
const BATCH = num('BENCH_BATCH', 500);
const BATCH_CLIENTS = num('BENCH_BATCH_CLIENTS', 4);
const SINGLE = num('BENCH_SINGLE', 20_000);
const WARMUP = num('BENCH_WARMUP', 2000);
const SINGLE_CLIENTS = num('BENCH_SINGLE_CLIENTS', 20);
const DECISIONS = num('BENCH_DECISIONS', 20_000);
/** Single allocates under the CPU profiler when BENCH_CPU_PROFILE names a file. */
const PROFILED = 5000;
const TENANTS = 8;
const GiB = 2 ** 30;
const GOAL_PLACEMENTS = 5000;
const GOAL_P99_MS = 50;

function num(name: string, fallback: number): number {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** One result line: a label, a value, and a goal met (✓) or not (✗) — or, without `ok`, a note. */
function line(label: string, value: string, goal?: string, ok?: boolean): void {
  const tail = goal === undefined ? '' : ok === undefined ? `   ${goal}` : `   goal ${goal}  ${ok ? '✓' : '✗'}`;
  console.log(`${label.padEnd(46)} ${value.padStart(14)}${tail}`);
}

async function main(): Promise<void> {
  let databaseUrl = process.env.DATABASE_URL;
  let dropDatabase: (() => Promise<void>) | undefined;
  if (!databaseUrl) {
    const db = await freshDatabase();
    databaseUrl = db.url;
    dropDatabase = db.drop;
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'rsp-bench-placement-'));
  const config = loadConfig({ PORT: '0', RSP_DATA_DIR: dataDir, RSP_DRIVERS: 'fake', LOG_LEVEL: 'silent', LOG_FORMAT: 'json', DATABASE_URL: databaseUrl, ...(process.env.RSP_PLACEMENT_SNAPSHOT_MS === undefined ? {} : { RSP_PLACEMENT_SNAPSHOT_MS: process.env.RSP_PLACEMENT_SNAPSHOT_MS }), ...UNLIMITED });
  const gateway = await startGateway(config, { logger: pino({ level: 'silent' }), setup: false });
  const token = gateway.bootstrapToken!;
  const ok = graphqlCaller(gateway.graphqlUrl, token);
  try {
    console.log(`placement benchmark: ${HOSTS} hosts, ${REQUESTS} batched requests (${BATCH} per allocateMany, ${BATCH_CLIENTS} clients), ${SINGLE} single allocate (${SINGLE_CLIENTS} clients), PostgreSQL, RSP_PLACEMENT_SNAPSHOT_MS=${config.placementSnapshotMs}${process.env.RSP_PLACEMENT_SNAPSHOT_MS === undefined ? ' (default)' : ''}, gateway node flags: ${process.execArgv.join(' ') || 'none'}`);
    const t0 = performance.now();
    const group = async (slug: string) => (await ok('mutation ($i: CreateGroupInput!) { createGroup(input: $i) { id } }', { i: { slug, name: slug } })).createGroup.id as string;
    const owner = await group('infra');
    const tenants: string[] = [];
    for (let i = 0; i < TENANTS; i++) tenants.push(await group(`tenant-${i}`));
    const sites: string[] = [];
    for (const [i, policy] of ['BINPACK', 'BINPACK', 'SPREAD'].entries()) sites.push((await ok('mutation ($i: CreateSiteInput!) { createSite(input: $i) { id } }', { i: { name: `site-${i}`, ownerGroupId: owner, placementPolicy: policy } })).createSite.id);
    const ds = gateway.dataSource;
    await ds.query(
      `INSERT INTO host (id, "siteId", "ownerGroupId", hostname, state, drivers, agent)
       SELECT gen_random_uuid(), ($1::uuid[])[1 + i % 3], $2, 'node-' || i, 'UP', (CASE i % 3 WHEN 0 THEN '["docker"]' WHEN 1 THEN '["lxc"]' ELSE '["docker","lxc"]' END)::jsonb, 'simulated'
       FROM generate_series(1, $3::int) AS i`,
      [sites, owner, HOSTS],
    );
    await ds.query(
      `INSERT INTO resource ("hostId", type, unit, total, "allocationRatio", generation)
       SELECT h.id, 'CPU', 'CORES', 8 * power(2, abs(hashtext(h.hostname)) % 4), 4, 1 FROM host h
       UNION ALL SELECT h.id, 'RAM', 'BYTES', 16 * power(2, abs(hashtext(h.hostname)) % 4) * ${GiB}::float8, 1, 1 FROM host h`,
    );
    await ds.query(
      `INSERT INTO share ("hostId", "groupId", kind, quotas, "cpuWeight")
       SELECT h.id, g, 'CUSTOM', jsonb_build_object('CPU', c.total * c."allocationRatio" / ${TENANTS}, 'RAM', r.total * r."allocationRatio" / ${TENANTS}), 100
       FROM host h JOIN resource c ON c."hostId" = h.id AND c.type = 'CPU' JOIN resource r ON r."hostId" = h.id AND r.type = 'RAM', unnest($1::uuid[]) AS g`,
      [tenants],
    );
    line('setup (groups, sites, hosts, resources, shares)', `${((performance.now() - t0) / 1000).toFixed(1)} s`);

    // Phase 0: the scheduler alone, in memory, deciding the requests the batches will send, on
    // the inventory they start from (the database is left as it is), before the gateway has placed
    // anything (its code is then as the gateway's first placements find it).
    const empty = await schedulerOnly(ds, tenants, REQUESTS, 0);
    line(`scheduler-only decisions/s (batched requests)`, empty.perSecond.toFixed(0), `(${empty.decided} of ${REQUESTS} placeable)`);

    // Warm-up of the batch path (not counted): the same clients and the same kind of requests as the
    // batches below, leased for a second, then expired as the lease sweep does (one statement per
    // 1,000), so the batches start from the inventory the scheduler alone decided on.
    const batchJob: ClientJob = { kind: 'batch', url: gateway.graphqlUrl, token, tenants, from: 0, count: REQUESTS, clients: BATCH_CLIENTS, batch: BATCH };
    const warmupStarted = performance.now();
    const batchWarmup = await runClients({ ...batchJob, from: WARMUP_FROM, count: BATCH_WARMUP, leaseSeconds: 1 });
    await sleep(Math.max(0, 1100 - (performance.now() - warmupStarted - batchWarmup.seconds * 1000)));
    while ((await gateway.services.placement.expireLeases()) > 0);
    const [left] = await ds.query(`SELECT count(*) FILTER (WHERE status = 'ACTIVE')::int AS active, count(*) FILTER (WHERE status = 'EXPIRED')::int AS expired FROM allocation`);
    line(`warm-up (not counted): ${BATCH_WARMUP} batched, leased 1 s`, `${batchWarmup.placed} placed`, `(${(batchWarmup.placed / batchWarmup.seconds).toFixed(0)}/s; ${left.expired} expired, ${left.active} left)`);
    if (left.active !== 0) throw new Error(`the warm-up's allocations did not all expire: ${left.active} still ACTIVE`);

    // Phase 1: batches through GraphQL allocateMany, sent by clients in a separate process (so the
    // gateway's process is not also the load generator).
    const database = new URL(databaseUrl).pathname.slice(1);
    const pgBefore = await readPostgresCpu(database);
    const batchCpuBefore = process.cpuUsage();
    const faultsBefore = process.resourceUsage().minorPageFault;
    let heapBytes: number | undefined;
    const batchRun = process.env.BENCH_BATCH_PROFILE
      ? await withCpuProfile(process.env.BENCH_BATCH_PROFILE, () => runClients(batchJob))
      : process.env.BENCH_BATCH_HEAP_PROFILE
        ? await withHeapProfile(process.env.BENCH_BATCH_HEAP_PROFILE, () => runClients(batchJob)).then(({ result, bytes }) => ((heapBytes = bytes), result))
        : await runClients(batchJob);
    const batchCpu = process.cpuUsage(batchCpuBefore);
    const batchFaults = process.resourceUsage().minorPageFault - faultsBefore;
    const { ms: batchPgMs, exited: pgExited } = await postgresCpuMsSince(pgBefore, database);
    const placed = batchRun.placed;
    const rate = placed / batchRun.seconds;
    line('batched requests placed', `${placed} / ${REQUESTS}`);
    if (Object.keys(batchRun.refused).length) line('batched requests refused', JSON.stringify(batchRun.refused));
    line('persisted placements/s (GraphQL allocateMany)', rate.toFixed(0), `≥ ${GOAL_PLACEMENTS}`, rate >= GOAL_PLACEMENTS);
    line('  ratio to the scheduler alone, same requests', (rate / empty.perSecond).toFixed(2), '(the cost of GraphQL, HTTP and PostgreSQL)');
    const perPlacement = (ms: number) => `${((ms * 1000) / Math.max(placed, 1)).toFixed(0)} µs`;
    line('  CPU per placement: gateway / PostgreSQL', `${perPlacement((batchCpu.user + batchCpu.system) / 1000)} / ${perPlacement(batchPgMs)}`, `(scheduler alone: ${(1e6 / empty.perSecond).toFixed(0)} µs; load ${loadavg()[0]!.toFixed(2)}${pgExited ? `; ${pgExited} PostgreSQL backend(s) exited meanwhile, their CPU not counted` : ''})`);
    if (heapBytes !== undefined) line('  bytes allocated per placement: gateway', `${(heapBytes / Math.max(placed, 1) / 1024).toFixed(1)} KiB`, '(sampled by the heap profiler)');
    line('  minor page faults per placement: gateway', (batchFaults / Math.max(placed, 1)).toFixed(2), '(memory touched for the first time: each costs CPU in the kernel)');
    // The load clients share the machine's cores with the gateway and PostgreSQL: their part too.
    line('  CPU per placement: load clients', perPlacement(batchRun.cpuMs), `(${availableParallelism()} cores)`);

    // Phase 2: single allocate under concurrent clients, after a warm-up of the same kind (not
    // counted: the allocate path's first calls are compiled and its connections opened meanwhile).
    const warmup = await runClients({ kind: 'single', url: gateway.graphqlUrl, token, tenants, from: REQUESTS, count: WARMUP, clients: SINGLE_CLIENTS, batch: 1 });
    const warmupLatencies = warmup.latencies.sort((a, b) => a - b);
    line(`warm-up (not counted): ${WARMUP} single, p50 / p99`, `${percentile(warmupLatencies, 50).toFixed(1)} / ${percentile(warmupLatencies, 99).toFixed(1)} ms`);
    // The gateway runs in this process: its CPU per request is this process's CPU over the phase.
    const cpuBefore = process.cpuUsage();
    const singleRun = await runClients({ kind: 'single', url: gateway.graphqlUrl, token, tenants, from: REQUESTS + WARMUP, count: SINGLE, clients: SINGLE_CLIENTS, batch: 1 });
    const cpu = process.cpuUsage(cpuBefore);
    const latencies = singleRun.latencies.sort((a, b) => a - b);
    const singleRefused = SINGLE - singleRun.placed;
    line(`single allocate p50 (${SINGLE_CLIENTS} clients)`, `${percentile(latencies, 50).toFixed(1)} ms`);
    line(`single allocate p99 (${SINGLE_CLIENTS} clients)`, `${percentile(latencies, 99).toFixed(1)} ms`, `≤ ${GOAL_P99_MS} ms`, percentile(latencies, 99) <= GOAL_P99_MS);
    line('single allocate p90 / p99.9 / max', [percentile(latencies, 90), percentile(latencies, 99.9), latencies[latencies.length - 1]!].map((v) => v.toFixed(1)).join(' / ') + ' ms');
    line('single allocate throughput', `${(singleRun.placed / singleRun.seconds).toFixed(0)} /s`);
    line('gateway CPU per single allocate', `${((cpu.user + cpu.system) / 1000 / SINGLE).toFixed(3)} ms`);
    if (singleRefused) line('single allocate refused', String(singleRefused));

    // Optional: a CPU profile of more single allocates of the same kind, in a window of its own.
    const profiled = process.env.BENCH_CPU_PROFILE ? PROFILED : 0;
    const profiledRun = process.env.BENCH_CPU_PROFILE ? await withCpuProfile(process.env.BENCH_CPU_PROFILE, () => runClients({ kind: 'single', url: gateway.graphqlUrl, token, tenants, from: REQUESTS + WARMUP + SINGLE, count: profiled, clients: SINGLE_CLIENTS, batch: 1 })) : undefined;

    // Phase 3: the scheduler alone, on the inventory as it now is (fuller than any batch saw).
    const filled = await schedulerOnly(ds, tenants, DECISIONS, REQUESTS + WARMUP + SINGLE + profiled);
    line(`scheduler-only decisions/s (filled inventory)`, filled.perSecond.toFixed(0), `(${filled.decided} of ${DECISIONS} placeable)`);

    // Self-check, from the database.
    const checks = await capacityChecks((q, p) => ds.query(q, p));
    const [persisted] = await ds.query(`SELECT count(*)::int AS n FROM allocation WHERE status = 'ACTIVE'`);
    const expected = placed + warmup.placed + singleRun.placed + (profiledRun?.placed ?? 0);
    for (const c of checks) line(`self-check: ${c.check}`, String(c.count), '0', c.count === 0);
    line('self-check: persisted allocations', String(persisted.n), String(expected), persisted.n === expected);
    if (broken(checks).length || persisted.n !== expected) process.exitCode = 1;
  } finally {
    await gateway.close();
    await rm(dataDir, { recursive: true, force: true });
    await dropDatabase?.();
  }
}

/**
 * The scheduler alone on the inventory read from the database, in memory: `count` requests from
 * index `from`, planned in rounds of BATCH as the service plans a group (one host list and one
 * scan cursor per round), each placement charged to the in-memory picture.
 */
async function schedulerOnly(ds: DataSource, tenants: string[], count: number, from: number): Promise<{ perSecond: number; decided: number }> {
  const hostList = [...(await loadHostViews(ds)).values()];
  const started = performance.now();
  let decided = 0;
  let cursor = { at: 0 };
  for (let i = 0; i < count; i++) {
    if (i % BATCH === 0) cursor = { at: Math.floor(Math.random() * hostList.length) };
    const r = randomRequest(tenants, from + i);
    const ask = placementAsk({ resources: r.resources as ResourceWant[], technologies: r.technologies, requiredProperties: [], antiAffinity: AntiAffinity.NONE, replicas: 1, hostIds: [] }, r.groupId, r.guarantee as AllocationGuarantee);
    if (placeReplicas(hostList, ask, { cursor }).placed) decided++;
  }
  return { perSecond: count / ((performance.now() - started) / 1000), decided };
}

// The gateway runs in this process: run it with the flags `npm start` serves it with.
runWithGatewayFlags(__filename, main);
