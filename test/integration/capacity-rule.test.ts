import { createRootfsTar } from '../../drivers/fake';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { collect, startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, GiB, World } from '../helpers/scenario';

const OP = 'id state error { code message }';
const CREATE = `mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { ${OP} } } }`;

/**
 * One rule for capacity: every path that puts work or data on a host claims it against the
 * group's share (FORBIDDEN without one, CONFLICT when short, nothing half-made) and releases it
 * when the work leaves.
 */
describe('one rule for capacity', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;
  let image: string;
  /** Owned by group A, 16 GiB of RAM; group B gets a CUSTOM share of 4 GiB on it. */
  let marvin: string;
  /** Owned by group A; group B has no share on it. */
  let arthur: string;
  const b = () => w.tokens.memberB;

  const ram = async (hostId: string) => (await t.ok('query ($h: ID) { resources(hostId: $h) { nodes { type used } } }', { h: hostId })).resources.nodes.find((r: { type: string }) => r.type === 'RAM').used as number;
  const settle = async (id: string) => {
    await t.gateway.services.operations.settled(id);
    return (await t.ok(`query ($id: ID!) { operation(id: $id) { ${OP} } }`, { id })).operation;
  };
  const count = async () => (await t.ok('{ environments(includeDestroyed: true) { totalCount } }', {})).environments.totalCount as number;
  const create = (groupId: string, hostId: string, name: string, memoryBytes: number, as: string) => t.gql(CREATE, { i: { groupId, hostId, imageId: image, name, limits: { memoryBytes } } }, as);
  const newHost = async (hostname: string) => {
    const id = (await t.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: w.site, ownerGroupId: w.groupA, hostname, drivers: ['fake'] } })).createHost.id as string;
    await t.ok('mutation ($i: CreateResourceInput!) { createResource(input: $i) { id } }', { i: { hostId: id, type: 'RAM', unit: 'BYTES', total: 16 * GiB } });
    return id;
  };

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    t = await startTestGateway(db);
    w = await buildWorld(t);
    image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: 'app', version: '1', technology: 'fake', visibility: 'PUBLIC' } })).registerImage.id;
    expect((await t.upload(image, createRootfsTar({ '/etc/os-release': 'ID=app\n' }))).status).toBe(200);
    marvin = await newHost('marvin');
    arthur = await newHost('arthur');
    await t.ok('mutation ($i: GrantShareInput!) { grantShare(input: $i) { id } }', { i: { hostId: marvin, groupId: w.groupB, kind: 'CUSTOM', quotas: { RAM: 4 * GiB } } });
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test('a group without a share is FORBIDDEN, naming the host and the missing share; nothing is made or claimed', async () => {
    const before = await count();
    for (const size of [16 * GiB, GiB]) {
      const res = await create(w.groupB, arthur, `nope-${size}`, size, b());
      expect(res.errors?.[0]).toMatchObject({ extensions: { code: 'FORBIDDEN' }, message: 'Group beta has no share on host arthur: ask its owner group alpha for one' });
    }
    expect(await count()).toBe(before);
    expect(await ram(arthur)).toBe(0);
  });

  test("over the group's share or the host's capacity is CONFLICT naming what is short", async () => {
    const first = await create(w.groupB, marvin, 'b-one', 3 * GiB, b());
    expect(first.errors).toBeUndefined();
    expect(await ram(marvin)).toBe(3 * GiB);
    const over = await create(w.groupB, marvin, 'b-two', 2 * GiB, b());
    expect(over.errors?.[0]).toMatchObject({ extensions: { code: 'CONFLICT' }, message: "Host marvin: RAM is short in group beta's share: it allows 4 GiB, 3 GiB already held, 2 GiB wanted" });
    const owner = await create(w.groupA, marvin, 'a-big', 12 * GiB, w.tokens.memberA);
    expect(owner.errors).toBeUndefined();
    const full = await create(w.groupA, marvin, 'a-more', 2 * GiB, w.tokens.memberA);
    expect(full.errors?.[0]).toMatchObject({ extensions: { code: 'CONFLICT' }, message: expect.stringMatching(/^Host marvin: RAM is short: 2 GiB wanted, 1 GiB free/) });
    expect(await ram(marvin)).toBe(15 * GiB);
    for (const res of [first, owner]) {
      await settle(res.data!.createEnvironment.operation.id);
      await settle((await t.ok('mutation ($id: ID!) { destroyEnvironment(id: $id) { id } }', { id: res.data!.createEnvironment.environment.id })).destroyEnvironment.id);
    }
    expect(await ram(marvin)).toBe(0);
  });

  test('a copy claims on its target host: refused where the group has no share, and released when destroyed', async () => {
    const made = (await t.ok(CREATE, { i: { groupId: w.groupB, hostId: marvin, imageId: image, name: 'b-src', limits: { memoryBytes: GiB } } }, b())).createEnvironment;
    await settle(made.operation.id);
    const before = await count();
    const refused = await t.gql('mutation ($id: ID!, $h: ID) { copyEnvironment(id: $id, name: "b-copy", hostId: $h) { environment { id } } }', { id: made.environment.id, h: arthur }, b());
    expect(refused.errors?.[0]).toMatchObject({ extensions: { code: 'FORBIDDEN' }, message: expect.stringMatching(/no share on host arthur/) });
    expect(await count()).toBe(before);
    const copy = (await t.ok(`mutation ($id: ID!) { copyEnvironment(id: $id, name: "b-copy") { environment { id hostId heldBy { hostId environmentId } } operation { ${OP} } } }`, { id: made.environment.id }, b())).copyEnvironment;
    expect(copy.environment.heldBy).toEqual([{ hostId: marvin, environmentId: copy.environment.id }]);
    expect(await ram(marvin)).toBe(2 * GiB);
    expect(await settle(copy.operation.id)).toMatchObject({ state: 'SUCCEEDED' });
    for (const id of [copy.environment.id, made.environment.id]) await settle((await t.ok('mutation ($id: ID!) { destroyEnvironment(id: $id) { id } }', { id }, b())).destroyEnvironment.id);
    expect(await ram(marvin)).toBe(0);
  });

  test('a rebuild with new limits swaps its claim, or is refused and changes nothing', async () => {
    const made = (await t.ok(CREATE, { i: { groupId: w.groupB, hostId: marvin, imageId: image, name: 'b-grow', limits: { memoryBytes: GiB, cpuWeight: 50 } } }, b())).createEnvironment;
    await settle(made.operation.id);
    const rebuild = (limits: Record<string, number>) => t.gql('mutation ($id: ID!, $l: LimitsInput) { rebuildEnvironment(id: $id, limits: $l) { id } }', { id: made.environment.id, l: limits }, b());
    const grown = await rebuild({ memoryBytes: 3 * GiB });
    expect(grown.errors).toBeUndefined();
    expect(await settle(grown.data!.rebuildEnvironment.id)).toMatchObject({ state: 'SUCCEEDED' });
    expect(await ram(marvin)).toBe(3 * GiB);
    const limits = async () => (await t.ok('query ($id: ID!) { environment(id: $id) { status limits { memoryBytes cpuWeight } heldBy { holds { type amount } } } }', { id: made.environment.id }, b())).environment;
    expect(await limits()).toEqual({ status: 'STOPPED', limits: { memoryBytes: 3 * GiB, cpuWeight: 50 }, heldBy: [{ holds: [{ type: 'RAM', amount: 3 * GiB }] }] });
    const tooBig = await rebuild({ memoryBytes: 5 * GiB });
    expect(tooBig.errors?.[0]).toMatchObject({ extensions: { code: 'CONFLICT' }, message: expect.stringMatching(/RAM is short in group beta's share/) });
    expect(await limits()).toEqual({ status: 'STOPPED', limits: { memoryBytes: 3 * GiB, cpuWeight: 50 }, heldBy: [{ holds: [{ type: 'RAM', amount: 3 * GiB }] }] });
    expect(await ram(marvin)).toBe(3 * GiB);
    await settle((await t.ok('mutation ($id: ID!) { destroyEnvironment(id: $id) { id } }', { id: made.environment.id }, b())).destroyEnvironment.id);
    expect(await ram(marvin)).toBe(0);
  });

  test('subscriptions still work (events of a refused create publish nothing)', async () => {
    const sub = collect<{ events: { kind: string; environment: { name: string } | null } }>(t.ws({ authorization: `Bearer ${b()}` }), 'subscription { events { kind environment { name } } }', {}, (e) => e.events.environment?.name === 'b-after', 20_000);
    await sub.ready;
    expect((await create(w.groupB, arthur, 'b-refused', GiB, b())).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const ok = (await create(w.groupB, marvin, 'b-after', GiB, b())).data!.createEnvironment;
    const events = await sub.done;
    expect(events.map((e) => e.events.environment?.name)).not.toContain('b-refused');
    await settle(ok.operation.id);
  });
});
