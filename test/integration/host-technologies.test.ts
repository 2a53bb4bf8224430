import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { describeWithEngine } from '../helpers/engines';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, UNCONNECTED_AGENT, World } from '../helpers/scenario';

const HOST = 'query ($id: ID!) { host(id: $id) { hostname agent drivers probedDrivers allowedDrivers } }';
const CREATE_HOST = 'mutation ($i: CreateHostInput!) { createHost(input: $i) { id hostname agent drivers probedDrivers allowedDrivers } }';
const SET_DRIVERS = 'mutation ($id: ID!, $d: [String!]) { setHostDrivers(id: $id, drivers: $d) { hostname drivers probedDrivers allowedDrivers } }';
const CANDIDATES = 'query ($r: AllocationRequestInput!) { placementCandidates(request: $r) { candidates { hostname technology } rejected { hostname filter reason } } }';
const CPU = [{ type: 'CPU', amount: 1, unit: 'CORES' }];

/**
 * A host's technologies come from its agent's probe (the gateway's own agent runs only the fake
 * driver here): an admin may narrow them, not invent them, and placement offers only what the
 * host's agent can create.
 */
function hostTechnologiesSuite(kind: 'pglite' | 'postgres') {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;
  let inventoryHost: string;

  const candidates = async (technologies: string[]) => (await t.ok(CANDIDATES, { r: { groupId: w.groupA, resources: CPU, technologies } }, w.tokens.memberA)).placementCandidates as { candidates: Array<{ hostname: string; technology: string }>; rejected: Array<{ hostname: string; filter: string; reason: string }> };
  const usableOn = async (hostId: string) => ((await t.ok('query ($h: ID) { drivers(hostId: $h) { technology available } }', { h: hostId })).drivers as Array<{ technology: string; available: boolean }>).filter((d) => d.available).map((d) => d.technology);

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    t = await startTestGateway(db);
    w = await buildWorld(t);
    inventoryHost = (await t.ok(CREATE_HOST, { i: { siteId: w.site, ownerGroupId: w.groupA, hostname: 'arthur', drivers: ['lxc'], agent: UNCONNECTED_AGENT } })).createHost.id;
    await t.ok('mutation ($i: CreateResourceInput!) { createResource(input: $i) { id } }', { i: { hostId: inventoryHost, type: 'CPU', unit: 'CORES', total: 4 } });
    // Its agent never connects, so it is UNKNOWN and never offered; it stands in for an UP host here.
    await t.gateway.dataSource.query(`UPDATE host SET state = 'UP' WHERE id = $1`, [inventoryHost]);
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test('a technology the agent did not probe is refused, naming what the probe found; none declared is everything probed', async () => {
    const refused = await t.gql(CREATE_HOST, { i: { siteId: w.site, ownerGroupId: w.groupA, hostname: 'ford', drivers: ['fake', 'lxc'] } });
    expect(refused.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(refused.errors?.[0]?.message).toBe('Host agent "local" cannot run lxc: its probe found fake');
    expect((await t.ok('{ hosts { nodes { hostname } } }')).hosts.nodes.map((h: { hostname: string }) => h.hostname)).not.toContain('ford');
    expect((await t.ok(HOST, { id: w.host1 })).host).toEqual({ hostname: 'zaphod', agent: 'local', drivers: ['fake'], probedDrivers: ['fake'], allowedDrivers: null });
    // An agent that never reported: the declared list stands until it does.
    expect((await t.ok(HOST, { id: inventoryHost })).host).toEqual({ hostname: 'arthur', agent: UNCONNECTED_AGENT, drivers: ['lxc'], probedDrivers: null, allowedDrivers: ['lxc'] });
  });

  test('placement and create agree: a host is offered for a technology only when its agent can run it', async () => {
    const lxc = await candidates(['lxc']);
    expect(lxc.candidates).toEqual([{ hostname: 'arthur', technology: 'lxc' }]);
    expect(lxc.rejected).toEqual(expect.arrayContaining([{ hostname: 'zaphod', filter: 'TECHNOLOGY', reason: 'host offers fake, the request wants lxc' }, { hostname: 'trillian', filter: 'TECHNOLOGY', reason: 'host offers fake, the request wants lxc' }]));
    const fake = await candidates(['fake']);
    expect(fake.candidates.map((c) => c.hostname).sort()).toEqual(['trillian', 'zaphod']);
    for (const hostId of [w.host1, w.host2]) expect(await usableOn(hostId)).toContain('fake');
    const placed = (await t.ok('mutation ($r: AllocationRequestInput!) { allocate(request: $r) { allocations { hostId technology } } }', { r: { groupId: w.groupA, mode: 'AUTOMATIC', resources: CPU, technologies: ['fake'] } }, w.tokens.memberA)).allocate.allocations[0];
    expect(placed.technology).toBe('fake');
    expect(await usableOn(placed.hostId)).toContain('fake');
  });

  test('a site admin narrows a host to some of the probed technologies, never beyond them', async () => {
    expect((await t.ok(SET_DRIVERS, { id: w.host2, d: [] })).setHostDrivers).toEqual({ hostname: 'trillian', drivers: [], probedDrivers: ['fake'], allowedDrivers: [] });
    expect((await candidates(['fake'])).candidates.map((c) => c.hostname)).toEqual(['zaphod']);
    const refused = await t.gql(SET_DRIVERS, { id: w.host2, d: ['fake', 'docker'] });
    expect(refused.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(refused.errors?.[0]?.message).toBe('Host agent "local" cannot run docker: its probe found fake');
    const member = await t.gql(SET_DRIVERS, { id: w.host2, d: null }, w.tokens.memberA);
    expect(member.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await t.ok(SET_DRIVERS, { id: w.host2, d: null })).setHostDrivers).toEqual({ hostname: 'trillian', drivers: ['fake'], probedDrivers: ['fake'], allowedDrivers: null });
  });

  test('a new probe report moves every host of the agent: a technology lost is no longer offered, and comes back with the agent', async () => {
    await t.ok(SET_DRIVERS, { id: w.host1, d: ['fake'] });
    const { sites } = t.gateway.services;
    await sites.recordProbe('local', [{ technology: 'fake', available: false }]);
    expect((await t.ok(HOST, { id: w.host1 })).host).toMatchObject({ drivers: [], probedDrivers: [], allowedDrivers: ['fake'] });
    expect((await t.ok(HOST, { id: w.host2 })).host).toMatchObject({ drivers: [], probedDrivers: [], allowedDrivers: null });
    expect((await candidates(['fake'])).candidates).toEqual([]);
    const refused = await t.gql(CREATE_HOST, { i: { siteId: w.site, ownerGroupId: w.groupA, hostname: 'ford', drivers: ['fake'] } });
    expect(refused.errors?.[0]?.message).toBe('Host agent "local" cannot run fake: its probe found no usable technology');
    expect((await t.ok(HOST, { id: inventoryHost })).host).toMatchObject({ drivers: ['lxc'], probedDrivers: null });

    await sites.recordProbe('local', await t.gateway.agents.get('local')!.drivers());
    expect((await t.ok(HOST, { id: w.host1 })).host).toMatchObject({ drivers: ['fake'], probedDrivers: ['fake'], allowedDrivers: ['fake'] });
    expect((await candidates(['fake'])).candidates.map((c) => c.hostname).sort()).toEqual(['trillian', 'zaphod']);
  });
}

describe('host technologies on pglite', () => hostTechnologiesSuite('pglite'));
describeWithEngine('postgres', 'host technologies on postgres', () => hostTechnologiesSuite('postgres'));
