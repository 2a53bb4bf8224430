import type { HostFactsData } from '../../gateway/agent/host-facts';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { describeWithEngine } from '../helpers/engines';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, World } from '../helpers/scenario';

const CREATE_HOST = 'mutation ($i: CreateHostInput!) { createHost(input: $i) { id inventoryFromFacts drivers facts { hostname kernel cpus cpuModel memoryBytes dataDir { path sizeBytes } interfaces { name } drivers { name technology available version operations } reportedAt } } }';
const RESOURCES = 'query ($h: ID) { resources(hostId: $h) { nodes { id type unit total reserved allocationRatio used source attributes } } }';
const UPDATE = 'mutation ($i: UpdateInventoryInput!) { updateInventory(input: $i) { id } }';
const CREATE_RESOURCE = 'mutation ($i: CreateResourceInput!) { createResource(input: $i) { id source total } }';

interface Row {
  id: string;
  type: string;
  unit: string;
  total: number;
  reserved: number;
  allocationRatio: number;
  used: number;
  source: string;
  attributes: Record<string, unknown>;
}

/**
 * A host's inventory from its agent's facts: a host registered on a connected agent with
 * `inventoryFromFacts` gets CPU, RAM and DISK without typing them; new facts move the totals of
 * those resources and nothing else an admin set; a resource typed by hand is never touched; a total
 * that would fall below what is used is kept, with a warning.
 */
function hostFactsSuite(kind: 'pglite' | 'postgres', transport: 'direct' | 'loopback') {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;
  let facts: HostFactsData;
  let host: string;

  const resources = async (hostId: string) => Object.fromEntries(((await t.ok(RESOURCES, { h: hostId })).resources.nodes as Row[]).map((r) => [r.type, r]));
  const report = (changes: Partial<HostFactsData>, hostIds?: string[]) => t.gateway.services.hostFacts.recordFacts('local', { ...facts, ...changes }, hostIds);

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    t = await startTestGateway(db, transport === 'loopback' ? { RSP_AGENT_TRANSPORT: 'loopback' } : {});
    w = await buildWorld(t, { declaredTechnologies: true });
    facts = await t.gateway.agents.get('local')!.hostFacts();
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test('a host registered on the local agent gets its facts and CPU, RAM and DISK from them, typed by nobody', async () => {
    const created = (await t.ok(CREATE_HOST, { i: { siteId: w.site, ownerGroupId: w.groupA, hostname: 'deep-thought', inventoryFromFacts: true } })).createHost;
    host = created.id;
    expect(created).toMatchObject({ inventoryFromFacts: true, drivers: ['fake'] });
    expect(created.facts).toMatchObject({ cpus: facts.cpus, cpuModel: facts.cpuModel, memoryBytes: facts.memoryBytes, kernel: facts.kernel, dataDir: { path: facts.dataDir.path, sizeBytes: facts.dataDir.sizeBytes } });
    expect(created.facts.drivers).toEqual([{ name: 'fake', technology: 'fake', available: true, version: '1.0.0', operations: expect.arrayContaining(['exec']) }]);
    expect(created.facts.interfaces.map((i: { name: string }) => i.name)).toContain('lo');
    const inventory = await resources(host);
    expect(inventory.CPU).toMatchObject({ unit: 'CORES', total: facts.cpus, reserved: 0, allocationRatio: 1, used: 0, source: 'FACTS' });
    expect(inventory.RAM).toMatchObject({ unit: 'BYTES', total: facts.memoryBytes, source: 'FACTS' });
    expect(inventory.DISK).toMatchObject({ unit: 'BYTES', total: facts.dataDir.sizeBytes, source: 'FACTS' });
  });

  test("new facts move the totals and keep what an admin set (reserved, ratio)", async () => {
    const before = await resources(host);
    await t.ok(UPDATE, { i: { id: before.CPU!.id, reserved: 1, allocationRatio: 2 } });
    await t.ok(UPDATE, { i: { id: before.RAM!.id, reserved: 2 ** 20 } });
    const recorded = await report({ cpus: facts.cpus + 4, memoryBytes: facts.memoryBytes * 2 });
    expect(recorded.warnings).toEqual([]);
    const after = await resources(host);
    expect(after.CPU).toMatchObject({ id: before.CPU!.id, total: facts.cpus + 4, reserved: 1, allocationRatio: 2, source: 'FACTS' });
    expect(after.RAM).toMatchObject({ id: before.RAM!.id, total: facts.memoryBytes * 2, reserved: 2 ** 20, source: 'FACTS' });
    expect((await t.ok('query ($id: ID!) { host(id: $id) { facts { cpus } } }', { id: host })).host.facts.cpus).toBe(facts.cpus + 4);
  });

  test('a total that would fall below what is used is kept, with a warning naming it; it moves once the use is released', async () => {
    const placed = await t.ok('mutation ($r: AllocationRequestInput!) { allocate(request: $r) { allocations { id hostId } } }', { r: { groupId: w.groupA, mode: 'DIRECT', hostIds: [host], resources: [{ type: 'CPU', amount: 3, unit: 'CORES' }], technologies: ['fake'] } }, w.tokens.memberA);
    const allocation = placed.allocate.allocations[0];
    expect(allocation.hostId).toBe(host);
    // Two cores, one reserved, ratio 2: capacity 2 < the 3 used.
    const recorded = await report({ cpus: 2 });
    expect(recorded.warnings).toEqual([expect.objectContaining({ hostId: host, type: 'CPU', factsTotal: 2, total: facts.cpus + 4, used: 3, message: expect.stringContaining('the total stays') })]);
    expect((await resources(host)).CPU).toMatchObject({ total: facts.cpus + 4, used: 3, reserved: 1, allocationRatio: 2 });

    await t.ok('mutation ($id: ID!) { releaseAllocation(id: $id) { status } }', { id: allocation.id });
    expect((await report({ cpus: 2 })).warnings).toEqual([]);
    expect((await resources(host)).CPU).toMatchObject({ total: 2, used: 0, reserved: 1, allocationRatio: 2 });
  });

  test('a resource typed by hand is never overwritten: creating one takes the facts one over, and facts leave it alone', async () => {
    const factsDisk = (await resources(host)).DISK!;
    const disk = (await t.ok(CREATE_RESOURCE, { i: { hostId: host, type: 'DISK', unit: 'BYTES', total: 10 * 2 ** 30, attributes: { ssd: true } } })).createResource;
    expect(disk).toMatchObject({ id: factsDisk.id, source: 'ADMIN', total: 10 * 2 ** 30 });
    await report({ dataDir: { ...facts.dataDir, sizeBytes: facts.dataDir.sizeBytes + 2 ** 30 } });
    expect((await resources(host)).DISK).toMatchObject({ id: disk.id, total: 10 * 2 ** 30, source: 'ADMIN', attributes: { ssd: true } });
    const again = await t.gql(CREATE_RESOURCE, { i: { hostId: host, type: 'DISK', unit: 'BYTES', total: 1 } });
    expect(again.errors?.[0]?.extensions?.code).toBe('CONFLICT');
  });

  test('a host typed by hand gets no resources from facts until an admin turns it on; then its typed ones stay', async () => {
    const marvin = (await t.ok(CREATE_HOST, { i: { siteId: w.site, ownerGroupId: w.groupA, hostname: 'marvin' } })).createHost;
    expect(marvin.inventoryFromFacts).toBe(false);
    expect(marvin.facts.cpus).toBe(facts.cpus);
    expect(await resources(marvin.id)).toEqual({});
    await t.ok(CREATE_RESOURCE, { i: { hostId: marvin.id, type: 'CPU', unit: 'CORES', total: 3 } });
    await report({});
    expect(Object.keys(await resources(marvin.id))).toEqual(['CPU']);

    await t.ok('mutation ($id: ID!) { setHostInventoryFromFacts(id: $id, on: true) { id } }', { id: marvin.id });
    const inventory = await resources(marvin.id);
    expect(inventory.CPU).toMatchObject({ total: 3, source: 'ADMIN' });
    expect(inventory.RAM).toMatchObject({ total: facts.memoryBytes, source: 'FACTS' });
    expect(inventory.DISK).toMatchObject({ total: facts.dataDir.sizeBytes, source: 'FACTS' });
  });

  test('hosts on an agent that never connected get no facts', async () => {
    expect((await t.ok('query ($id: ID!) { host(id: $id) { facts { cpus } } }', { id: w.host1 })).host.facts).toBeNull();
  });
}

describe('host facts on pglite', () => hostFactsSuite('pglite', 'direct'));
describe('host facts on pglite through the JSON loopback', () => hostFactsSuite('pglite', 'loopback'));
describeWithEngine('postgres', 'host facts on postgres', () => hostFactsSuite('postgres', 'direct'));
