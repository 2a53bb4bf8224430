// First, as rsp's CLI does: graphql-js in production mode unless NODE_ENV is set (measured as served).
import '../gateway/server/graphql-production';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { Client } from 'pg';
import { createRootfsTar } from '../drivers/fake';
import { TRANSIENT_STATUSES } from '../gateway/environments/state-machine';
import type { EnvironmentStatus } from '../gateway/persistence/entities';
import { ROOT } from '../test/helpers/cli';
import { broken, capacityChecks, lifecycleChecks, pgRows, type ConsistencyCount } from '../test/helpers/consistency';
import { serveGateway, type ServedGateway } from '../test/helpers/served-gateway';
import { SubscriptionPool } from './soak-subscriptions';
import { freshDatabase } from './fresh-database';
import { CutRequest, SoakTraffic, type MinuteCounts, type Reply } from './soak-traffic';

/**
 * Soak (issue 21): an `rsp serve` process on a fresh PostgreSQL database (created and dropped
 * here) under mixed load for SOAK_MINUTES (10): queries, environments created, started, migrated,
 * stopped and destroyed (with implicit allocations) and environments on explicit allocations,
 * allocations placed and released, image uploads, and 1,000 graphql-ws subscriptions (host and
 * site metrics, events, operation updates) — while the gateway is killed with SIGKILL every
 * SOAK_KILL_EVERY (60-120) s at a random point and restarted on the same port; clients wait and
 * reconnect. The drivers are the fake one slowed by test/fixtures/plugins/slow-driver.js, so
 * kills land inside driver calls. Prints the gateway's RSS per minute (min / max) and per life,
 * HTTP statuses and GraphQL error codes per minute, and at the end every consistency check of
 * test/helpers/consistency.ts; exits 1 when one fails, when an answer was a 5xx or an
 * INTERNAL_SERVER_ERROR (or an operation ended with one), a connection failed while the gateway was up, a subscription did not
 * deliver again after the last restart, RSS passed SOAK_RSS_LIMIT_MIB (1024), or the gateway did
 * not stop on SIGTERM within 5 s.
 *
 * Usage: npm run bench:soak [-- --minutes=2 --kill-every=20-40]
 * Knobs (arguments or environment): --minutes / SOAK_MINUTES, --kill-every / SOAK_KILL_EVERY
 * (seconds, min-max), SOAK_SUBSCRIPTIONS (1000), SOAK_SOCKETS (50), SOAK_DRIVER_DELAY_MS (400),
 * SOAK_RSS_LIMIT_MIB (1024), BENCH_ADMIN_URL (the PostgreSQL server, default 127.0.0.1 as postgres).
 */
const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const MINUTES = Number(args.minutes ?? process.env.SOAK_MINUTES ?? 10);
const [KILL_MIN_S, KILL_MAX_S] = (args['kill-every'] ?? process.env.SOAK_KILL_EVERY ?? '60-120').split('-').map(Number) as [number, number];
const SUBSCRIPTIONS = Number(process.env.SOAK_SUBSCRIPTIONS ?? 1000);
const SOCKETS = Number(process.env.SOAK_SOCKETS ?? 50);
const DRIVER_DELAY_MS = Number(process.env.SOAK_DRIVER_DELAY_MS ?? 400);
const RSS_LIMIT_MIB = Number(process.env.SOAK_RSS_LIMIT_MIB ?? 1024);
/** No kill in the run's last this many seconds: subscriptions get to deliver again before the end. */
const QUIET_END_S = 30;
const ENV_WORKERS = 6;
const ALLOCATION_WORKERS = 2;
const QUERY_WORKERS = 3;
const MiB = 2 ** 20;
const GiB = 2 ** 30;
const ENDED = ['SUCCEEDED', 'FAILED', 'CANCELLED'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;

/** A free TCP port on 127.0.0.1: every life of the gateway listens on it, so sockets reconnect to one URL. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The gateway's resident set in bytes, from /proc (undefined once it is gone). */
async function rssOf(pid: number | undefined): Promise<number | undefined> {
  if (!pid) return undefined;
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = /VmRSS:\s+(\d+)/.exec(status)?.[1];
  return kb ? Number(kb) * 1024 : undefined;
}

/** One RSS sample: seconds since the start, bytes, and which life of the gateway it was. */
interface RssSample {
  at: number;
  rss: number;
  life: number;
}

/** One kill: when (s since the start) and how long the restart took until the banner (ms). */
interface Kill {
  at: number;
  restartMs: number;
}

/** The world the load works in. */
interface World {
  group: string;
  site: string;
  hosts: [string, string];
  image: string;
}

const mib = (bytes: number) => (bytes / MiB).toFixed(0);

async function main(): Promise<void> {
  const runMs = MINUTES * 60_000;
  const loadBefore = loadavg();
  const db = await freshDatabase();
  const dataDir = await mkdtemp(join(tmpdir(), 'rsp-bench-soak-'));
  const delayFile = join(dataDir, 'driver-delay-ms');
  writeFileSync(delayFile, String(DRIVER_DELAY_MS));
  const port = await freePort();
  const env = {
    DATABASE_URL: db.url,
    LOG_FORMAT: 'json',
    LOG_LEVEL: 'warn',
    RSP_DRIVERS: 'fake',
    RSP_AGENTS: 'a,b',
    RSP_PLUGINS: join(ROOT, 'test', 'fixtures', 'plugins', 'slow-driver.js'),
    RSP_PLUGIN_OPTIONS: JSON.stringify({ 'slow-driver': { delayFile } }),
    RSP_REPLICATION_INTERVAL_MS: '0',
    RSP_LOCAL_HOST: 'soak-local',
  };
  const sqlClient = new Client({ connectionString: db.url });
  let gw: ServedGateway | undefined;
  const logErrors: string[] = [];
  let logErrorCount = 0;
  /** Counts the error lines (pino level ≥ 50) a life of the gateway logged. */
  const collectLog = (life: ServedGateway) => {
    const { stdout, stderr } = life.server.output();
    for (const line of `${stdout}\n${stderr}`.split('\n')) {
      if (!/"level":(50|60)/.test(line)) continue;
      logErrorCount += 1;
      if (logErrors.length < 10) logErrors.push(line.slice(0, 400));
    }
  };
  try {
    gw = await serveGateway({ dataDir, env, port });
    await sqlClient.connect();
    const sql = pgRows(sqlClient);
    const token = gw.token;
    console.log(`soak: ${MINUTES} min, SIGKILL every ${KILL_MIN_S}-${KILL_MAX_S} s, ${SUBSCRIPTIONS} subscriptions on ${SOCKETS} sockets, driver calls held ${DRIVER_DELAY_MS} ms, PostgreSQL; ${cpus().length} cores, load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')}`);

    const world = await buildWorld(gw);
    // The run's clock starts with the load: minutes of traffic, events and RSS count from here.
    const started = Date.now();
    const seconds = () => (Date.now() - started) / 1000;
    const traffic = new SoakTraffic(gw.url, token);
    const localHost = (await gw.ok('{ hosts(first: 10) { nodes { id hostname } } }')).hosts.nodes.find((h: { hostname: string }) => h.hostname === 'soak-local').id as string;
    const share = (n: number) => Math.round(SUBSCRIPTIONS * n);
    const pool = new SubscriptionPool(gw.graphqlUrl.replace(/^http/, 'ws'), token, [
      { name: 'hostMetrics', query: 'subscription ($h: ID!) { hostMetrics(hostId: $h) { at cpu { usage } } }', variables: { h: localHost }, count: share(0.5) },
      { name: 'siteMetrics', query: 'subscription ($s: ID!) { siteMetrics(siteId: $s) { at } }', variables: { s: world.site }, count: share(0.3) },
      { name: 'events', query: 'subscription { events { kind } }', count: share(0.1) },
      { name: 'operationUpdated', query: 'subscription { operationUpdated { id state progress } }', count: SUBSCRIPTIONS - share(0.5) - share(0.3) - share(0.1) },
    ], SOCKETS);

    // The RSS of whichever life of the gateway is running, every 2 s.
    const rss: RssSample[] = [];
    let life = 0;
    const sampler = setInterval(() => {
      const at = seconds();
      const l = life;
      void rssOf(gw?.server.child.pid).then((bytes) => bytes && rss.push({ at, rss: bytes, life: l }));
    }, 2000);

    let stopping = false;
    const load = new Load(traffic, world, () => stopping);
    const workers = [
      ...Array.from({ length: ENV_WORKERS }, (_, w) => load.environments(w)),
      ...Array.from({ length: ALLOCATION_WORKERS }, (_, w) => load.allocations(w)),
      ...Array.from({ length: QUERY_WORKERS }, () => load.queries()),
      load.uploads(),
    ];

    // Kills at random points, none in the last QUIET_END_S seconds.
    const kills: Kill[] = [];
    let lastUp = Date.now();
    while (true) {
      const wait = (KILL_MIN_S + Math.random() * (KILL_MAX_S - KILL_MIN_S)) * 1000;
      if (Date.now() + wait > started + runMs - QUIET_END_S * 1000) break;
      await sleep(wait);
      const at = seconds();
      traffic.down();
      await gw.kill9();
      collectLog(gw);
      const t0 = Date.now();
      gw = await serveGateway({ dataDir, env, port, token });
      life += 1;
      lastUp = Date.now();
      traffic.up(gw.url);
      kills.push({ at, restartMs: lastUp - t0 });
      console.log(`  ${at.toFixed(0)} s: SIGKILL, back in ${lastUp - t0} ms`);
    }
    await sleep(Math.max(0, started + runMs - Date.now()));
    const delivering = pool.deliveringSince(lastUp);
    stopping = true;
    await Promise.all(workers);
    clearInterval(sampler);
    await pool.close();
    const loadAfter = loadavg();

    // Work still in flight once the load stopped ends within 2 minutes; then every check.
    const deadline = Date.now() + 120_000;
    let lifecycle = await lifecycleChecks(sql);
    while (broken(lifecycle).length && Date.now() < deadline) {
      await sleep(1000);
      lifecycle = await lifecycleChecks(sql);
    }
    const capacity = await capacityChecks(sql);
    const operations = await sql(`SELECT kind, state, count(*)::int AS n, count(*) FILTER (WHERE "errorMessage" LIKE 'Interrupted:%')::int AS interrupted FROM operation GROUP BY 1, 2 ORDER BY 1, 2`);
    const [internal] = await sql(`SELECT count(*)::int AS n FROM operation WHERE "errorCode" = 'INTERNAL_SERVER_ERROR'`);
    const failures = await sql(`SELECT kind, "errorCode" AS code, left(regexp_replace("errorMessage", '; it had started at [^)]*', ''), 120) AS message, count(*)::int AS n FROM operation WHERE state = 'FAILED' GROUP BY 1, 2, 3 ORDER BY 4 DESC LIMIT 12`);
    const environments = await sql(`SELECT status, count(*)::int AS n FROM environment GROUP BY 1 ORDER BY 1`);

    // A clean stop at the end.
    const stopAt = Date.now();
    gw.server.child.kill('SIGTERM');
    const stop = await Promise.race([gw.server.exited, sleep(5000).then(() => undefined)]);
    const stopMs = Date.now() - stopAt;
    collectLog(gw);
    if (!stop) await gw.kill9();

    report({ traffic, pool, rss, kills, lifecycle, capacity, operations, failures, internalOperations: internal!.n as number, environments, delivering, stop: stop ? { code: stop.code, ms: stopMs } : undefined, loadBefore, loadAfter, load, logErrors, logErrorCount });
  } finally {
    if (gw?.alive()) await gw.kill9();
    await sqlClient.end().catch(() => undefined);
    await db.drop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** A group, a site, two hosts of the slow driver (agents a and b) with capacity, this machine's host record, and an image. */
async function buildWorld(gw: ServedGateway): Promise<World> {
  const group = (await gw.ok('mutation { createGroup(input: { slug: "soak", name: "Soak" }) { id } }')).createGroup.id as string;
  const site = (await gw.ok('mutation ($g: ID!) { createSite(input: { name: "soak", ownerGroupId: $g }) { id } }', { g: group })).createSite.id as string;
  const host = async (hostname: string, agent: string | undefined, drivers: string[]) => (await gw.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: site, ownerGroupId: group, hostname, drivers, agent } })).createHost.id as string;
  const hosts: [string, string] = [await host('host-a', 'a', ['slow']), await host('host-b', 'b', ['slow'])];
  await host('soak-local', undefined, ['fake']);
  for (const h of hosts) {
    for (const [type, unit, total] of [['CPU', 'CORES', 64], ['RAM', 'BYTES', 256 * GiB], ['DISK', 'BYTES', 1024 * GiB]] as const) {
      await gw.ok('mutation ($i: CreateResourceInput!) { createResource(input: $i) { id } }', { i: { hostId: h, type, unit, total } });
    }
  }
  const image = (await gw.ok('mutation ($g: ID!) { registerImage(input: { vendorGroupId: $g, name: "soak", version: "1", technology: "slow" }) { id } }', { g: group })).registerImage.id as string;
  const res = await fetch(`${gw.url}/images/${image}/content`, { method: 'PUT', headers: { 'content-type': 'application/x-tar', authorization: `Bearer ${gw.token}` }, body: new Uint8Array(createRootfsTar({ '/etc/hostname': 'soak' })) });
  if (res.status !== 200) throw new Error(`image upload: HTTP ${res.status} ${await res.text()}`);
  return { group, site, hosts, image };
}

/** The soak's load loops, all through one `SoakTraffic`, and what they did. */
class Load {
  /** Environment lives run by the workers, and those a worker gave up on before DESTROYED. */
  readonly lives = { environments: 0, leftBehind: 0, allocations: 0, uploads: 0, queries: 0, stepsNeverEnded: 0 };

  constructor(
    private readonly traffic: SoakTraffic,
    private readonly world: World,
    private readonly stopping: () => boolean,
  ) {}

  /** Environments made (with limits: an implicit allocation), started, sometimes migrated, stopped, destroyed, one after another. */
  async environments(worker: number): Promise<void> {
    for (let i = 0; !this.stopping(); i++) {
      const hostId = this.world.hosts[(worker + i) % 2]!;
      const created = await this.mutate('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: this.world.group, hostId, imageId: this.world.image, name: `w${worker}-${i}`, limits: { cpuQuota: 1, memoryBytes: 512 * MiB } } });
      if (!created) continue;
      await this.settle(created.createEnvironment.operation.id);
      await this.live(created.createEnvironment.environment.id, true);
    }
  }

  /** Allocations placed on a host; half run an environment (whose destroy releases them), half are released. */
  async allocations(worker: number): Promise<void> {
    for (let i = 0; !this.stopping(); i++) {
      const hostId = this.world.hosts[(worker + i) % 2]!;
      const placed = await this.mutate('mutation ($r: AllocationRequestInput!) { allocate(request: $r) { allocations { id } } }', { r: { groupId: this.world.group, mode: 'DIRECT', hostIds: [hostId], resources: [{ type: 'CPU', amount: 2, unit: 'CORES' }, { type: 'RAM', amount: GiB, unit: 'BYTES' }] } });
      const allocation = placed?.allocate.allocations[0]?.id as string | undefined;
      if (!allocation) continue;
      this.lives.allocations += 1;
      if (i % 2) {
        await sleep(500 + Math.random() * 1500);
        await this.mutate('mutation ($id: ID!) { releaseAllocation(id: $id) { id } }', { id: allocation });
        continue;
      }
      const created = await this.mutate('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: this.world.group, allocationId: allocation, imageId: this.world.image, name: `a${worker}-${i}` } });
      if (!created) {
        await this.mutate('mutation ($id: ID!) { releaseAllocation(id: $id) { id } }', { id: allocation });
        continue;
      }
      await this.settle(created.createEnvironment.operation.id);
      await this.live(created.createEnvironment.environment.id, false);
    }
  }

  /** Reads a client would make: lists, one environment, operations, capacity. */
  async queries(): Promise<void> {
    const reads = [
      '{ environments(first: 50) { totalCount nodes { id name status hostId limits { cpuQuota memoryBytes } } } }',
      '{ operations(first: 20) { totalCount nodes { id kind state progress error { code } } } }',
      '{ hosts(first: 10) { nodes { id hostname state resources { type total used } } } }',
      '{ resources(first: 20) { nodes { type used owners } } }',
      '{ gateway { version } viewer { name siteAdmin } }',
    ];
    while (!this.stopping()) {
      await this.call(pick(reads));
      this.lives.queries += 1;
      await sleep(50 + Math.random() * 100);
    }
  }

  /** An image version registered and its content uploaded (64 KiB of fresh bytes) every 2–4 s. */
  async uploads(): Promise<void> {
    for (let i = 2; !this.stopping(); i++) {
      const image = await this.mutate('mutation ($g: ID!, $v: String!) { registerImage(input: { vendorGroupId: $g, name: "soak", version: $v, technology: "slow" }) { id } }', { g: this.world.group, v: String(i) });
      if (image) {
        const tar = createRootfsTar({ '/etc/hostname': 'soak', '/data/blob': randomBytes(64 * 1024) });
        const status = await this.traffic.upload(image.registerImage.id, new Uint8Array(tar)).catch((e) => (e instanceof CutRequest ? undefined : Promise.reject(e)));
        if (status === 200) this.lives.uploads += 1;
      }
      await sleep(2000 + Math.random() * 2000);
    }
  }

  /**
   * Takes an environment from where it is to DESTROYED: start (once), migrate (sometimes, when
   * `migrate`), stop, destroy; a step that failed is not asked again, FAILED goes to destroy.
   */
  private async live(id: string, migrate: boolean): Promise<void> {
    this.lives.environments += 1;
    const done = new Set<string>();
    for (let n = 0; n < 12; n++) {
      const reply = await this.call('query ($id: ID!) { environment(id: $id) { status hostId } }', { id });
      const env = reply?.data?.environment as { status: string; hostId: string } | undefined;
      if (!env) continue;
      if (env.status === 'DESTROYED') return;
      if (TRANSIENT_STATUSES.has(env.status as EnvironmentStatus)) {
        await sleep(500);
        continue;
      }
      let step: string;
      if (['CREATED', 'STOPPED'].includes(env.status) && !done.has('start')) step = 'start';
      else if (env.status === 'RUNNING' && migrate && !done.has('migrate') && Math.random() < 0.3) step = 'migrate';
      else if (env.status === 'RUNNING' && !done.has('stop')) step = 'stop';
      else step = 'destroy';
      done.add(step);
      const op =
        step === 'migrate'
          ? await this.mutate('mutation ($id: ID!, $h: ID) { migrateEnvironment(id: $id, hostId: $h) { id } }', { id, h: this.world.hosts.find((h) => h !== env.hostId) })
          : await this.mutate(`mutation ($id: ID!) { ${step}Environment(id: $id) { id } }`, { id });
      if (op) await this.settle(Object.values(op)[0].id as string);
    }
    this.lives.leftBehind += 1;
  }

  /** Polls an operation until it ended (a kill ends it at the restart); gives up after 3 minutes. */
  private async settle(id: string): Promise<void> {
    const deadline = Date.now() + 180_000;
    while (Date.now() < deadline) {
      const reply = await this.call('query ($id: ID!) { operation(id: $id) { state } }', { id });
      if (ENDED.includes(reply?.data?.operation?.state)) return;
      await sleep(250);
    }
    this.lives.stepsNeverEnded += 1;
  }

  /** A mutation's data, or undefined when it was refused (counted by its code) or cut by a kill. */
  private async mutate(query: string, variables: Record<string, unknown>): Promise<Record<string, any> | undefined> {
    const reply = await this.call(query, variables);
    return reply?.errors?.length ? undefined : reply?.data;
  }

  /** One GraphQL call; undefined when a kill cut it. */
  private async call(query: string, variables: Record<string, unknown> = {}): Promise<Reply | undefined> {
    try {
      return await this.traffic.graphql(query, variables);
    } catch (e) {
      if (e instanceof CutRequest) return undefined;
      throw e;
    }
  }
}

/** Prints the figures and the checks; sets the exit code when one fails. */
function report(r: {
  traffic: SoakTraffic;
  pool: SubscriptionPool;
  rss: RssSample[];
  kills: Kill[];
  lifecycle: ConsistencyCount[];
  capacity: ConsistencyCount[];
  operations: Array<Record<string, any>>;
  failures: Array<Record<string, any>>;
  internalOperations: number;
  environments: Array<Record<string, any>>;
  delivering: number;
  stop: { code: number; ms: number } | undefined;
  loadBefore: number[];
  loadAfter: number[];
  load: Load;
  logErrors: string[];
  logErrorCount: number;
}): void {
  const minutes = r.traffic.minutes;
  const sum = (pick: (m: MinuteCounts) => number) => minutes.reduce((n, m) => n + pick(m), 0);
  const byClass = (m: MinuteCounts, c: number) => Object.entries(m.statuses).filter(([s]) => Math.floor(Number(s) / 100) === c).reduce((n, [, v]) => n + v, 0);
  console.log('\nminute  RSS min–max MiB  kills  requests    2xx    4xx  5xx  killed  net-err  sub events');
  for (let i = 0; i < Math.max(minutes.length, Math.ceil((r.rss.at(-1)?.at ?? 0) / 60)); i++) {
    const samples = r.rss.filter((s) => s.at >= i * 60 && s.at < (i + 1) * 60).map((s) => s.rss);
    const m = minutes[i] ?? { requests: 0, statuses: {}, codes: {}, killed: 0, networkErrors: 0 };
    const range = samples.length ? `${mib(Math.min(...samples))}–${mib(Math.max(...samples))}` : '–';
    console.log(`${String(i + 1).padStart(6)}  ${range.padStart(15)}  ${String(r.kills.filter((k) => k.at >= i * 60 && k.at < (i + 1) * 60).length).padStart(5)}  ${String(m.requests).padStart(8)}  ${String(byClass(m, 2)).padStart(5)}  ${String(byClass(m, 4)).padStart(5)}  ${String(byClass(m, 5)).padStart(3)}  ${String(m.killed).padStart(6)}  ${String(m.networkErrors).padStart(7)}  ${String(r.pool.counts.eventsPerMinute[i] ?? 0).padStart(10)}`);
  }
  const lives = [...new Set(r.rss.map((s) => s.life))];
  console.log('\nlife  from s  to s  RSS first–max MiB');
  for (const l of lives) {
    const s = r.rss.filter((x) => x.life === l);
    console.log(`${String(l + 1).padStart(4)}  ${s[0]!.at.toFixed(0).padStart(6)}  ${s.at(-1)!.at.toFixed(0).padStart(4)}  ${`${mib(s[0]!.rss)}–${mib(Math.max(...s.map((x) => x.rss)))}`.padStart(17)}`);
  }
  const maxRss = Math.max(...r.rss.map((s) => s.rss));
  const restarts = r.kills.map((k) => k.restartMs).sort((a, b) => a - b);
  const statuses: Record<string, number> = {};
  const codes: Record<string, number> = {};
  for (const m of minutes) {
    for (const [k, v] of Object.entries(m.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
    for (const [k, v] of Object.entries(m.codes)) codes[k] = (codes[k] ?? 0) + v;
  }
  console.log(`\nload average before ${r.loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${r.loadAfter.map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`kills: ${r.kills.length}, restart to banner ${restarts.length ? `${restarts[0]}–${restarts.at(-1)} ms (median ${restarts[Math.floor(restarts.length / 2)]})` : '–'}`);
  console.log(`requests: ${sum((m) => m.requests)}, HTTP statuses ${JSON.stringify(statuses)}, killed ${sum((m) => m.killed)}, connection errors while up ${sum((m) => m.networkErrors)}`);
  console.log(`GraphQL error codes: ${JSON.stringify(codes)}${Object.entries(r.traffic.codeSamples).map(([code, samples]) => `\n  ${code}: ${samples.join(' | ')}`).join('')}`);
  console.log(`load: ${JSON.stringify(r.load.lives)}`);
  console.log(`subscriptions: ${r.pool.size} on ${r.pool.counts.connects} socket connects, ${r.pool.counts.eventsPerMinute.reduce((a, b) => a + b, 0)} events, ${r.pool.counts.errors} ended by an error ${JSON.stringify(r.pool.counts.errorSamples)}`);
  console.log(`operations: ${r.operations.map((o) => `${o.kind} ${o.state} ${o.n}${o.interrupted ? ` (${o.interrupted} interrupted)` : ''}`).join(', ')}`);
  console.log(`operations FAILED, by reason:${r.failures.map((f) => `\n  ${String(f.n).padStart(5)}  ${f.kind} ${f.code}: ${f.message}`).join('')}`);
  console.log(`environments: ${r.environments.map((e) => `${e.status} ${e.n}`).join(', ')}`);
  console.log(`gateway error log lines: ${r.logErrorCount}${r.logErrors.map((l) => `\n  ${l}`).join('')}`);
  if (r.traffic.failures.length) console.log(`failures (first ${r.traffic.failures.length}):\n  ${r.traffic.failures.join('\n  ')}`);

  const checks: Array<{ check: string; value: string; ok: boolean }> = [
    ...[...r.lifecycle, ...r.capacity].map((c) => ({ check: c.check, value: String(c.count), ok: c.count === 0 })),
    { check: '5xx answers', value: String(sum((m) => byClass(m, 5))), ok: sum((m) => byClass(m, 5)) === 0 },
    { check: 'INTERNAL_SERVER_ERROR answers', value: String(codes.INTERNAL_SERVER_ERROR ?? 0), ok: !codes.INTERNAL_SERVER_ERROR },
    { check: 'operations FAILED INTERNAL_SERVER_ERROR', value: String(r.internalOperations), ok: r.internalOperations === 0 },
    { check: 'connection errors while the gateway was up', value: String(sum((m) => m.networkErrors)), ok: sum((m) => m.networkErrors) === 0 },
    { check: 'operations a client waited 3 min for in vain', value: String(r.load.lives.stepsNeverEnded), ok: r.load.lives.stepsNeverEnded === 0 },
    { check: 'subscriptions delivering after the last restart', value: `${r.delivering} / ${r.pool.size}`, ok: r.delivering === r.pool.size },
    { check: `gateway RSS max (limit ${RSS_LIMIT_MIB} MiB)`, value: `${mib(maxRss)} MiB`, ok: maxRss <= RSS_LIMIT_MIB * MiB },
    { check: 'SIGTERM stop (exit 0 within 5 s)', value: r.stop ? `exit ${r.stop.code} in ${r.stop.ms} ms` : 'still running', ok: r.stop?.code === 0 },
  ];
  console.log('\ncheck                                               value');
  for (const c of checks) console.log(`${c.check.padEnd(50)}  ${c.value.padStart(14)}  ${c.ok ? '✓' : '✗'}`);
  if (checks.some((c) => !c.ok)) process.exitCode = 1;
}

void main().catch((e) => {
  console.error(e);
  process.exit(1);
});
