import { createRootfsTar } from '../../drivers/fake';
import { ResourceUnit } from '../../gateway/persistence/entities';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { describeWithEngine } from '../helpers/engines';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, GiB, World } from '../helpers/scenario';

const MiB = 2 ** 20;
const SET_POLICY = 'mutation ($i: UsagePolicyInput!) { setUsagePolicy(input: $i) { id name mode diskBytes } }';
const CREATE = 'mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }';
const CANDIDATES = 'query ($r: AllocationRequestInput!) { placementCandidates(request: $r) { candidates { hostname } rejected { hostname filter reason } } }';
const ALLOCATE = 'mutation ($r: AllocationRequestInput!) { allocate(request: $r) { id allocations { hostId } } }';

/**
 * Usage policies enforced: over a REFUSE policy a group's new work in the site is refused (naming
 * the policy and the site), over a THROTTLE one its environments there are lowered until its usage
 * is back under it. Usage goes through the accountant's own record path (`observeDisk` + `flush`).
 */
function usagePolicySuite(kind: 'pglite' | 'postgres') {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;
  let image: string;
  /** A host the in-process agent's fake driver serves. */
  let marvin: string;

  /** Records, as the disk measure would, that group A's environments take `bytes` on marvin now, and writes it. */
  const diskUsed = async (bytes: number) => {
    t.gateway.services.metrics.usage.observeDisk(w.groupA, marvin, w.site, bytes);
    await t.gateway.services.metrics.usage.flush();
  };
  const create = (name: string) => t.gql(CREATE, { i: { groupId: w.groupA, hostId: marvin, imageId: image, name } }, w.tokens.memberA);
  const limitsOnEngine = async (id: string) => (await t.gateway.agents.local!.inspectEnvironment({ driver: 'fake', environmentId: id })).limits;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    // No sampling: the usage recorded is only what the tests record.
    t = await startTestGateway(db, { RSP_METRICS_INTERVAL_MS: '0' });
    w = await buildWorld(t);
    image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: 'app', version: '1', technology: 'fake' } }, w.tokens.memberA)).registerImage.id;
    expect((await t.upload(image, createRootfsTar({ '/etc/os-release': 'ID=app\n' }), w.tokens.memberA)).status).toBe(200);
    marvin = (await t.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: w.site, ownerGroupId: w.groupA, hostname: 'marvin', drivers: ['fake'] } })).createHost.id;
    await t.ok('mutation ($i: CreateResourceInput!) { createResource(input: $i) { id } }', { i: { hostId: marvin, type: 'CPU', unit: 'CORES', total: 8 } });
    await t.ok('mutation ($i: CreateResourceInput!) { createResource(input: $i) { id } }', { i: { hostId: marvin, type: 'RAM', unit: 'BYTES', total: 16 * GiB } });
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test("only the site's governors set policies; REFUSE is the default mode", async () => {
    const refused = await t.gql(SET_POLICY, { i: { siteId: w.site, name: 'fair disk', diskBytes: MiB } }, w.tokens.memberA);
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const set = (await t.ok(SET_POLICY, { i: { siteId: w.site, name: 'fair disk', diskBytes: MiB } }, w.tokens.adminA)).setUsagePolicy;
    expect(set).toMatchObject({ name: 'fair disk', mode: 'REFUSE', diskBytes: MiB });
  });

  test('over a REFUSE policy, new work of the group in the site is refused, naming the policy and the site', async () => {
    await diskUsed(2 * MiB);
    const res = await create('over');
    expect(res.errors?.[0]).toMatchObject({
      extensions: { code: 'FORBIDDEN', details: { reason: 'USAGE_POLICY_EXCEEDED', policy: 'fair disk', site: 'north', siteId: w.site, metric: 'diskBytes', used: 2 * MiB, limit: MiB } },
    });
    expect(res.errors![0]!.message).toBe('Group alpha may place no new work in site north: it is over usage policy "fair disk" (it used 2097152 bytes of disk this month, over the 1048576 allowed)');
    expect((await t.ok('{ environments { nodes { name } } }', {}, w.tokens.memberA)).environments.nodes.map((e: { name: string }) => e.name)).not.toContain('over');

    const request = { groupId: w.groupA, resources: [{ type: 'CPU', amount: 1, unit: 'CORES' }], technologies: ['fake'] };
    const explained = (await t.ok(CANDIDATES, { r: request }, w.tokens.memberA)).placementCandidates;
    expect(explained.candidates).toEqual([]);
    expect(explained.rejected).toContainEqual({ hostname: 'marvin', filter: 'USAGE_POLICY', reason: expect.stringMatching(/^usage policy "fair disk" of site north: .* new work of the group in this site is refused$/) });
    const allocated = await t.gql(ALLOCATE, { r: request }, w.tokens.memberA);
    expect(allocated.errors?.[0]).toMatchObject({ extensions: { code: 'FORBIDDEN', details: { reason: 'USAGE_POLICY_EXCEEDED', policy: 'fair disk', site: 'north' } } });
    const direct = await t.gql(ALLOCATE, { r: { ...request, mode: 'DIRECT', hostIds: [marvin] } }, w.tokens.memberA);
    expect(direct.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', details: { reason: 'USAGE_POLICY_EXCEEDED' } });
  });

  test('over a REFUSE policy, failover still restarts existing work: its claim keeps the work, a new one is refused', async () => {
    const claim = { groupId: w.groupA, hostId: marvin, wants: [{ type: 'CPU', amount: 1, unit: ResourceUnit.CORES }], technology: 'fake', requestedBy: 'test' };
    const placement = t.gateway.services.placement;
    await expect(t.gateway.dataSource.transaction((m) => placement.claimWithin(m, claim))).rejects.toMatchObject({ category: 'FORBIDDEN', details: { reason: 'USAGE_POLICY_EXCEEDED', policy: 'fair disk' } });
    const rolledBack = new Error('rolled back: the claim was made');
    await expect(
      t.gateway.dataSource.transaction(async (m) => {
        await placement.claimWithin(m, { ...claim, keepsWork: true });
        throw rolledBack;
      }),
    ).rejects.toBe(rolledBack);
  });

  test('under the policy again, new work is placed', async () => {
    await diskUsed(100);
    const res = await create('under');
    expect(res.errors).toBeUndefined();
    await t.gateway.services.operations.settled(res.data!.createEnvironment.operation.id);
    expect((await t.ok(CANDIDATES, { r: { groupId: w.groupA, resources: [{ type: 'CPU', amount: 1, unit: 'CORES' }], technologies: ['fake'] } }, w.tokens.memberA)).placementCandidates.candidates).toContainEqual({ hostname: 'marvin' });
  });

  test("over a THROTTLE policy, the group's environments in the site get a tenth of their CPU weight, given back once usage is under it", async () => {
    const [env] = (await t.ok('{ environments { nodes { id name } } }', {}, w.tokens.memberA)).environments.nodes.filter((e: { name: string }) => e.name === 'under');
    await t.gateway.services.operations.settled((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: env.id }, w.tokens.memberA)).startEnvironment.id);
    // Setting the policy of the same name replaces it.
    expect((await t.ok(SET_POLICY, { i: { siteId: w.site, name: 'fair disk', diskBytes: MiB, mode: 'THROTTLE' } }, w.tokens.adminA)).setUsagePolicy.mode).toBe('THROTTLE');
    expect((await t.ok('query ($s: ID!) { usagePolicies(siteId: $s) { name mode } }', { s: w.site })).usagePolicies).toEqual([{ name: 'fair disk', mode: 'THROTTLE' }]);

    await diskUsed(2 * MiB);
    expect((await limitsOnEngine(env.id)).cpuWeight).toBe(10);
    // Throttled, not refused: new work is still placed.
    const more = await create('throttled-too');
    expect(more.errors).toBeUndefined();
    await t.gateway.services.operations.settled(more.data!.createEnvironment.operation.id);
    await t.gateway.services.metrics.usage.flush();
    expect((await limitsOnEngine(more.data!.createEnvironment.environment.id)).cpuWeight).toBe(10);

    await diskUsed(100);
    expect((await limitsOnEngine(env.id)).cpuWeight).toBe(100);
    expect((await limitsOnEngine(more.data!.createEnvironment.environment.id)).cpuWeight).toBe(100);
    expect(await t.gateway.dataSource.query('SELECT * FROM usage_throttle')).toEqual([]);
  });
}

describe('usage policies on pglite', () => usagePolicySuite('pglite'));
describeWithEngine('postgres', 'usage policies on postgres', () => usagePolicySuite('postgres'));
