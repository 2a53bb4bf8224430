import { SYSTEM } from '../../gateway/auth/principal';
import { RspError } from '../../gateway/errors';
import { AllocationGuarantee, PlacementMode } from '../../gateway/persistence/entities';
import { InventorySnapshot } from '../../gateway/placement/snapshot';
import { PlacementService } from '../../gateway/services/placement-service';
import { until } from '../helpers/until';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { describeWithEngine } from '../helpers/engines';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, GiB, World } from '../helpers/scenario';

const ALLOCATE = 'mutation ($r: AllocationRequestInput!) { allocate(request: $r) { id status mode reason allocations { id hostId technology guarantee status expiresAt } } }';
const CPU = (amount: number) => [{ type: 'CPU', amount, unit: 'CORES' }];

/** Placement through GraphQL: dry runs, the three modes, overbooking, quotas, leases, release, owners, batches, races. */
function placementSuite(kind: 'pglite' | 'postgres') {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;

  const cpuOf = async (hostId: string) => (await t.ok('query ($h: ID) { resources(hostId: $h, type: "CPU") { nodes { id used owners } } }', { h: hostId })).resources.nodes[0] as { id: string; used: number; owners: string[] };
  const allocate = (r: Record<string, unknown>, token?: string) => t.gql(ALLOCATE, { r: { groupId: w.groupA, ...r } }, token);
  const firstResourceOf = async (hostId: string) => (await t.ok('query ($h: ID) { resources(hostId: $h) { nodes { used } } }', { h: hostId })).resources.nodes[0] as { used: number };
  const release = (id: string) => t.ok('mutation ($id: ID!) { releaseAllocation(id: $id) { status } }', { id });
  /** A host with one custom SLOT resource of `slots` units. */
  const slotHost = async (hostname: string, slots: number) => {
    const id = (await t.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: w.site, ownerGroupId: w.groupA, hostname, drivers: ['fake'] } })).createHost.id as string;
    await t.ok('mutation ($i: CreateResourceInput!) { createResource(input: $i) { id } }', { i: { hostId: id, type: 'SLOT', unit: 'COUNT', total: slots } });
    return id;
  };

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    t = await startTestGateway(db);
    w = await buildWorld(t, { declaredTechnologies: true });
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test('the dry run ranks hosts with scores and says which filter rejected the others', async () => {
    const q = 'query ($r: AllocationRequestInput!) { placementCandidates(request: $r) { candidates { hostname score technology } rejected { hostname filter reason } } }';
    const byTech = (await t.ok(q, { r: { groupId: w.groupA, resources: CPU(2), technologies: ['docker'] } }, w.tokens.memberA)).placementCandidates;
    expect(byTech.candidates).toEqual([{ hostname: 'zaphod', score: expect.any(Number), technology: 'docker' }]);
    expect(byTech.rejected).toEqual([{ hostname: 'trillian', filter: 'TECHNOLOGY', reason: 'host offers lxc, the request wants docker' }]);
    const byProperty = (await t.ok(q, { r: { groupId: w.groupA, resources: CPU(2), requiredProperties: [{ key: 'diskEncryption', op: 'EQ', values: [true] }] } })).placementCandidates;
    expect(byProperty.rejected).toEqual([{ hostname: 'trillian', filter: 'PROPERTIES', reason: 'diskEncryption is false, needs true' }]);
    const tooBig = (await t.ok(q, { r: { groupId: w.groupA, resources: CPU(6) } })).placementCandidates;
    expect(tooBig.candidates.map((c: any) => c.hostname)).toEqual(['zaphod']);
    expect(tooBig.rejected).toEqual([{ hostname: 'trillian', filter: 'CAPACITY', reason: 'CPU: 6 wanted, 4 free (allocation ratio 1)' }]);
    const binpack = (await t.ok(q, { r: { groupId: w.groupA, resources: CPU(2), technologies: ['lxc'] } })).placementCandidates.candidates;
    expect(binpack.map((c: any) => c.hostname)).toEqual(['trillian', 'zaphod']);
    expect(binpack[0].score).toBeCloseTo(10 + 2 / 4);
  });

  test('AUTOMATIC places on the best host, holds the capacity and shows it in Resource.owners; release gives it back exactly', async () => {
    const before = await cpuOf(w.host2);
    const res = await allocate({ mode: 'AUTOMATIC', resources: CPU(2), technologies: ['lxc'] }, w.tokens.memberA);
    const placed = res.data!.allocate;
    expect(placed).toMatchObject({ status: 'PLACED', mode: 'AUTOMATIC', allocations: [{ hostId: w.host2, technology: 'lxc', guarantee: 'BEST_EFFORT', status: 'ACTIVE', expiresAt: null }] });
    const after = await cpuOf(w.host2);
    expect(after.used).toBe(before.used + 2);
    expect(after.owners).toEqual([placed.allocations[0].id]);
    expect((await release(placed.allocations[0].id)).releaseAllocation.status).toBe('RELEASED');
    expect(await cpuOf(w.host2)).toEqual({ ...before, owners: [] });
    const again = await t.gql('mutation ($id: ID!) { releaseAllocation(id: $id) { id } }', { id: placed.allocations[0].id });
    expect(again.errors?.[0]?.extensions?.code).toBe('CONFLICT');
  });

  test('DIRECT uses the hosts named, still validated', async () => {
    const refused = await allocate({ mode: 'DIRECT', hostIds: [w.host2], resources: CPU(8) });
    expect(refused.errors?.[0]).toMatchObject({ extensions: { code: 'CONFLICT' }, message: expect.stringContaining('trillian: CAPACITY (CPU: 8 wanted, 4 free') });
    const ok = await allocate({ mode: 'DIRECT', hostIds: [w.host1], resources: CPU(8) });
    expect(ok.data!.allocate.allocations[0].hostId).toBe(w.host1);
    await release(ok.data!.allocate.allocations[0].id);
    const missing = await allocate({ mode: 'DIRECT', resources: CPU(1) });
    expect(missing.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  test('APPROVAL waits for a site admin, who approves or rejects with a reason', async () => {
    const pending = (await allocate({ mode: 'APPROVAL', resources: CPU(1) }, w.tokens.memberA)).data!.allocate;
    expect(pending).toMatchObject({ status: 'PENDING', allocations: [] });
    const listed = await t.ok('{ allocationRequests(status: PENDING) { nodes { id } } }');
    expect(listed.allocationRequests.nodes.map((n: any) => n.id)).toContain(pending.id);
    const byMember = await t.gql('mutation ($id: ID!) { approveAllocation(id: $id) { id } }', { id: pending.id }, w.tokens.adminA);
    expect(byMember.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const approved = await t.ok('mutation ($id: ID!, $h: [ID!]) { approveAllocation(id: $id, hostIds: $h, reason: "fits the plan") { status reason decidedBy allocations { hostId } } }', { id: pending.id, h: [w.host2] });
    expect(approved.approveAllocation).toMatchObject({ status: 'PLACED', reason: 'fits the plan', allocations: [{ hostId: w.host2 }] });
    const twice = await t.gql('mutation ($id: ID!) { rejectAllocation(id: $id, reason: "late") { id } }', { id: pending.id });
    expect(twice.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    const other = (await allocate({ mode: 'APPROVAL', resources: CPU(1) }, w.tokens.memberA)).data!.allocate;
    const rejected = await t.ok('mutation ($id: ID!) { rejectAllocation(id: $id, reason: "site is full this month") { status reason allocations { id } } }', { id: other.id });
    expect(rejected.rejectAllocation).toEqual({ status: 'REJECTED', reason: 'site is full this month', allocations: [] });
    await release((await t.ok('query ($id: ID!) { allocationRequest(id: $id) { allocations { id } } }', { id: pending.id })).allocationRequest.allocations[0].id);
  });

  test('best effort overbooks up to allocationRatio; guaranteed never overbooks', async () => {
    // zaphod: 8 cores × ratio 4 = 32 best-effort cores, 8 guaranteed.
    const be = await allocate({ mode: 'DIRECT', hostIds: [w.host1], resources: CPU(20) });
    expect(be.errors).toBeUndefined();
    const tooMuch = await allocate({ mode: 'DIRECT', hostIds: [w.host1], resources: CPU(9), guarantee: 'GUARANTEED' });
    expect(tooMuch.errors?.[0]?.message).toMatch(/CPU: 9 wanted, 8 free for guaranteed use \(no overbooking\)/);
    const g = await allocate({ mode: 'DIRECT', hostIds: [w.host1], resources: CPU(8), guarantee: 'GUARANTEED' });
    expect(g.data!.allocate.allocations[0]).toMatchObject({ guarantee: 'GUARANTEED', expiresAt: expect.any(String) });
    const over = await allocate({ mode: 'DIRECT', hostIds: [w.host1], resources: CPU(5) });
    expect(over.errors?.[0]?.message).toMatch(/CPU: 5 wanted, 4 free \(allocation ratio 4\)/);
    expect((await cpuOf(w.host1)).used).toBe(28);
    await release(be.data!.allocate.allocations[0].id);
    await release(g.data!.allocate.allocations[0].id);
    expect((await cpuOf(w.host1)).used).toBe(0);
  });

  test("quota: a group places only within its share of another group's host", async () => {
    const noShare = await allocate({ groupId: w.groupB, resources: CPU(1) }, w.tokens.memberB);
    expect(noShare.errors?.[0]).toMatchObject({ extensions: { code: 'CONFLICT' }, message: expect.stringContaining('QUOTA (the group has no share on this host)') });
    await t.ok('mutation ($i: GrantShareInput!) { grantShare(input: $i) { id } }', { i: { hostId: w.host1, groupId: w.groupB, kind: 'CUSTOM', quotas: { CPU: 3, RAM: 4 * GiB } } });
    const first = await allocate({ groupId: w.groupB, resources: CPU(2) }, w.tokens.memberB);
    expect(first.data!.allocate.allocations[0].hostId).toBe(w.host1);
    const second = await allocate({ groupId: w.groupB, resources: CPU(2) }, w.tokens.memberB);
    expect(second.errors?.[0]?.message).toMatch(/zaphod: QUOTA \(CPU: the group's share allows 3, 2 already used, 2 wanted\)/);
    const notMine = await allocate({ groupId: w.groupB, resources: CPU(1) }, w.tokens.memberA);
    expect(notMine.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    await release(first.data!.allocate.allocations[0].id);
  });

  test('anti-affinity spreads replicas over hosts', async () => {
    const two = (await allocate({ resources: CPU(1), replicas: 2, antiAffinity: 'HOST' })).data!.allocate;
    expect(two.allocations.map((a: any) => a.hostId).sort()).toEqual([w.host1, w.host2].sort());
    const bySite = await allocate({ resources: CPU(1), replicas: 2, antiAffinity: 'SITE' });
    expect(bySite.errors?.[0]?.message).toMatch(/replica 2.*ANTI_AFFINITY/);
    for (const a of two.allocations) await release(a.id);
  });

  test('allocateMany keeps a result per item', async () => {
    const res = await t.ok('mutation ($r: [AllocationRequestInput!]!) { allocateMany(requests: $r) { index error { code message } request { status allocations { hostId } } } }', {
      r: [
        { groupId: w.groupA, resources: CPU(1) },
        { groupId: w.groupA, resources: [{ type: 'CPU', amount: -1, unit: 'CORES' }] },
        { groupId: w.groupB, resources: CPU(1) },
        { groupId: w.groupA, resources: CPU(1000) },
        { groupId: w.groupA, resources: CPU(1), technologies: ['lxc'] },
        { groupId: w.groupA, resources: [{ type: 'cpu', amount: 1, unit: 'CORES' }] },
        { groupId: w.groupA, resources: [] },
        { groupId: w.groupA, resources: CPU(1), replicas: 0 },
        { groupId: w.groupA, resources: CPU(1), guarantee: 'GUARANTEED', leaseSeconds: 0 },
      ],
    }, w.tokens.memberA);
    expect(res.allocateMany.map((r: any) => r.error?.code ?? r.request.status)).toEqual(['PLACED', 'BAD_USER_INPUT', 'FORBIDDEN', 'CONFLICT', 'PLACED', 'BAD_USER_INPUT', 'BAD_USER_INPUT', 'BAD_USER_INPUT', 'BAD_USER_INPUT']);
    // Each broken rule is named in its own item's error.
    expect(res.allocateMany.slice(5).map((r: any) => r.error.message)).toEqual([
      expect.stringMatching(/"cpu" is not a resource type: use UPPER_CASE/),
      expect.stringMatching(/ask for at least one resource/),
      expect.stringMatching(/replicas must be a whole number from 1 to 100/),
      expect.stringMatching(/A lease is a whole number of seconds/),
    ]);
    const tooMany = await t.gql('mutation ($r: [AllocationRequestInput!]!) { allocateMany(requests: $r) { index } }', { r: Array.from({ length: 1001 }, () => ({ groupId: w.groupA, resources: CPU(1) })) }, w.tokens.memberA);
    expect(tooMany.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' }, message: expect.stringMatching(/batch items limit: 1001 > 1000 \(RSP_MAX_BATCH_ITEMS\)/) });
    // A malformed item fails the whole batch (the variables' shape check names it), and places nothing.
    const malformed = await t.gql('mutation ($r: [AllocationRequestInput!]!) { allocateMany(requests: $r) { index } }', { r: [{ groupId: w.groupA, resources: CPU(1) }, { groupId: w.groupA, resources: CPU(1), bogus: true }] }, w.tokens.memberA);
    expect(malformed.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' }, message: 'Variable "$r" got an invalid value at "r[1].bogus": Field "bogus" is not defined by type "AllocationRequestInput"' });
    const mine = await t.ok('query ($g: ID) { allocations(groupId: $g, status: ACTIVE) { totalCount nodes { id } } }', { g: w.groupA }, w.tokens.viewerA);
    expect(mine.allocations.totalCount).toBe(2);
    for (const n of mine.allocations.nodes) await release(n.id);
    const others = await t.gql('query ($g: ID) { allocations(groupId: $g) { totalCount } }', { g: w.groupA }, w.tokens.memberB);
    expect(others.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  test('leases: a guaranteed allocation expires unless renewed, and the sweep frees its capacity', async () => {
    let now = Date.now();
    const placement = new PlacementService(t.gateway.dataSource, { now: () => new Date(now) });
    const before = await cpuOf(w.host2);
    const { allocations } = await placement.allocate(SYSTEM, { groupId: w.groupA, mode: PlacementMode.DIRECT, hostIds: [w.host2], guarantee: AllocationGuarantee.GUARANTEED, resources: CPU(3), leaseSeconds: 60 });
    const id = allocations[0]!.id;
    expect(allocations[0]!.expiresAt!.getTime()).toBe(now + 60_000);
    now += 30_000;
    expect(await placement.expireLeases()).toBe(0);
    expect((await placement.renew(SYSTEM, id)).expiresAt!.getTime()).toBe(now + 60_000);
    now += 59_000;
    expect(await placement.expireLeases()).toBe(0);
    expect((await cpuOf(w.host2)).used).toBe(before.used + 3);
    now += 2_000;
    expect(await placement.expireLeases()).toBe(1);
    expect(await cpuOf(w.host2)).toEqual({ ...before, owners: [] });
    expect((await placement.get(SYSTEM, id)).status).toBe('EXPIRED');
    await expect(placement.renew(SYSTEM, id)).rejects.toMatchObject({ category: 'CONFLICT' });
  });

  test('racing for the last unit: exactly one wins, the others get CONFLICT', async () => {
    const hostId = await slotHost(`last-${kind}`, 1);
    const r = { groupId: w.groupA, resources: [{ type: 'SLOT', amount: 1, unit: 'COUNT' }] };
    const results = await Promise.all(Array.from({ length: 50 }, () => t.gql(ALLOCATE, { r })));
    const won = results.filter((x) => !x.errors);
    expect(won).toHaveLength(1);
    expect(results.filter((x) => x.errors?.[0]?.extensions?.code === 'CONFLICT')).toHaveLength(49);
    const slot = (await t.ok('query ($h: ID) { resources(hostId: $h) { nodes { used owners } } }', { h: hostId })).resources.nodes[0];
    expect(slot).toEqual({ used: 1, owners: [won[0]!.data!.allocate.allocations[0].id] });
    await release(won[0]!.data!.allocate.allocations[0].id);
  });

  test('the transaction commit path (large groups) gives the same race result and exact release', async () => {
    const hostId = await slotHost(`last-tx-${kind}`, 1);
    const placement = new PlacementService(t.gateway.dataSource, { oneStatementResources: 0 });
    const request = { groupId: w.groupA, mode: PlacementMode.DIRECT, guarantee: AllocationGuarantee.BEST_EFFORT, hostIds: [hostId], resources: [{ type: 'SLOT', amount: 1, unit: 'COUNT' }] };
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => placement.allocate(SYSTEM, request)));
    const won = results.filter((x) => x.status === 'fulfilled');
    expect(won).toHaveLength(1);
    expect(results.filter((x) => x.status === 'rejected').map((x) => (x as PromiseRejectedResult).reason.category)).toEqual(Array(19).fill('CONFLICT'));
    const batch = await placement.allocateMany(SYSTEM, [request, { ...request, hostIds: [w.host1], resources: CPU(1) }]);
    expect(batch.map((r) => (r instanceof RspError ? r.category : r.request.status))).toEqual(['CONFLICT', 'PLACED']);
    const allocationId = (won[0] as PromiseFulfilledResult<Awaited<ReturnType<PlacementService['allocate']>>>).value.allocations[0]!.id;
    expect((await t.ok('query ($h: ID) { resources(hostId: $h) { nodes { used owners } } }', { h: hostId })).resources.nodes[0]).toEqual({ used: 1, owners: [allocationId] });
    await release(allocationId);
    for (const r of batch) if (!(r instanceof RspError)) for (const a of r.allocations) await release(a.id);
    expect((await t.ok('query ($h: ID) { resources(hostId: $h) { nodes { used owners } } }', { h: hostId })).resources.nodes[0]).toEqual({ used: 0, owners: [] });
  });

  test('the transaction commit path checks that the host is still UP and the share still granted, as the one-statement path does', async () => {
    const placement = new PlacementService(t.gateway.dataSource, { oneStatementResources: 0 });
    const stale = await slotHost(`stale-up-tx-${kind}`, 1);
    const shared = await slotHost(`share-tx-${kind}`, 2);
    const share = (await t.ok('mutation ($i: GrantShareInput!) { grantShare(input: $i) { id } }', { i: { hostId: shared, groupId: w.groupB, kind: 'CUSTOM', quotas: { SLOT: 2 } } })).grantShare.id;
    const ask = (groupId: string, hostname: string) => ({ groupId, mode: PlacementMode.AUTOMATIC, guarantee: AllocationGuarantee.BEST_EFFORT, resources: [{ type: 'SLOT', amount: 1, unit: 'COUNT' }], requiredProperties: [{ key: 'hostname', op: 'EQ' as const, values: [hostname] }] });
    // The service reads its picture now, with the host UP and the share granted; both change behind its back.
    expect((await placement.candidates(SYSTEM, ask(w.groupA, `stale-up-tx-${kind}`))).candidates.map((c) => c.host.id)).toEqual([stale]);
    expect((await placement.candidates(SYSTEM, ask(w.groupB, `share-tx-${kind}`))).candidates.map((c) => c.host.id)).toEqual([shared]);
    await t.gateway.dataSource.query(`UPDATE host SET state = 'MAINTENANCE' WHERE id = $1`, [stale]);
    await t.ok('mutation ($id: ID!) { revokeShare(id: $id) }', { id: share });
    const results = await placement.allocateMany(SYSTEM, [ask(w.groupA, `stale-up-tx-${kind}`), ask(w.groupB, `share-tx-${kind}`)]);
    // Each refused, with the filter that now rejects its host (the other hosts fail the hostname property).
    const refusal = (r: (typeof results)[number], hostId: string) => (r instanceof RspError ? `${r.category} ${(r.details as { rejections?: Array<{ hostId: string; filter: string }> }).rejections?.find((x) => x.hostId === hostId)?.filter}` : r.request.status);
    expect([refusal(results[0]!, stale), refusal(results[1]!, shared)]).toEqual(['CONFLICT HOST_STATE', 'CONFLICT QUOTA']);
    expect((await firstResourceOf(stale)).used).toBe(0);
    expect((await firstResourceOf(shared)).used).toBe(0);
  });

  test('writes through this gateway are in its placement picture at once: host state, inventory, shares', async () => {
    const hostId = await slotHost(`at-once-${kind}`, 1);
    const r = (groupId: string) => ({ groupId, resources: [{ type: 'SLOT', amount: 1, unit: 'COUNT' }], requiredProperties: [{ key: 'hostname', op: 'EQ', values: [`at-once-${kind}`] }] });
    /** What the picture says of the host now (a dry run: no catch-up, no waiting). */
    const says = async (groupId = w.groupA) => {
      const { placementCandidates: p } = await t.ok('query ($r: AllocationRequestInput!) { placementCandidates(request: $r) { candidates { hostname } rejected { hostname reason } } }', { r: r(groupId) });
      return p.candidates.length ? 'candidate' : (p.rejected.find((x: { hostname: string }) => x.hostname === `at-once-${kind}`)?.reason ?? 'absent');
    };
    expect(await says()).toBe('candidate');
    await t.ok('mutation ($id: ID!) { setHostState(id: $id, state: MAINTENANCE) { state } }', { id: hostId });
    expect(await says()).toBe('host is MAINTENANCE, not UP');
    await t.ok('mutation ($id: ID!) { setHostState(id: $id, state: UP) { state } }', { id: hostId });
    expect(await says()).toBe('candidate');
    const resourceId = (await t.ok('query ($h: ID) { resources(hostId: $h) { nodes { id } } }', { h: hostId })).resources.nodes[0].id;
    await t.ok('mutation ($i: UpdateInventoryInput!) { updateInventory(input: $i) { id } }', { i: { id: resourceId, total: 0 } });
    expect(await says()).toBe('SLOT: 1 wanted, 0 free (allocation ratio 1)');
    await t.ok('mutation ($i: UpdateInventoryInput!) { updateInventory(input: $i) { id } }', { i: { id: resourceId, total: 1 } });
    expect(await says(w.groupB)).toBe('the group has no share on this host');
    const share = (await t.ok('mutation ($i: GrantShareInput!) { grantShare(input: $i) { id } }', { i: { hostId, groupId: w.groupB, kind: 'CUSTOM', quotas: { SLOT: 1 } } })).grantShare.id;
    expect(await says(w.groupB)).toBe('candidate');
    await t.ok('mutation ($id: ID!) { revokeShare(id: $id) }', { id: share });
    expect(await says(w.groupB)).toBe('the group has no share on this host');
  });

  test("an inventory change keeps the claims that landed after it read the resource, and refuses to drop below them", async () => {
    const hostId = await slotHost(`inventory-race-${kind}`, 4);
    const resourceId = (await t.ok('query ($h: ID) { resources(hostId: $h) { nodes { id } } }', { h: hostId })).resources.nodes[0].id as string;
    const resources = t.gateway.services.resources;
    const get = resources.get;
    // A claim of 2 lands between the service's read of the resource and its write (the first read only).
    resources.get = async (actor, id) => {
      resources.get = get;
      const before = await get.call(resources, actor, id);
      await t.gateway.dataSource.query('UPDATE resource SET used = used + 2, generation = generation + 1 WHERE id = $1', [id]);
      return before;
    };
    try {
      await t.ok('mutation ($i: UpdateInventoryInput!) { updateInventory(input: $i) { id } }', { i: { id: resourceId, total: 3 } });
      const inventory = async () => (await t.ok('query ($h: ID) { resources(hostId: $h) { nodes { total used } } }', { h: hostId })).resources.nodes[0];
      expect(await inventory()).toEqual({ total: 3, used: 2 });
      const refused = await t.gql('mutation ($i: UpdateInventoryInput!) { updateInventory(input: $i) { id } }', { i: { id: resourceId, total: 1 } });
      expect(refused.errors?.[0]).toMatchObject({ message: 'Capacity 1 would be below what is already used (2)', extensions: { code: 'CONFLICT' } });
      expect(await inventory()).toEqual({ total: 3, used: 2 });
    } finally {
      resources.get = get;
      await t.gateway.dataSource.query('UPDATE resource SET used = 0 WHERE id = $1', [resourceId]);
    }
  });

  test('a host no longer UP in the database (its picture not told) takes no claim: the commit checks its state', async () => {
    const hostId = await slotHost(`stale-up-${kind}`, 1);
    const r = { groupId: w.groupA, resources: [{ type: 'SLOT', amount: 1, unit: 'COUNT' }], requiredProperties: [{ key: 'hostname', op: 'EQ', values: [`stale-up-${kind}`] }] };
    const dry = await t.ok('query ($r: AllocationRequestInput!) { placementCandidates(request: $r) { candidates { hostname } } }', { r });
    expect(dry.placementCandidates.candidates).toEqual([{ hostname: `stale-up-${kind}` }]);
    // Written behind the gateway's back: its picture still says UP (MAINTENANCE: a heartbeat does not bring it back UP, as it would a DOWN one).
    await t.gateway.dataSource.query(`UPDATE host SET state = 'MAINTENANCE' WHERE id = $1`, [hostId]);
    const res = await t.gql(ALLOCATE, { r });
    expect(res.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    expect(res.errors?.[0]?.extensions?.details.rejections).toContainEqual({ hostId, hostname: `stale-up-${kind}`, filter: 'HOST_STATE', reason: 'host is MAINTENANCE, not UP' });
    expect((await firstResourceOf(hostId)).used).toBe(0);
  });

  test('a lost race is retried on another host when one fits', async () => {
    const hosts = [await slotHost(`pair-a-${kind}`, 1), await slotHost(`pair-b-${kind}`, 1)];
    const r = { groupId: w.groupA, resources: [{ type: 'SLOT', amount: 1, unit: 'COUNT' }], requiredProperties: [{ key: 'hostname', op: 'IN', values: [`pair-a-${kind}`, `pair-b-${kind}`] }] };
    const results = await Promise.all([t.gql(ALLOCATE, { r }), t.gql(ALLOCATE, { r })]);
    expect(results.map((x) => x.errors)).toEqual([undefined, undefined]);
    expect(results.map((x) => x.data!.allocate.allocations[0].hostId).sort()).toEqual([...hosts].sort());
  });

  if (kind === 'postgres') {
    test('a shared picture follows changes made elsewhere: claims, releases, inventory edits and new hosts', async () => {
      const second = await startTestGateway(db, { RSP_PLACEMENT_SNAPSHOT_MS: '50' });
      try {
        const hostId = await slotHost(`follow-${kind}`, 2);
        const slot = [{ type: 'SLOT', amount: 1, unit: 'COUNT' }];
        const only = (hostname: string) => ({ groupId: w.groupA, resources: slot, requiredProperties: [{ key: 'hostname', op: 'EQ', values: [hostname] }] });
        const q = 'query ($r: AllocationRequestInput!) { placementCandidates(request: $r) { candidates { hostname } rejected { hostname filter reason } } }';
        /** What the second gateway's picture says of a host, once it says `expected` (the checks run in the background). */
        const seen = async (hostname: string, expected: string) => {
          let last = '';
          for (let i = 0; i < 100 && last !== expected; i++) {
            const { placementCandidates: p } = await second.ok(q, { r: only(hostname) }, t.adminToken);
            last = p.candidates.some((c: any) => c.hostname === hostname) ? 'candidate' : (p.rejected.find((r: any) => r.hostname === hostname)?.reason ?? 'absent');
            if (last !== expected) await new Promise((r) => setTimeout(r, 50));
          }
          return last;
        };
        const mine = (await second.ok(ALLOCATE, { r: only(`follow-${kind}`) }, t.adminToken)).allocate.allocations[0].id;
        expect(await seen(`follow-${kind}`, 'candidate')).toBe('candidate');
        // Another gateway takes the last slot: the second one sees it without being told.
        const theirs = (await t.ok(ALLOCATE, { r: only(`follow-${kind}`) })).allocate.allocations[0].id;
        expect(await seen(`follow-${kind}`, 'SLOT: 1 wanted, 0 free (allocation ratio 1)')).toBe('SLOT: 1 wanted, 0 free (allocation ratio 1)');
        // Released elsewhere: free again.
        await release(theirs);
        expect(await seen(`follow-${kind}`, 'candidate')).toBe('candidate');
        // An inventory edit (total 2 → 1, one slot held) closes it.
        const resourceId = (await t.ok('query ($h: ID) { resources(hostId: $h) { nodes { id } } }', { h: hostId })).resources.nodes[0].id;
        await t.ok('mutation ($i: UpdateInventoryInput!) { updateInventory(input: $i) { id } }', { i: { id: resourceId, total: 1 } });
        expect(await seen(`follow-${kind}`, 'SLOT: 1 wanted, 0 free (allocation ratio 1)')).toBe('SLOT: 1 wanted, 0 free (allocation ratio 1)');
        // A host added after the picture was read shows up.
        await slotHost(`follow-new-${kind}`, 1);
        expect(await seen(`follow-new-${kind}`, 'candidate')).toBe('candidate');
        await release(mine);
      } finally {
        await second.close();
      }
    });

    test('the background check reads the inventory page by page: a change on any page is taken in, a resource deleted is dropped', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const hostId = await slotHost(`paged-${i}`, 2);
        ids.push(((await t.gateway.dataSource.query('SELECT id FROM resource WHERE "hostId" = $1', [hostId])) as Array<{ id: string }>)[0]!.id);
      }
      // Two rows per read: with the resources of the other tests, the check takes several pages.
      const picture = new InventorySnapshot(t.gateway.dataSource, 20, 2);
      const resourceOf = async (hostname: string) => [...(await picture.hosts()).values()].find((h) => h.hostname === hostname)?.resources.get('SLOT');
      expect((await resourceOf('paged-2'))?.total).toBe(2);
      const [last, gone] = [...ids].sort().reverse();
      const hostOf = (id: string) => `paged-${ids.indexOf(id)}`;
      await t.gateway.dataSource.query('UPDATE resource SET total = 7, generation = generation + 1 WHERE id = $1', [last]);
      await t.gateway.dataSource.query('DELETE FROM resource WHERE id = $1', [gone]);
      await until('the picture takes in the change on the last page and drops the deleted resource', async () => (await resourceOf(hostOf(last!)))?.total === 7 && (await resourceOf(hostOf(gone!))) === undefined, 10_000, 30);
      expect((await resourceOf(hostOf(ids.find((id) => id !== last && id !== gone)!)))?.total).toBe(2);
    });

    test('a share revoked after the picture was read is caught when the claim commits', async () => {
      const hostId = await slotHost('share-check', 4);
      const share = (await t.ok('mutation ($i: GrantShareInput!) { grantShare(input: $i) { id } }', { i: { hostId, groupId: w.groupB, kind: 'CUSTOM', quotas: { SLOT: 2 } } })).grantShare.id;
      const later = await startTestGateway(db, { RSP_PLACEMENT_SNAPSHOT_MS: '60000' });
      try {
        const r = { groupId: w.groupB, resources: [{ type: 'SLOT', amount: 1, unit: 'COUNT' }], requiredProperties: [{ key: 'hostname', op: 'EQ', values: ['share-check'] }] };
        const dry = await later.ok('query ($r: AllocationRequestInput!) { placementCandidates(request: $r) { candidates { hostname } } }', { r }, t.adminToken);
        expect(dry.placementCandidates.candidates).toEqual([{ hostname: 'share-check' }]);
        await t.ok('mutation ($id: ID!) { revokeShare(id: $id) }', { id: share });
        const res = await later.gql(ALLOCATE, { r }, t.adminToken);
        expect(res.errors?.[0]?.extensions?.code).toBe('CONFLICT');
        expect(res.errors?.[0]?.extensions?.details.rejections).toContainEqual({ hostId, hostname: 'share-check', filter: 'QUOTA', reason: 'the group has no share on this host' });
        expect((await firstResourceOf(hostId)).used).toBe(0);
      } finally {
        await later.close();
      }
    });

    test('two gateways on one database, one with a shared picture and group commits: still exactly one wins the last unit', async () => {
      const second = await startTestGateway(db, { RSP_PLACEMENT_SNAPSHOT_MS: '60000' });
      try {
        await slotHost('last-shared', 1);
        const r = { groupId: w.groupA, resources: [{ type: 'SLOT', amount: 1, unit: 'COUNT' }], requiredProperties: [{ key: 'hostname', op: 'EQ', values: ['last-shared'] }] };
        const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? second : t).gql(ALLOCATE, { r }, t.adminToken)));
        expect(results.filter((x) => !x.errors)).toHaveLength(1);
        expect(results.filter((x) => x.errors?.[0]?.extensions?.code === 'CONFLICT')).toHaveLength(49);
        const batch = await second.gql('mutation ($r: [AllocationRequestInput!]!) { allocateMany(requests: $r) { error { code } } }', { r: [{ ...r, requiredProperties: [] }, { groupId: w.groupA, resources: CPU(1) }] }, t.adminToken);
        expect(batch.data!.allocateMany.map((x: any) => x.error?.code ?? 'PLACED')).toEqual(['PLACED', 'PLACED']);
      } finally {
        await second.close();
      }
    });
  }
}

describe('placement on pglite', () => placementSuite('pglite'));
describeWithEngine('postgres', 'placement on postgres', () => placementSuite('postgres'));
