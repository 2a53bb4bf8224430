import { createRootfsTar } from '../../drivers/fake';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { describeWithEngine } from '../helpers/engines';
import { collect, startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, GiB, World } from '../helpers/scenario';

const OP = 'id state error { code message }';
const ALLOCATE = 'mutation ($r: AllocationRequestInput!) { allocate(request: $r) { id status allocations { id hostId technology } } }';
const EVENTS = 'subscription { events { kind groupId allocation { requestId change status reason decidedBy hostIds allocationIds } } }';

/** Environments on allocations (create takes one, destroy releases it) and approval steps on `events`. */
function environmentAllocationSuite(kind: 'pglite' | 'postgres') {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;
  let image: string;
  /** A host the in-process agent's fake driver serves, with CPU, RAM and DISK. */
  let fakeHost: string;
  const token = () => w.tokens.memberA;

  const used = async (hostId: string) => {
    const { resources } = await t.ok('query ($h: ID) { resources(hostId: $h) { nodes { type used owners } } }', { h: hostId });
    return Object.fromEntries(resources.nodes.map((r: any) => [r.type, { used: r.used, owners: r.owners }]));
  };
  const allocate = async (resources: unknown[], extra: Record<string, unknown> = {}) =>
    (await t.ok(ALLOCATE, { r: { groupId: w.groupA, mode: 'DIRECT', hostIds: [fakeHost], resources, ...extra } }, token())).allocate.allocations[0] as { id: string; hostId: string; technology: string };
  const create = (input: Record<string, unknown>, as: string | undefined = token()) =>
    t.gql(`mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id hostId allocationId limits { cpuQuota memoryBytes diskBytes cpuWeight } } operation { ${OP} } } }`, { i: { groupId: w.groupA, imageId: image, ...input } }, as);
  const settle = async (id: string) => {
    await t.gateway.services.operations.settled(id);
    return (await t.ok(`query ($id: ID!) { operation(id: $id) { ${OP} } }`, { id })).operation;
  };

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    t = await startTestGateway(db);
    w = await buildWorld(t);
    image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: 'app', version: '1', technology: 'fake' } }, token())).registerImage.id;
    expect((await t.upload(image, createRootfsTar({ '/etc/os-release': 'ID=app\n' }), token())).status).toBe(200);
    fakeHost = (await t.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: w.site, ownerGroupId: w.groupA, hostname: 'marvin', drivers: ['fake'] } })).createHost.id;
    const resource = (type: string, unit: string, total: number) => t.ok('mutation ($i: CreateResourceInput!) { createResource(input: $i) { id } }', { i: { hostId: fakeHost, type, unit, total } });
    await resource('CPU', 'CORES', 8);
    await resource('RAM', 'BYTES', 16 * GiB);
    await resource('DISK', 'BYTES', 100 * GiB);
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test('an environment on an allocation runs on its host with its limits; destroying it releases the capacity exactly', async () => {
    const before = await used(fakeHost);
    const allocation = await allocate([{ type: 'CPU', amount: 2, unit: 'CORES' }, { type: 'RAM', amount: 2 * GiB, unit: 'BYTES' }]);
    expect(allocation.technology).toBe('fake');
    const held = await used(fakeHost);
    expect(held.CPU).toEqual({ used: before.CPU.used + 2, owners: [allocation.id] });
    expect(held.RAM.used).toBe(before.RAM.used + 2 * GiB);

    // No hostId: the allocation's host is used; limits not asked come from what it holds.
    const res = await create({ name: 'on-alloc', allocationId: allocation.id, limits: { cpuWeight: 50 } });
    expect(res.errors).toBeUndefined();
    const { environment, operation } = res.data!.createEnvironment;
    expect(environment).toEqual({ id: expect.any(String), hostId: fakeHost, allocationId: allocation.id, limits: { cpuQuota: 2, memoryBytes: 2 * GiB, diskBytes: null, cpuWeight: 50 } });
    expect(await settle(operation.id)).toMatchObject({ state: 'SUCCEEDED' });

    // One live environment per allocation.
    const second = await create({ name: 'second', allocationId: allocation.id });
    expect(second.errors?.[0]).toMatchObject({ extensions: { code: 'CONFLICT' }, message: expect.stringMatching(/already holds environment on-alloc/) });

    const destroy = (await t.ok('mutation ($id: ID!) { destroyEnvironment(id: $id) { id } }', { id: environment.id }, token())).destroyEnvironment;
    expect(await settle(destroy.id)).toMatchObject({ state: 'SUCCEEDED' });
    expect((await t.ok('query ($id: ID!) { allocation(id: $id) { status endedAt } }', { id: allocation.id }, token())).allocation).toEqual({ status: 'RELEASED', endedAt: expect.any(String) });
    expect(await used(fakeHost)).toEqual(before);

    // A released allocation can no longer take an environment.
    const late = await create({ name: 'late', allocationId: allocation.id });
    expect(late.errors?.[0]).toMatchObject({ extensions: { code: 'CONFLICT' }, message: expect.stringMatching(/RELEASED, not ACTIVE/) });
  });

  test('an environment without an allocation holds an implicit one for its limits, released when it is destroyed', async () => {
    const before = await used(fakeHost);
    const res = await create({ name: 'plain', hostId: fakeHost, limits: { memoryBytes: GiB } });
    expect(res.errors).toBeUndefined();
    const environment = res.data!.createEnvironment.environment;
    expect(environment).toMatchObject({ hostId: fakeHost, allocationId: null, limits: { memoryBytes: GiB, cpuQuota: null } });
    const { heldBy } = (await t.ok('query ($id: ID!) { environment(id: $id) { heldBy { id hostId environmentId status holds { type amount unit } } } }', { id: environment.id }, token())).environment;
    expect(heldBy).toEqual([{ id: expect.any(String), hostId: fakeHost, environmentId: environment.id, status: 'ACTIVE', holds: [{ type: 'RAM', amount: GiB, unit: 'BYTES' }] }]);
    expect((await used(fakeHost)).RAM).toEqual({ used: before.RAM.used + GiB, owners: [heldBy[0].id] });
    // It is released with the environment, not on its own.
    const release = await t.gql('mutation ($id: ID!) { releaseAllocation(id: $id) { id } }', { id: heldBy[0].id }, token());
    expect(release.errors?.[0]).toMatchObject({ extensions: { code: 'CONFLICT' }, message: expect.stringMatching(/released when the environment is destroyed/) });
    await settle(res.data!.createEnvironment.operation.id);
    const destroy = (await t.ok('mutation ($id: ID!) { destroyEnvironment(id: $id) { id } }', { id: environment.id }, token())).destroyEnvironment;
    expect(await settle(destroy.id)).toMatchObject({ state: 'SUCCEEDED' });
    expect(await used(fakeHost)).toEqual(before);
    expect((await t.ok('query ($id: ID!) { allocation(id: $id) { status } }', { id: heldBy[0].id }, token())).allocation.status).toBe('RELEASED');
  });

  test('bad allocations are refused with a clear error and leave nothing behind', async () => {
    const before = (await t.ok('{ environments(includeDestroyed: true) { totalCount } }', {}, token())).environments.totalCount;
    const allocation = await allocate([{ type: 'CPU', amount: 1, unit: 'CORES' }, { type: 'RAM', amount: GiB, unit: 'BYTES' }]);
    // An allocation for lxc on trillian, placed while its agent reported lxc first, which it has lost since.
    const probe = await t.gateway.agents.get('local')!.drivers();
    await t.gateway.services.sites.recordProbe('local', [{ technology: 'lxc', available: true }, ...probe]);
    const onOther = (await t.ok(ALLOCATE, { r: { groupId: w.groupA, mode: 'DIRECT', hostIds: [w.host2], resources: [{ type: 'CPU', amount: 1, unit: 'CORES' }] } }, token())).allocate.allocations[0];
    await t.gateway.services.sites.recordProbe('local', probe);
    const cases: Array<[Record<string, unknown>, string | undefined, string, RegExp]> = [
      [{ name: 'c1', allocationId: allocation.id, limits: { memoryBytes: 2 * GiB } }, undefined, 'BAD_USER_INPUT', /more than allocation .* holds/],
      [{ name: 'c2', allocationId: allocation.id, limits: { diskBytes: GiB } }, undefined, 'BAD_USER_INPUT', /holds no DISK/],
      [{ name: 'c3', allocationId: allocation.id, hostId: w.host1 }, undefined, 'BAD_USER_INPUT', /is on host/],
      [{ name: 'c4', allocationId: onOther.id }, undefined, 'BAD_USER_INPUT', /is for lxc/],
      [{ name: 'c5', allocationId: '00000000-0000-4000-8000-000000000000' }, undefined, 'NOT_FOUND', /Allocation/],
      [{ name: 'c6' }, undefined, 'BAD_USER_INPUT', /Name the host/],
      // Another group's member cannot see it; a site admin acting for another group is told it is not that group's.
      [{ name: 'c7', groupId: w.groupB, allocationId: allocation.id }, w.tokens.memberB, 'NOT_FOUND', /Allocation/],
      [{ name: 'c8', groupId: w.groupB, allocationId: allocation.id }, t.adminToken, 'BAD_USER_INPUT', /belongs to another group/],
    ];
    for (const [input, as, code, message] of cases) {
      const res = await create(input, as ?? token());
      expect({ input, code: res.errors?.[0]?.extensions?.code, message: res.errors?.[0]?.message }).toEqual({ input, code, message: expect.stringMatching(message) });
    }
    expect((await t.ok('{ environments(includeDestroyed: true) { totalCount } }', {}, token())).environments.totalCount).toBe(before);
    await t.ok('mutation ($id: ID!) { releaseAllocation(id: $id) { id } }', { id: allocation.id }, token());
    await t.ok('mutation ($id: ID!) { releaseAllocation(id: $id) { id } }', { id: onOther.id }, token());
  });

  test('approval steps reach events: the requesting group and site admins see them, other groups do not', async () => {
    const isAllocation = (e: { events: any }) => e.events.kind === 'ALLOCATION';
    const mine = collect<{ events: any }>(t.ws({ authorization: `Bearer ${w.tokens.viewerA}` }), EVENTS, {}, (e) => isAllocation(e) && e.events.allocation.change === 'REJECTED', 20_000);
    const admin = collect<{ events: any }>(t.ws(), EVENTS, {}, (e) => isAllocation(e) && e.events.allocation.change === 'REJECTED', 20_000);
    const other = collect<{ events: any }>(t.ws({ authorization: `Bearer ${w.tokens.memberB}` }), EVENTS, {}, () => false, 4000);
    await Promise.all([mine.ready, admin.ready, other.ready]);

    const request = (await t.ok(ALLOCATE, { r: { groupId: w.groupA, mode: 'APPROVAL', resources: [{ type: 'CPU', amount: 1, unit: 'CORES' }] } }, token())).allocate;
    expect(request.status).toBe('PENDING');
    const approved = (await t.ok('mutation ($id: ID!, $h: [ID!]) { approveAllocation(id: $id, hostIds: $h, reason: "fits") { status allocations { id hostId } } }', { id: request.id, h: [fakeHost] })).approveAllocation;
    expect(approved.status).toBe('PLACED');
    const refused = (await t.ok(ALLOCATE, { r: { groupId: w.groupA, mode: 'APPROVAL', resources: [{ type: 'CPU', amount: 64, unit: 'CORES' }] } }, token())).allocate;
    await t.ok('mutation ($id: ID!) { rejectAllocation(id: $id, reason: "too big") { status } }', { id: refused.id });

    const expected = [
      { kind: 'ALLOCATION', groupId: w.groupA, allocation: { requestId: request.id, change: 'REQUESTED', status: 'PENDING', reason: null, decidedBy: null, hostIds: [], allocationIds: [] } },
      { kind: 'ALLOCATION', groupId: w.groupA, allocation: { requestId: request.id, change: 'APPROVED', status: 'PLACED', reason: 'fits', decidedBy: expect.any(String), hostIds: [fakeHost], allocationIds: [approved.allocations[0].id] } },
      { kind: 'ALLOCATION', groupId: w.groupA, allocation: { requestId: refused.id, change: 'REQUESTED', status: 'PENDING', reason: null, decidedBy: null, hostIds: [], allocationIds: [] } },
      { kind: 'ALLOCATION', groupId: w.groupA, allocation: { requestId: refused.id, change: 'REJECTED', status: 'REJECTED', reason: 'too big', decidedBy: expect.any(String), hostIds: [], allocationIds: [] } },
    ];
    expect((await mine.done).filter(isAllocation).map((e) => e.events)).toEqual(expected);
    expect((await admin.done).filter(isAllocation).map((e) => e.events)).toEqual(expected);
    await other.done.catch(() => undefined);
    expect(other.events.filter(isAllocation)).toEqual([]);
    await t.ok('mutation ($id: ID!) { releaseAllocation(id: $id) { id } }', { id: approved.allocations[0].id }, token());
  });
}

describe('environments on allocations on pglite', () => environmentAllocationSuite('pglite'));
describeWithEngine('postgres', 'environments on allocations on postgres', () => environmentAllocationSuite('postgres'));
