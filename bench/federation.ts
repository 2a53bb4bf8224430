// First, as rsp's CLI does: graphql-js in production mode unless NODE_ENV is set (measured as served).
import '../gateway/server/graphql-production';
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRootfsTar } from '../drivers/fake';
import { addFederationGroup, joinSite } from '../gateway/federation/config';
import { federationGuardSettings } from '../gateway/federation/guards';
import { startFederationGateway } from '../gateway/federation/server';
import { ask } from './child-ask';
import { withCpuProfile } from './cpu-profile';
import type { SiteReady } from './federation-site';
import { UNLIMITED } from './unlimited';

/**
 * Issue 25's figures, over three sites, each its own process as independent deployments are
 * (bench/federation-site: a gateway on PGlite, fake driver), and `rsp federate` in this process,
 * each measured against its baseline in the same run:
 * - by-id: `host(id)` through `rsp federate` (its global id, `b:<id>`) against the same query straight to the site; the
 *   requests alternate (one direct, one federated) so both see the same load. Goal: ratio ≤ 1.3
 *   at p50, ≤ 1.5 at p99. Also printed: the federation's own CPU a request (less sensitive to the
 *   machine's load than the latencies).
 * - hosts: listing every host (`hosts`, pages of 500) of 3 sites × BENCH_HOSTS hosts through the
 *   federation against listing each site's straight; each round lists each site and the
 *   federation once, in a rotating order. Goal: p99 through the federation ≤ 2× the slowest site's.
 * - events: BENCH_SUBSCRIBERS (1,000) graphql-ws subscribers of `events` at the federation (in a
 *   process of their own, bench/metrics-fanout-clients), while each site restarts an environment
 *   of the fake driver every BENCH_EVENT_INTERVAL_MS (each restart: a few events); the latency is
 *   from the event's `at` at its site to its arrival at a subscriber. Baseline, same run and the
 *   same events: as many subscribers straight to site a. Goal: p99 ≤ 200 ms at the federation.
 *
 * Knobs (environment): BENCH_FIGURES (by-id,hosts,events), BENCH_REQUESTS (by-id: 2000 of each),
 * BENCH_HOSTS (hosts per site: 1000), BENCH_ROUNDS (hosts: 200), BENCH_SUBSCRIBERS (1000),
 * BENCH_EVENT_INTERVAL_MS (250), BENCH_EVENT_SECONDS (events: 20 per stage); BENCH_CPU_PROFILE=path:
 * after the by-id figure, a CPU profile of this process (the federation) over as many federated
 * by-id requests again, in a window of its own; BENCH_HOSTS_CPU_PROFILE=path: after the hosts figure, one
 * over BENCH_ROUNDS federated listings again.
 * The listed hosts are registered for agents of their own (`agent: "<site>-agent-<n>"`, never
 * connected: UNKNOWN), as the machines of a real site are; only the first is this site's own.
 */
const FIGURES = (process.env.BENCH_FIGURES ?? 'by-id,hosts,events').split(',');
const REQUESTS = Number(process.env.BENCH_REQUESTS) || 2000;
const HOSTS = Number(process.env.BENCH_HOSTS) || 1000;
const ROUNDS = Number(process.env.BENCH_ROUNDS) || 200;
const SUBSCRIBERS = Number(process.env.BENCH_SUBSCRIBERS) || 1000;
const EVENT_INTERVAL_MS = Number(process.env.BENCH_EVENT_INTERVAL_MS) || 250;
const EVENT_SECONDS = Number(process.env.BENCH_EVENT_SECONDS) || 20;
const EVENTS = 'subscription { events { kind at dropped } }';
const QUERY = 'query ($id: ID!) { host(id: $id) { id hostname state drivers } }';
const LIST = 'query ($after: String) { hosts(first: 500, after: $after) { nodes { id hostname state } pageInfo { hasNextPage endCursor } } }';
/** Hosts created per request (aliased createHost mutations, within the default RSP_MAX_QUERY_ALIASES). */
const HOST_BATCH = 50;

async function main(): Promise<void> {
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  const sites = [];
  for (const name of ['a', 'b', 'c']) {
    const dataDir = await mkdtemp(join(tmpdir(), `rsp-bench-fed-${name}-`));
    dirs.push(dataDir);
    const child = fork(join(__dirname, 'federation-site.js'), [], { env: { ...process.env, RSP_DATA_DIR: dataDir }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push(child);
    const [gateway] = (await Promise.race([once(child, 'message'), once(child, 'exit').then(([code]) => Promise.reject(new Error(`site ${name} exited with ${code} before listening`)))])) as [SiteReady];
    const admin = caller(gateway.graphqlUrl, gateway.bootstrapToken);
    const { createGroup } = await admin(`mutation { createGroup(input: { name: "Lab ${name}", slug: "lab-${name}" }) { id } }`);
    const { createSite } = await admin('mutation ($g: ID!, $n: String!) { createSite(input: { name: $n, ownerGroupId: $g }) { id } }', { g: createGroup.id, n: `site-${name}` });
    const { createHost } = await admin('mutation ($s: ID!, $g: ID!, $h: String!) { createHost(input: { siteId: $s, ownerGroupId: $g, hostname: $h, drivers: ["fake"] }) { id } }', { s: createSite.id, g: createGroup.id, h: `${name}-host` });
    if (FIGURES.includes('hosts')) {
      for (let first = 1; first < HOSTS; first += HOST_BATCH) {
        const numbers = Array.from({ length: Math.min(HOST_BATCH, HOSTS - first) }, (_, i) => first + i);
        await admin(`mutation ($s: ID!, $g: ID!) { ${numbers.map((n) => `h${n}: createHost(input: { siteId: $s, ownerGroupId: $g, hostname: "${name}-host-${n}", agent: "${name}-agent-${n}", drivers: ["fake"] }) { id }`).join(' ')} }`, { s: createSite.id, g: createGroup.id });
      }
    }
    const { createToken } = await admin('mutation ($g: ID!) { createToken(input: { groupId: $g, name: "federation", role: MEMBER }) { secret } }', { g: createGroup.id });
    const environmentId = FIGURES.includes('events') ? await fakeEnvironment(gateway, createToken.secret, createGroup.id, createHost.id) : '';
    sites.push({ name, gateway, hostId: createHost.id as string, token: createToken.secret as string, environmentId });
  }
  const added = addFederationGroup({ sites: [], groups: [] }, 'alliance');
  const config = sites.reduce((c, s) => joinSite(c, { site: s.name, url: s.gateway.graphqlUrl, group: 'alliance', token: s.token }), added.config);
  const federation = await startFederationGateway(config, { port: 0, guards: federationGuardSettings({ ...process.env, ...UNLIMITED }) });
  try {
    console.log(`3 sites in 3 processes, the federation in this one; load ${loadavg()[0]!.toFixed(1)} at the start`);
    if (FIGURES.includes('by-id')) await byId(sites[1]!, caller(federation.graphqlUrl, added.key));
    if (FIGURES.includes('hosts')) await hostsListing(sites.map((s) => caller(s.gateway.graphqlUrl, s.token)), caller(federation.graphqlUrl, added.key));
    if (FIGURES.includes('events')) await eventsRelay(sites, { url: federation.graphqlUrl, token: added.key });
  } finally {
    await federation.close();
    await Promise.all(children.map(async (child) => {
      const exited = once(child, 'exit');
      child.disconnect();
      await exited;
    }));
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  }
}

/** The by-id figure: host(id) straight to `target` and through the federation, alternating. */
async function byId(target: { name: string; gateway: { graphqlUrl: string }; hostId: string; token: string }, federated: Caller): Promise<void> {
  const direct = caller(target.gateway.graphqlUrl, target.token);
  // The federation's id of the host says its site, as a client that listed hosts there has it.
  const globalId = `${target.name}:${target.hostId}`;
  for (let i = 0; i < 200; i++) {
    await direct(QUERY, { id: target.hostId });
    await federated(QUERY, { id: globalId });
  }
  const times = { direct: [] as number[], federated: [] as number[] };
  // This process's CPU while each request is under way: the client's alone for a direct one, the client's and the federation's for a federated one.
  const cpu = { direct: 0, federated: 0 };
  for (let i = 0; i < REQUESTS; i++) {
    for (const [label, call] of (i % 2 ? [['direct', direct], ['federated', federated]] : [['federated', federated], ['direct', direct]]) as Array<['direct' | 'federated', typeof direct]>) {
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      const id = label === 'direct' ? target.hostId : globalId;
      const data = await call(QUERY, { id });
      const c = process.cpuUsage(c0);
      cpu[label] += c.user + c.system;
      times[label].push(performance.now() - t0);
      if (data.host.id !== id) throw new Error(`wrong host: ${JSON.stringify(data)}`);
    }
  }
  const d = { p50: pct(times.direct, 50), p99: pct(times.direct, 99) };
  const f = { p50: pct(times.federated, 50), p99: pct(times.federated, 99) };
  console.log(`by-id host(id), ${REQUESTS} requests each, sequential, alternating; load ${loadavg()[0]!.toFixed(1)}`);
  console.log(`  straight to the site:     p50 ${d.p50.toFixed(2)} ms  p99 ${d.p99.toFixed(2)} ms   (baseline)`);
  console.log(`  through rsp federate:     p50 ${f.p50.toFixed(2)} ms  p99 ${f.p99.toFixed(2)} ms`);
  console.log(`  ratio:                    p50 ${(f.p50 / d.p50).toFixed(2)} (goal ≤ 1.3)  p99 ${(f.p99 / d.p99).toFixed(2)} (goal ≤ 1.5)`);
  console.log(`  the federation's own CPU: ${((cpu.federated - cpu.direct) / REQUESTS / 1000).toFixed(3)} ms a request (this process's CPU during a federated request less during a direct one)`);
  if (process.env.BENCH_CPU_PROFILE) {
    await withCpuProfile(process.env.BENCH_CPU_PROFILE, async () => {
      for (let i = 0; i < REQUESTS; i++) await federated(QUERY, { id: globalId });
    });
  }
}

/** Every host `call` lists, page after page; the number of hosts. */
async function listAll(call: Caller): Promise<number> {
  let count = 0;
  let after: string | null = null;
  do {
    const { hosts } = await call(LIST, { after });
    count += hosts.nodes.length;
    after = hosts.pageInfo.hasNextPage ? hosts.pageInfo.endCursor : null;
  } while (after);
  return count;
}

/** The hosts figure: every host of every site through the federation against each site's own, in rotating order. */
async function hostsListing(direct: Caller[], federated: Caller): Promise<void> {
  const callers = [...direct.map((call, i) => ({ label: `site ${'abc'[i]}`, call })), { label: 'federation', call: federated }];
  const times = new Map(callers.map((c) => [c.label, [] as number[]]));
  const expected = new Map(callers.map((c) => [c.label, c.label === 'federation' ? direct.length * HOSTS : HOSTS]));
  for (let round = -10; round < ROUNDS; round++) {
    for (let k = 0; k < callers.length; k++) {
      const { label, call } = callers[(round + 10 + k) % callers.length]!;
      const t0 = performance.now();
      const count = await listAll(call);
      if (round >= 0) times.get(label)!.push(performance.now() - t0);
      if (count !== expected.get(label)) throw new Error(`${label} listed ${count} hosts, not ${expected.get(label)}`);
    }
  }
  console.log(`{ hosts } over ${direct.length} sites × ${HOSTS} hosts (pages of 500), ${ROUNDS} rounds; load ${loadavg()[0]!.toFixed(1)}`);
  for (const [label, t] of times) console.log(`  ${label.padEnd(12)} p50 ${pct(t, 50).toFixed(1)} ms  p99 ${pct(t, 99).toFixed(1)} ms`);
  const slowest = Math.max(...callers.filter((c) => c.label !== 'federation').map((c) => pct(times.get(c.label)!, 99)));
  console.log(`  p99 federation / slowest site's p99: ${(pct(times.get('federation')!, 99) / slowest).toFixed(2)} (goal ≤ 2)`);
  if (process.env.BENCH_HOSTS_CPU_PROFILE) {
    await withCpuProfile(process.env.BENCH_HOSTS_CPU_PROFILE, async () => {
      for (let round = 0; round < ROUNDS; round++) await listAll(federated);
    });
  }
}

/** An environment of the fake driver on the site's own host, running: what the events figure restarts. */
async function fakeEnvironment(gateway: SiteReady, token: string, groupId: string, hostId: string): Promise<string> {
  const call = caller(gateway.graphqlUrl, token);
  // The site's own host is UP once its local agent's first heartbeat arrived.
  while ((await call('query ($id: ID!) { host(id: $id) { state } }', { id: hostId })).host.state !== 'UP') await sleep(100);
  const { registerImage } = await call('mutation ($g: ID!) { registerImage(input: { vendorGroupId: $g, name: "bench", version: "1", technology: "fake" }) { id } }', { g: groupId });
  const up = await fetch(`${new URL(gateway.graphqlUrl).origin}/images/${registerImage.id}/content`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' }, body: new Uint8Array(createRootfsTar({ '/etc/hostname': 'bench' })) });
  if (!up.ok) throw new Error(`image upload: ${up.status} ${await up.text()}`);
  const { createEnvironment } = await call('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId, hostId, imageId: registerImage.id, name: 'bench-events' } });
  await settled(call, createEnvironment.operation.id);
  await settled(call, (await call('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: createEnvironment.environment.id })).startEnvironment.id);
  return createEnvironment.environment.id;
}

/** Waits for operation `id` to end (asked every 20 ms); throws unless it SUCCEEDED. */
async function settled(call: Caller, id: string): Promise<void> {
  for (;;) {
    const { operation } = await call('query ($id: ID!) { operation(id: $id) { state error { message } } }', { id });
    if (operation.state === 'SUCCEEDED') return;
    if (['FAILED', 'CANCELLED'].includes(operation.state)) throw new Error(`operation ${id} ${operation.state}: ${operation.error?.message}`);
    await sleep(20);
  }
}

/** One stage's subscribers, as bench/metrics-fanout-clients reports them. */
interface Stage {
  received: number;
  p50: number;
  p99: number;
  maxDropped: number;
}

/**
 * The events figure: SUBSCRIBERS subscribers of `events` at `at`, while every site restarts its
 * environment every EVENT_INTERVAL_MS; what they received in EVENT_SECONDS (after a warm-up).
 */
async function eventStage(sites: Array<{ gateway: SiteReady; token: string; environmentId: string }>, at: { url: string; token: string }): Promise<Stage & { seconds: number }> {
  const clients = fork(join(__dirname, 'metrics-fanout-clients.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let running = true;
  const restarts = sites.map(async (site) => {
    const call = caller(site.gateway.graphqlUrl, site.token);
    while (running) {
      const paced = sleep(EVENT_INTERVAL_MS);
      await settled(call, (await call('mutation ($id: ID!) { restartEnvironment(id: $id) { id } }', { id: site.environmentId })).restartEnvironment.id);
      await paced;
    }
  });
  try {
    await ask(clients, { type: 'connect', url: at.url.replace(/^http/, 'ws'), token: at.token, subscribers: SUBSCRIBERS, client: 'raw', subscription: { query: EVENTS, variables: {}, field: 'events' } }, 'connected');
    await sleep(3000);
    await ask(clients, { type: 'stage-start' }, 'stage-started');
    const t0 = performance.now();
    await sleep(EVENT_SECONDS * 1000);
    const stage = await ask<Stage>(clients, { type: 'stage-end' }, 'stage');
    return { ...stage, seconds: (performance.now() - t0) / 1000 };
  } finally {
    running = false;
    await Promise.all(restarts);
    const exited = once(clients, 'exit');
    clients.send({ type: 'exit' });
    await exited;
  }
}

/** The events figure through the federation, then its baseline straight to site a (the same events made). */
async function eventsRelay(sites: Array<{ gateway: SiteReady; token: string; environmentId: string }>, federation: { url: string; token: string }): Promise<void> {
  const relayed = await eventStage(sites, federation);
  const direct = await eventStage(sites, { url: sites[0]!.gateway.graphqlUrl, token: sites[0]!.token });
  console.log(`events: ${SUBSCRIBERS} subscribers, ${sites.length} sites each restarting an environment every ${EVENT_INTERVAL_MS} ms, ${EVENT_SECONDS} s a stage; load ${loadavg()[0]!.toFixed(1)}`);
  for (const [label, s] of [['straight to site a', direct], ['through rsp federate', relayed]] as const) {
    console.log(`  ${label.padEnd(22)} ${(s.received / SUBSCRIBERS / s.seconds).toFixed(1)} events/s to each subscriber (${Math.round(s.received / s.seconds)} deliveries/s)  p50 ${s.p50.toFixed(0)} ms  p99 ${s.p99.toFixed(0)} ms  max dropped ${s.maxDropped}`);
  }
  console.log(`  p99 through the federation: ${relayed.p99.toFixed(0)} ms (goal ≤ 200 ms); ratio to straight ${(relayed.p99 / Math.max(1, direct.p99)).toFixed(2)}`);
}

/** A GraphQL call: the data, or a thrown error with the errors. */
type Caller = ReturnType<typeof caller>;

/** A GraphQL caller with a bearer token: the data, or a thrown error with the errors. */
function caller(url: string, token: string) {
  return async (query: string, variables?: Record<string, unknown>): Promise<any> => {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query, variables }) });
    const body = (await res.json()) as { data?: any; errors?: unknown[] };
    if (body.errors?.length) throw new Error(`GraphQL errors from ${url}: ${JSON.stringify(body.errors)}`);
    return body.data;
  };
}

/** The p-th percentile of `values` (nearest rank). */
function pct(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
