import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { createRootfsTar } from '../../drivers/fake';
import { addFederationGroup, readFederationConfig, joinSite, writeFederationConfig } from '../../gateway/federation/config';
import { RspProcess, runRsp, spawnRsp } from '../helpers/cli';
import { createTestDatabase, DATABASE_KINDS, TestDatabase } from '../helpers/databases';
import { GraphqlReply, serveGateway, ServedGateway } from '../helpers/served-gateway';
import { until } from '../helpers/until';
import { freePort } from '../helpers/free-port';

type SiteName = 'a' | 'b' | 'c';
const SITE_NAMES: SiteName[] = ['a', 'b', 'c'];
/** Each site's agent host offers SLOT units: 1 asked fills b's most (binpack ranks it first), then a's, then c's. */
const SLOTS: Record<SiteName, number> = { a: 4, b: 2, c: 10 };
const SLOT = [{ type: 'SLOT', amount: 1, unit: 'COUNT' }];
/** The site's own id of an id the federation gave (`<site>:<id>`), to ask the site itself. */
const own = (id: string): string => id.slice(id.indexOf(':') + 1);

/**
 * Three independent sites (each its own `rsp serve` process and database — PGlite, PostgreSQL when
 * there is one, PGlite — and its own `rsp agent` process serving one host) and `rsp federate` over
 * them: a group linked to all three sees all three and places across them, one linked to one site
 * sees nothing of the others, a token revoked at a site cuts access there at once, events of
 * several sites reach one subscriber, and a killed site leaves the others' data with an error
 * naming it. The processes are shared by the tests, in order.
 */
describe('rsp federate: one graph over independent sites', () => {
  const dbs: TestDatabase[] = [];
  const sites: Record<SiteName, { served: ServedGateway; agent: RspProcess; groupId: string; siteId: string; hostIds: string[]; agentHostId: string; tokenId: string; token: string; environmentId?: string }> = {} as never;
  /** Every process started, killed at the end even when the set-up stopped half-way. */
  const processes: Array<{ child: RspProcess['child']; exited: Promise<unknown> }> = [];
  let federation: RspProcess;
  let federationUrl: string;
  const keys: Record<'alliance' | 'solo', string> = { alliance: '', solo: '' };
  let soloTokenId = '';
  /** Site a's image that site c fetched (the images test): the environment replicated from a to c runs it. */
  let sharedImageId = '';
  /** Each site's port, picked before any starts. */
  const ports = {} as Record<SiteName, number>;
  /** The replicas of site a's environment that site c keeps (the replication test): one is restored at site b. */
  let keptAtC: Array<{ id: string }> = [];
  /** Site a's environment replicated to c (the replication test): later moved to site b. */
  let replicatedEnvId = '';

  /** A query at the federation as a federation group (its key). */
  const fed = async (group: keyof typeof keys, query: string, variables?: Record<string, unknown>, headers: Record<string, string> = {}): Promise<GraphqlReply> => {
    const res = await fetch(federationUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${keys[group]}`, ...headers }, body: JSON.stringify({ query, variables }) });
    return (await res.json()) as GraphqlReply;
  };

  /** An image of site `name`'s linked group ("fake" technology), its bits uploaded there with the group's token. */
  const imageAt = async (name: SiteName, imageName: string, bits: Buffer): Promise<{ id: string; digest: string }> => {
    const { registerImage } = await sites[name].served.ok('mutation ($g: ID!, $n: String!) { registerImage(input: { vendorGroupId: $g, name: $n, version: "1", technology: "fake" }) { id } }', { g: sites[name].groupId, n: imageName });
    const res = await fetch(`${sites[name].served.url}/images/${registerImage.id}/content`, { method: 'PUT', headers: { authorization: `Bearer ${sites[name].token}`, 'content-type': 'application/octet-stream' }, body: new Uint8Array(bits) });
    expect(res.status).toBe(200);
    return { id: registerImage.id, digest: ((await res.json()) as { digest: string }).digest };
  };

  /** A graphql-ws client of the federation as the alliance. */
  const fedSocket = (): Client => createClient({ url: federationUrl.replace(/^http/, 'ws'), webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${keys.alliance}` }, retryAttempts: 0 });

  /**
   * A site as its admin gives it: a local group, a site, two hosts, a third served by the site's own
   * agent (with SLOT capacity), and a token for the local group (what it gives the federation).
   */
  const setUpSite = async (name: SiteName, db: TestDatabase) => {
    const peers = SITE_NAMES.filter((n) => n !== name).map((n) => `${n}=http://127.0.0.1:${ports[n]}/graphql`).join(',');
    const served = await serveGateway({ startTimeoutMs: 300_000, port: ports[name], dataDir: db.dataDir, env: { RSP_PEER_SITES: peers, DATABASE_URL: db.databaseUrl, REDIS_URL: undefined, RSP_DRIVERS: 'fake', LOG_LEVEL: 'warn', LOG_FORMAT: 'json', RSP_LOCAL_HOST: `${name}-host-1` } });
    processes.push(served.server);
    const { createGroup } = await served.ok(`mutation { createGroup(input: { name: "Lab ${name}", slug: "lab-${name}" }) { id } }`);
    const { createSite } = await served.ok('mutation ($g: ID!, $n: String!) { createSite(input: { name: $n, ownerGroupId: $g }) { id } }', { g: createGroup.id, n: `site-${name}` });
    const hostIds: string[] = [];
    for (const h of [1, 2]) {
      const { createHost } = await served.ok('mutation ($s: ID!, $g: ID!, $h: String!) { createHost(input: { siteId: $s, ownerGroupId: $g, hostname: $h, drivers: ["fake"] }) { id } }', { s: createSite.id, g: createGroup.id, h: `${name}-host-${h}` });
      hostIds.push(createHost.id);
    }
    const joined = await runRsp(['--url', served.url, '--token', served.token, '--json', 'agent', 'token', 'create', `${name}-agent`, '--ttl', '600'], {});
    expect(joined.code).toBe(0);
    const agent = spawnRsp(['agent', '--gateway', served.url.replace(/^http/, 'ws'), '--token', JSON.parse(joined.stdout).token, '--drivers', 'fake', '--data-dir', mkdtempSync(join(tmpdir(), 'rsp-agent-'))], { LOG_LEVEL: 'info', LOG_FORMAT: 'json' });
    processes.push(agent);
    await agent.waitFor(/connected to the gateway/, 120_000);
    const { createHost } = await served.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: createSite.id, ownerGroupId: createGroup.id, hostname: `${name}-agent-box`, agent: `${name}-agent` } });
    await served.ok('mutation ($i: CreateResourceInput!) { createResource(input: $i) { id } }', { i: { hostId: createHost.id, type: 'SLOT', unit: 'COUNT', total: SLOTS[name] } });
    await until(`${name}-agent-box UP`, async () => (await served.ok('query ($id: ID!) { host(id: $id) { state } }', { id: createHost.id })).host.state === 'UP', 120_000);
    const { createToken } = await served.ok('mutation ($g: ID!) { createToken(input: { groupId: $g, name: "federation", role: MEMBER }) { token { id } secret } }', { g: createGroup.id });
    sites[name] = { served, agent, groupId: createGroup.id, siteId: createSite.id, hostIds, agentHostId: createHost.id, tokenId: createToken.token.id, token: createToken.secret };
  };

  beforeAll(async () => {
    dbs.push(await createTestDatabase('pglite'), await createTestDatabase(DATABASE_KINDS.includes('postgres') ? 'postgres' : 'pglite'), await createTestDatabase('pglite'));
    for (const name of SITE_NAMES) ports[name] = await freePort();
    await Promise.all(SITE_NAMES.map((name, i) => setUpSite(name, dbs[i]!)));
    // The alliance is linked to every site through the CLI; "solo" only to site a, with a token of its own.
    const file = join(dbs[0]!.dataDir, 'federation.json');
    const added = await runRsp(['federation', 'group-add', 'alliance', '--config', file], {});
    expect(added).toMatchObject({ code: 0 });
    keys.alliance = /\n(rspf_\S+)/.exec(added.stdout)![1]!;
    for (const name of SITE_NAMES) {
      expect(await runRsp(['federation', 'join', name, '--site-url', sites[name].served.graphqlUrl, '--group', 'alliance', '--site-token', sites[name].token, '--config', file], {})).toMatchObject({ code: 0 });
    }
    const { createToken } = await sites.a.served.ok('mutation ($g: ID!) { createToken(input: { groupId: $g, name: "federation-solo", role: VIEWER }) { token { id } secret } }', { g: sites.a.groupId });
    soloTokenId = createToken.token.id;
    const solo = addFederationGroup(readFederationConfig(file), 'solo');
    keys.solo = solo.key;
    writeFederationConfig(file, joinSite(solo.config, { site: 'a', url: sites.a.served.graphqlUrl, group: 'solo', token: createToken.secret }));
    federation = spawnRsp(['federate', '--config', file, '--port', '0'], {});
    processes.push(federation);
    federationUrl = (await federation.waitFor(/Federation endpoint:\s+(\S+)/, 120_000))[1]!;
  }, 600_000);

  afterAll(async () => {
    for (const p of processes) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await Promise.all(processes.map((p) => p.exited));
    await Promise.all(dbs.map((db) => db.drop()));
  });

  test('a group linked to three sites lists the hosts of all three, each saying its site; pages carry every site\'s position', async () => {
    const all = await fed('alliance', '{ hosts { totalCount nodes { id hostname federationSite } } }');
    expect(all.errors).toBeUndefined();
    expect(all.data.hosts.totalCount).toBe(9);
    const everyHost = SITE_NAMES.flatMap((n) => [`${n}:${n}-agent-box`, `${n}:${n}-host-1`, `${n}:${n}-host-2`]);
    expect(all.data.hosts.nodes.map((h: { hostname: string; federationSite: string }) => `${h.federationSite}:${h.hostname}`).sort()).toEqual(everyHost);

    const pages: string[][] = [];
    let after: string | null = null;
    do {
      const page: GraphqlReply = await fed('alliance', 'query ($after: String) { hosts(first: 1, after: $after) { edges { node { hostname federationSite } } pageInfo { hasNextPage endCursor } } }', { after });
      expect(page.errors).toBeUndefined();
      pages.push(page.data.hosts.edges.map((e: { node: { hostname: string; federationSite: string } }) => `${e.node.federationSite}:${e.node.hostname}`).sort());
      after = page.data.hosts.pageInfo.hasNextPage ? page.data.hosts.pageInfo.endCursor : null;
    } while (after && pages.length < 5);
    // One host of each site per page, every host once.
    expect(pages.map((p) => p.map((h) => h.split(':')[0]))).toEqual([SITE_NAMES, SITE_NAMES, SITE_NAMES]);
    expect(pages.flat().sort()).toEqual(everyHost);
    expect((await fed('alliance', '{ hosts(after: "not-a-cursor") { totalCount } }')).errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });
  });

  test('by-id fields go to the site their global id names; a site\'s own id works too', async () => {
    // The federation's ids say their site (`b:<id>`), and are what it answers.
    const global = await fed('alliance', 'query ($id: ID!) { host(id: $id) { id hostname federationSite siteId } }', { id: `b:${sites.b.hostIds[1]}` });
    expect(global).toEqual({ data: { host: { id: `b:${sites.b.hostIds[1]}`, hostname: 'b-host-2', federationSite: 'b', siteId: `b:${sites.b.siteId}` } } });
    const seen = await fed('alliance', 'query ($id: ID!) { host(id: $id) { hostname federationSite } }', { id: sites.b.hostIds[1] });
    expect(seen).toEqual({ data: { host: { hostname: 'b-host-2', federationSite: 'b' } } });
    const { createHost } = await sites.b.served.ok('mutation ($s: ID!, $g: ID!) { createHost(input: { siteId: $s, ownerGroupId: $g, hostname: "b-host-3", drivers: ["fake"] }) { id } }', { s: sites.b.siteId, g: sites.b.groupId });
    sites.b.hostIds.push(createHost.id);
    expect(await fed('alliance', 'query ($id: ID!) { host(id: $id) { hostname federationSite siteId } }', { id: createHost.id })).toEqual({ data: { host: { hostname: 'b-host-3', federationSite: 'b', siteId: `b:${sites.b.siteId}` } } });
    // An id argument of a list routes too: the hosts of site b's own site id.
    const ofB = await fed('alliance', 'query ($s: ID!) { hosts(siteId: $s) { nodes { hostname federationSite } } }', { s: sites.b.siteId });
    expect(ofB.data.hosts.nodes.map((h: { hostname: string }) => h.hostname).sort()).toEqual(['b-agent-box', 'b-host-1', 'b-host-2', 'b-host-3']);
    const missing = await fed('alliance', '{ host(id: "00000000-0000-4000-8000-000000000000") { hostname } }');
    expect(missing.errors?.[0]).toMatchObject({ extensions: { code: 'NOT_FOUND' } });

    // A mutation goes to one site: the one named by x-rsp-site (whose own authorization refuses a member), never to all.
    const createSite = 'mutation ($g: ID!) { createSite(input: { name: "elsewhere", ownerGroupId: $g }) { id } }';
    expect((await fed('alliance', createSite, { g: sites.b.groupId })).errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', details: { sites: SITE_NAMES } } });
    expect((await fed('alliance', createSite, { g: sites.b.groupId }, { 'x-rsp-site': 'b' })).errors?.[0]).toMatchObject({ message: expect.stringMatching(/^Site b: /), extensions: { code: 'FORBIDDEN', details: { site: 'b' } } });
  });

  test('a group not linked to a site sees nothing of it; a site revoking its token cuts the access at once', async () => {
    const solo = await fed('solo', '{ hosts { nodes { hostname federationSite } } }');
    expect(solo.errors).toBeUndefined();
    expect(solo.data.hosts.nodes.map((h: { federationSite: string }) => h.federationSite)).toEqual(['a', 'a', 'a']);
    for (const id of [sites.b.hostIds[0], sites.c.agentHostId]) {
      const other = await fed('solo', 'query ($id: ID!) { host(id: $id) { hostname } }', { id });
      expect(other).toMatchObject({ data: { host: null }, errors: [{ extensions: { code: 'NOT_FOUND' } }] });
    }
    expect((await fed('solo', 'query ($id: ID!) { host(id: $id) { hostname } }', { id: sites.a.hostIds[0] })).data).toEqual({ host: { hostname: 'a-host-1' } });

    await sites.a.served.ok('mutation ($id: ID!) { revokeToken(id: $id) { id } }', { id: soloTokenId });
    const revoked = await fed('solo', '{ hosts { nodes { hostname } } }');
    expect(revoked.data).toEqual({ hosts: { nodes: [] } });
    expect(revoked.errors).toEqual([expect.objectContaining({ message: expect.stringMatching(/^Site a: /), extensions: { code: 'UNAUTHENTICATED', details: { site: 'a' } } })]);
    // The alliance's own link to site a is untouched.
    expect((await fed('alliance', '{ hosts(first: 50) { totalCount } }')).data.hosts.totalCount).toBe(10);
    expect((await fetch(federationUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer rspf_wrong' }, body: '{"query":"{ hosts { totalCount } }"}' })).status).toBe(401);
  });

  test('placement ranks the hosts of every site the group may use together, each candidate naming its site; allocate goes to the best site', async () => {
    // The alliance's group as the federation names it (site a's id): each site gets its own local group's id.
    const { viewer } = (await fed('alliance', '{ viewer { groupId } }')).data;
    expect(viewer.groupId).toBe(`a:${sites.a.groupId}`);
    const dry = await fed('alliance', 'query ($r: AllocationRequestInput!) { placementCandidates(request: $r) { candidates { hostId hostname federationSite score } rejected { hostname federationSite filter } } }', { r: { groupId: viewer.groupId, resources: SLOT } });
    expect(dry.errors).toBeUndefined();
    const { candidates, rejected } = dry.data.placementCandidates;
    expect(candidates.map((c: { federationSite: string; hostname: string }) => `${c.federationSite}:${c.hostname}`)).toEqual(['b:b-agent-box', 'a:a-agent-box', 'c:c-agent-box']);
    expect(candidates.map((c: { hostId: string }) => c.hostId)).toEqual([`b:${sites.b.agentHostId}`, `a:${sites.a.agentHostId}`, `c:${sites.c.agentHostId}`]);
    expect(new Set(rejected.map((r: { federationSite: string }) => r.federationSite))).toEqual(new Set(SITE_NAMES));

    const ALLOCATE = 'mutation ($r: AllocationRequestInput!) { allocate(request: $r) { id status federationSite allocations { id hostId } } }';
    const placed = await fed('alliance', ALLOCATE, { r: { groupId: viewer.groupId, resources: SLOT } });
    expect(placed.errors).toBeUndefined();
    expect(placed.data.allocate).toMatchObject({ status: 'PLACED', federationSite: 'b', allocations: [{ hostId: `b:${sites.b.agentHostId}` }] });
    // It is site b's own allocation, charged to its local group, and by-id reads of it go there.
    const atB = await sites.b.served.ok('query ($id: ID!) { allocationRequest(id: $id) { groupId allocations { hostId } } }', { id: own(placed.data.allocate.id) });
    expect(atB.allocationRequest).toEqual({ groupId: sites.b.groupId, allocations: [{ hostId: sites.b.agentHostId }] });
    expect((await fed('alliance', 'query ($id: ID!) { allocationRequest(id: $id) { federationSite } }', { id: placed.data.allocate.id })).data).toEqual({ allocationRequest: { federationSite: 'b' } });

    // b is full now (2 slots, 1 held, 2 asked): the next best site takes it. x-rsp-site pins a site.
    const two = [{ type: 'SLOT', amount: 2, unit: 'COUNT' }];
    expect((await fed('alliance', ALLOCATE, { r: { groupId: viewer.groupId, resources: two } })).data.allocate).toMatchObject({ federationSite: 'a', allocations: [{ hostId: `a:${sites.a.agentHostId}` }] });
    expect((await fed('alliance', ALLOCATE, { r: { groupId: viewer.groupId, resources: SLOT } }, { 'x-rsp-site': 'c' })).data.allocate).toMatchObject({ federationSite: 'c', allocations: [{ hostId: `c:${sites.c.agentHostId}` }] });
    const nowhere = await fed('alliance', ALLOCATE, { r: { groupId: viewer.groupId, resources: [{ type: 'SLOT', amount: 50, unit: 'COUNT' }] } });
    expect(nowhere.errors?.[0]).toMatchObject({ extensions: { code: 'CONFLICT' } });
  });

  test('events of every site the group sees reach one subscriber at the federation, each naming its site', async () => {
    const client = fedSocket();
    const seen = new Map<string, { kind: string; groupId: string }>();
    const failed: unknown[] = [];
    const unsubscribe = client.subscribe<{ events: { kind: string; groupId: string; federationSite: string } }>(
      { query: 'subscription { events { kind groupId federationSite allocation { change } } }' },
      { next: (value) => (value.errors ? failed.push(value.errors) : value.data && seen.set(value.data.events.federationSite, value.data.events)), error: (e) => failed.push(e), complete: () => undefined },
    );
    try {
      // The federation subscribes at each site once the client subscribed: ask again at the sites not heard from yet.
      await until(
        'ALLOCATION events from sites a and c',
        async () => {
          for (const site of ['a', 'c'].filter((s) => !seen.has(s))) {
            await fed('alliance', 'mutation ($r: AllocationRequestInput!) { allocate(request: $r) { id } }', { r: { groupId: sites.a.groupId, mode: 'APPROVAL', resources: SLOT } }, { 'x-rsp-site': site });
          }
          return failed.length > 0 || (seen.has('a') && seen.has('c'));
        },
        60_000,
        500,
      );
      expect(failed).toEqual([]);
      expect(seen.get('a')).toMatchObject({ kind: 'ALLOCATION', groupId: `a:${sites.a.groupId}` });
      expect(seen.get('c')).toMatchObject({ kind: 'ALLOCATION', groupId: `c:${sites.c.groupId}` });
    } finally {
      unsubscribe();
      await client.dispose();
    }
  });

  test('a subscription is relayed from the site owning the id: hostMetrics of the agent host at site c', async () => {
    const client = fedSocket();
    try {
      const sample = await new Promise<{ hostMetrics: { hostId: string; siteId: string } }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no hostMetrics sample through the federation in 30 s')), 30_000);
        const unsubscribe = client.subscribe<{ hostMetrics: { hostId: string; siteId: string } }>(
          { query: 'subscription ($h: ID!) { hostMetrics(hostId: $h) { hostId siteId at } }', variables: { h: sites.c.agentHostId } },
          {
            next: (value) => {
              clearTimeout(timer);
              unsubscribe();
              if (value.errors) reject(new Error(JSON.stringify(value.errors)));
              else resolve(value.data!);
            },
            error: (e) => {
              clearTimeout(timer);
              reject(e instanceof Error ? e : new Error(JSON.stringify(e)));
            },
            complete: () => undefined,
          },
        );
      });
      expect(sample.hostMetrics).toMatchObject({ hostId: `c:${sites.c.agentHostId}`, siteId: `c:${sites.c.siteId}` });
    } finally {
      await client.dispose();
    }
  });

  test('images by digest: a site lacking the image an environment needs fetches it from the site that has it, checked against its digest', async () => {
    const image = await imageAt('a', 'shared-os', createRootfsTar({ '/etc/motd': 'from site a\n' }));
    sharedImageId = image.id;
    // The federation's ids of the image and the host say their sites (a and c).
    expect((await fed('alliance', '{ images { id federationSite } }')).data.images).toContainEqual({ id: `a:${image.id}`, federationSite: 'a' });
    const created = await fed('alliance', 'mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id imageId federationSite } } }', { i: { groupId: sites.c.groupId, hostId: `c:${sites.c.hostIds[0]}`, imageId: `a:${image.id}`, name: 'with-a-image' } });
    expect(created.errors).toBeUndefined();
    const env = created.data.createEnvironment.environment;
    expect(env.federationSite).toBe('c');
    // Site c keeps its own copy of the image (same digest, its own id, its linked group's), fetched from a.
    const atC = (await sites.c.served.ok('{ images { id digest vendorGroupId } }')).images.find((i: { digest: string }) => i.digest === image.digest);
    expect(atC).toEqual({ id: own(env.imageId), digest: image.digest, vendorGroupId: sites.c.groupId });
    await until('the environment at c made', async () => ['STOPPED', 'CREATED'].includes((await sites.c.served.ok('query ($id: ID!) { environment(id: $id) { status } }', { id: own(env.id) })).environment.status), 60_000, 250);
    sites.c.environmentId = own(env.id);
    // Asked again, the image site c has is used: nothing is fetched.
    const again = await fed('alliance', 'mutation ($d: String!) { importImage(input: { digest: $d, from: { name: "a" } }) { id } }', { d: image.digest }, { 'x-rsp-site': 'c' });
    expect(again.data).toEqual({ importImage: { id: env.imageId } });

    // Bits at a that no longer match their digest (damaged on disk) are refused at b, and b keeps nothing.
    const damaged = await imageAt('a', 'damaged-os', createRootfsTar({ '/etc/motd': 'soon damaged\n' }));
    const file = join(dbs[0]!.dataDir, 'images', 'content', `${damaged.digest.replace(':', '-')}.tar`);
    writeFileSync(file, Buffer.concat([readFileSync(file), Buffer.from('tampered')]));
    const refused = await fed('alliance', 'mutation ($d: String!) { importImage(input: { digest: $d, from: { name: "a" } }) { id } }', { d: damaged.digest }, { 'x-rsp-site': 'b' });
    expect(refused.errors?.[0]).toMatchObject({ message: expect.stringMatching(/^Site b: Site a sent bits of digest sha256:\w+, not the sha256:\w+ asked for/), extensions: { code: 'INTEGRITY_ERROR', details: { site: 'b', peer: 'a', reason: 'DIGEST_MISMATCH', expected: damaged.digest } } });
    expect((await sites.b.served.ok('{ images { digest } }')).images).not.toContainEqual({ digest: damaged.digest });
    // A group not linked to a site cannot fetch from it: the federation gives no credential it does not hold.
    expect((await fed('solo', 'mutation ($d: String!) { importImage(input: { digest: $d, from: { name: "b" } }) { id } }', { d: image.digest })).errors?.[0]).toMatchObject({ extensions: { code: 'NOT_FOUND', details: { site: 'b' } } });
  });

  test('an environment at site a replicates to the store of site c, moving only the chunks c lacks, and is restored at c', async () => {
    const OPERATION = 'query ($id: ID!) { operation(id: $id) { state result error { message } } }';
    /** An operation's end, read at the site that runs it. */
    const ended = (name: SiteName, id: string) => until(`operation ${id} at ${name} ended`, async () => {
      const { operation } = await sites[name].served.ok(OPERATION, { id: own(id) });
      return ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(operation.state) && operation;
    }, 120_000, 250);
    const created = await fed('alliance', 'mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: sites.a.groupId, hostId: `a:${sites.a.hostIds[0]}`, imageId: sharedImageId, name: 'kept-at-c' } });
    expect(created.errors).toBeUndefined();
    expect(await ended('a', created.data.createEnvironment.operation.id)).toMatchObject({ state: 'SUCCEEDED' });
    const envId = created.data.createEnvironment.environment.id;
    // The policy names site c only: the federation gives site a the token site c issued for the alliance there.
    const policy = await fed('alliance', 'mutation ($i: CreateReplicationPolicyInput!) { createReplicationPolicy(input: $i) { id peerName federationSite } }', { i: { environmentId: envId, targetKind: 'STORE', schedule: 'every 60 minutes', peer: { name: 'c' } } });
    expect(policy.errors).toBeUndefined();
    expect(policy.data.createReplicationPolicy).toMatchObject({ peerName: 'c', federationSite: 'a' });
    const moved: number[] = [];
    for (const run of [1, 2]) {
      const now = await fed('alliance', 'mutation ($p: ID!) { replicateNow(policyId: $p) { id } }', { p: policy.data.createReplicationPolicy.id });
      expect(now.errors).toBeUndefined();
      const op = await ended('a', now.data.replicateNow.id);
      expect(op).toMatchObject({ state: 'SUCCEEDED', error: null });
      moved.push(op.result.movedBytes);
      console.log(`cross-site replication a → c, run ${run}: ${op.result.bytes} bytes, ${op.result.movedBytes} moved to site c (${op.result.writtenChunks} chunks written, ${op.result.reusedChunks} reused)`);
    }
    expect(moved[0]).toBeGreaterThan(0);
    expect(moved[1]).toBeLessThan(moved[0]!);

    // Site a's records say where each replica is; site c keeps them in the alliance's group there.
    const atA = (await fed('alliance', 'query ($p: ID!) { replicas(policyId: $p) { id peerSite peerReplicaId federationSite } }', { p: policy.data.createReplicationPolicy.id }, { 'x-rsp-site': 'a' })).data.replicas;
    expect(atA).toHaveLength(2);
    expect(atA.every((r: { peerSite: string; federationSite: string }) => r.peerSite === 'c' && r.federationSite === 'a')).toBe(true);
    const atC = (await fed('alliance', 'query ($e: ID!) { replicas(environmentId: $e) { id groupId federationSite } }', { e: envId }, { 'x-rsp-site': 'c' })).data.replicas;
    expect(atC.map((r: { id: string }) => r.id).sort()).toEqual(atA.map((r: { peerReplicaId: string }) => r.peerReplicaId).sort());
    expect(atC[0]).toMatchObject({ groupId: `c:${sites.c.groupId}`, federationSite: 'c' });
    keptAtC = atC;
    replicatedEnvId = envId;
    // Restored where it is kept, through the federation; site a refuses to restore what it does not keep.
    expect((await fed('alliance', 'mutation ($r: ID!, $h: ID!) { restoreReplica(replicaId: $r, hostId: $h) { id } }', { r: atA[0].id, h: sites.a.hostIds[0] })).errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', details: { site: 'a' } } });
    const restore = await fed('alliance', 'mutation ($r: ID!, $h: ID!) { restoreReplica(replicaId: $r, hostId: $h, name: "back-at-c") { id } }', { r: atC[0].id, h: `c:${sites.c.hostIds[0]}` });
    expect(restore.errors).toBeUndefined();
    const restored = await ended('c', restore.data.restoreReplica.id);
    expect(restored).toMatchObject({ state: 'SUCCEEDED', error: null });
    expect((await sites.c.served.ok('query ($id: ID!) { environment(id: $id) { name status groupId } }', { id: restored.result.environmentId })).environment).toEqual({ name: 'back-at-c', status: 'STOPPED', groupId: sites.c.groupId });
  });

  test('a replica of site a kept at site c is restored at site b: c sends b only the chunks b lacks, each site deciding for itself', async () => {
    const OPERATION = 'query ($id: ID!) { operation(id: $id) { state result error { message } } }';
    const ended = (name: SiteName, id: string) => until(`operation ${id} at ${name} ended`, async () => {
      const { operation } = await sites[name].served.ok(OPERATION, { id: own(id) });
      return ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(operation.state) && operation;
    }, 120_000, 250);
    const SEND = 'mutation ($r: ID!) { sendReplica(replicaId: $r, to: { name: "b" }) { id } }';
    // Site b has no image of that digest for the group yet: it refuses the transfer before anything is sent or claimed.
    const early = await fed('alliance', SEND, { r: keptAtC[0]!.id });
    expect(early.errors).toBeUndefined();
    expect(await ended('c', early.data.sendReplica.id)).toMatchObject({ state: 'FAILED', error: { message: expect.stringMatching(/^Site b: This site has no image of digest/) } });
    const { digest } = (await sites.a.served.ok('query ($id: ID!) { image(id: $id) { digest } }', { id: sharedImageId })).image;
    expect((await fed('alliance', 'mutation ($d: String!) { importImage(input: { digest: $d, from: { name: "a" } }) { id } }', { d: digest }, { 'x-rsp-site': 'b' })).errors).toBeUndefined();

    // The federation routes sendReplica to site c (it owns the replica) and fills b's URL and token; c sends, b records.
    const sent: Array<{ peerReplicaId: string; movedBytes: number; bytes: number }> = [];
    for (const replica of keptAtC) {
      const send = await fed('alliance', SEND, { r: replica.id });
      expect(send.errors).toBeUndefined();
      const op = await ended('c', send.data.sendReplica.id);
      expect(op).toMatchObject({ state: 'SUCCEEDED', error: null, result: { site: 'b', replicaId: own(replica.id) } });
      sent.push(op.result);
      console.log(`replica sent c → b: ${op.result.bytes} bytes, ${op.result.movedBytes} moved (${op.result.writtenChunks} chunks written, ${op.result.reusedChunks} reused)`);
    }
    expect(sent[0]!.movedBytes).toBeGreaterThan(0);
    // The second replica of the same environment: b has most of its chunks already.
    expect(sent[1]!.movedBytes).toBeLessThan(sent[0]!.movedBytes);
    const atB = (await sites.b.served.ok('query ($id: ID!) { replica(id: $id) { groupId bytes } }', { id: sent[0]!.peerReplicaId })).replica;
    expect(atB).toEqual({ groupId: sites.b.groupId, bytes: sent[0]!.bytes });
    expect((await sites.b.served.ok('query ($id: ID!) { group(id: $id) { storage { reservedBytes } } }', { id: sites.b.groupId })).group.storage.reservedBytes).toBe(0);

    // Restored at b, through the federation (b's host routes it there), in b's own group.
    const restore = await fed('alliance', 'mutation ($r: ID!, $h: ID!) { restoreReplica(replicaId: $r, hostId: $h, name: "from-c-at-b") { id } }', { r: sent[1]!.peerReplicaId, h: `b:${sites.b.hostIds[0]}` });
    expect(restore.errors).toBeUndefined();
    const restored = await ended('b', restore.data.restoreReplica.id);
    expect(restored).toMatchObject({ state: 'SUCCEEDED', error: null });
    expect((await sites.b.served.ok('query ($id: ID!) { environment(id: $id) { name status groupId } }', { id: restored.result.environmentId })).environment).toEqual({ name: 'from-c-at-b', status: 'STOPPED', groupId: sites.b.groupId });
    // A group member cannot make site c send to a site it does not know.
    const res = await fetch(sites.c.served.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${sites.c.token}` }, body: JSON.stringify({ query: 'mutation ($r: ID!) { sendReplica(replicaId: $r, to: { name: "elsewhere", url: "http://127.0.0.1:9/graphql", token: "t" }) { id } }', variables: { r: own(keptAtC[0]!.id) } }) });
    const unknown = (await res.json()) as GraphqlReply;
    expect(unknown.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', details: { reason: 'PEER_NOT_ALLOWED' } });
  });

  test('an environment migrates from site a to site b: only the chunks b lacks are sent, restored at b, then destroyed at a', async () => {
    const moved = await fed('alliance', 'mutation ($id: ID!, $h: String!) { copyEnvironmentToSite(id: $id, to: { name: "b" }, hostId: $h, name: "moved-to-b", move: true) { id } }', { id: replicatedEnvId, h: sites.b.hostIds[0] });
    expect(moved.errors).toBeUndefined();
    const op = await until('the move ended at a', async () => {
      const { operation } = await sites.a.served.ok('query ($id: ID!) { operation(id: $id) { state result error { message } } }', { id: own(moved.data.copyEnvironmentToSite.id) });
      return ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(operation.state) && operation;
    }, 120_000, 250);
    expect(op).toMatchObject({ state: 'SUCCEEDED', error: null, result: { site: 'b', moved: true } });
    console.log(`environment moved a → b: ${op.result.bytes} bytes, ${op.result.movedBytes} moved (b kept its chunks from the replica c sent)`);
    // Site b holds every chunk of it already (the replicas c sent it): nothing moved.
    expect(op.result.movedBytes).toBe(0);
    expect((await sites.b.served.ok('query ($id: ID!) { environment(id: $id) { name status groupId } }', { id: op.result.environmentId })).environment).toEqual({ name: 'moved-to-b', status: 'STOPPED', groupId: sites.b.groupId });
    const gone = await sites.a.served.gql('query ($id: ID!) { environment(id: $id) { status } }', { id: own(replicatedEnvId) });
    expect(gone.data?.environment?.status ?? gone.errors?.[0]?.extensions?.code).toMatch(/^(DESTROYED|NOT_FOUND)$/);
  });

  test('a site that is down gives partial data and an error naming it, never a failed request', async () => {
    await sites.c.served.kill9();
    const partial = await fed('alliance', 'query ($a: ID!, $c: ID!) { hosts { nodes { hostname federationSite } } a: host(id: $a) { hostname } c: host(id: $c) { hostname } }', { a: sites.a.hostIds[0], c: sites.c.hostIds[0] });
    expect(partial.data.hosts.nodes.map((h: { federationSite: string; hostname: string }) => `${h.federationSite}:${h.hostname}`).sort()).toEqual(['a:a-agent-box', 'a:a-host-1', 'a:a-host-2', 'b:b-agent-box', 'b:b-host-1', 'b:b-host-2', 'b:b-host-3']);
    expect(partial.data.a).toEqual({ hostname: 'a-host-1' });
    expect(partial.data.c).toBeNull();
    const named = (partial.errors ?? []).map((e) => ({ path: (e as { path?: string[] }).path, code: e.extensions?.code, site: (e.extensions as { details?: { site?: string } })?.details?.site }));
    expect(named).toEqual(expect.arrayContaining([{ path: ['hosts'], code: 'UNAVAILABLE', site: 'c' }, { path: ['c'], code: 'UNAVAILABLE', site: 'c' }]));
    expect(partial.errors!.every((e) => /Site c is unavailable/.test(e.message))).toBe(true);
  });
});
