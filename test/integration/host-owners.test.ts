import { createRootfsTar } from '../../drivers/fake';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, GiB, UNCONNECTED_AGENT, World } from '../helpers/scenario';

/**
 * Owners govern their machines: group C owns a site and a host; group A (with a share) runs an
 * environment there. C's admins see it redacted, stop and evict it with a reason A sees, decide
 * requests and grant shares for that host and make its agent's join tokens; C's members, and C's
 * admins on hosts they do not own, may not.
 */
describe('host owners', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;
  let groupC: string;
  let adminC: string;
  let memberC: string;
  let siteC: string;
  let hostC: string;
  let image: string;

  const createEnv = async (name: string, config: Record<string, string> = {}) => {
    const created = (await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: w.groupA, hostId: hostC, imageId: image, name, config } }, w.tokens.memberA)).createEnvironment;
    await t.gateway.services.operations.settled(created.operation.id);
    const start = (await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: created.environment.id }, w.tokens.memberA)).startEnvironment.id;
    await t.gateway.services.operations.settled(start);
    return created.environment.id as string;
  };

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db);
    w = await buildWorld(t);
    groupC = (await t.ok('mutation ($i: CreateGroupInput!) { createGroup(input: $i) { id } }', { i: { slug: 'gamma', name: 'Gamma' } })).createGroup.id;
    const token = async (role: string) => (await t.ok('mutation ($i: CreateTokenInput!) { createToken(input: $i) { secret } }', { i: { groupId: groupC, role, name: role } })).createToken.secret as string;
    adminC = await token('ADMIN');
    memberC = await token('MEMBER');
    siteC = (await t.ok('mutation ($i: CreateSiteInput!) { createSite(input: $i) { id } }', { i: { name: 'south', ownerGroupId: groupC } })).createSite.id;
    hostC = (await t.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: siteC, ownerGroupId: groupC, hostname: 'marvin' } })).createHost.id;
    for (const [type, unit, total] of [['CPU', 'CORES', 8], ['RAM', 'BYTES', 16 * GiB], ['DISK', 'BYTES', 100 * GiB]] as const) {
      await t.ok('mutation ($i: CreateResourceInput!) { createResource(input: $i) { id } }', { i: { hostId: hostC, type, unit, total } });
    }
    await t.ok('mutation ($i: GrantShareInput!) { grantShare(input: $i) { id } }', { i: { hostId: hostC, groupId: w.groupA, kind: 'HALF' } });
    image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: 'guest', version: '1', technology: 'fake' } })).registerImage.id;
    await t.upload(image, createRootfsTar({ '/etc/hostname': 'guest' }));
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test("the host's admins see guests redacted; its members and other groups do not see them", async () => {
    const id = await createEnv('guest-seen', { SECRET: 'hunter2' });
    const env = (await t.ok('query ($id: ID!) { environment(id: $id) { id groupId hostId limits { memoryBytes } imageId layerId allocationId command iface { config } } }', { id }, adminC)).environment;
    expect(env).toMatchObject({ id, groupId: w.groupA, hostId: hostC, imageId: null, layerId: null, allocationId: null, command: null, iface: { config: {} } });
    expect(JSON.stringify(env)).not.toContain('hunter2');
    const guests = (await t.ok('{ environments(guests: true) { nodes { id } } }', {}, adminC)).environments.nodes.map((n: { id: string }) => n.id);
    expect(guests).toContain(id);
    expect((await t.gql('query ($id: ID!) { environment(id: $id) { id } }', { id }, memberC)).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect((await t.ok('{ environments(guests: true) { totalCount } }', {}, memberC)).environments.totalCount).toBe(0);
    expect((await t.gql('query ($id: ID!) { environment(id: $id) { id } }', { id }, w.tokens.memberB)).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    // its own group still sees everything
    expect((await t.ok('query ($id: ID!) { environment(id: $id) { imageId iface { config } } }', { id }, w.tokens.viewerA)).environment).toEqual({ imageId: image, iface: { config: { SECRET: 'hunter2' } } });
    // not its data: no exec, no start, no rebuild
    expect((await t.gql('mutation ($id: ID!) { execEnvironment(id: $id, command: ["cat", "/etc/hostname"]) { stdout } }', { id }, adminC)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await t.gql('mutation ($id: ID!) { restartEnvironment(id: $id) { id } }', { id }, adminC)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  test('the host admins stop a guest with a reason its group sees; the operation records who acted', async () => {
    const id = await createEnv('guest-stopped');
    expect((await t.gql('mutation ($id: ID!) { stopEnvironment(id: $id) { id } }', { id }, adminC)).errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect((await t.gql('mutation ($id: ID!) { stopEnvironment(id: $id, reason: "noisy") { id } }', { id }, memberC)).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const op = (await t.ok('mutation ($id: ID!) { stopEnvironment(id: $id, reason: "mining crypto") { id actorGroupId } }', { id }, adminC)).stopEnvironment;
    expect(op.actorGroupId).toBe(groupC);
    await t.gateway.services.operations.settled(op.id);
    expect((await t.ok('query ($id: ID!) { operation(id: $id) { state } }', { id: op.id }, adminC)).operation.state).toBe('SUCCEEDED');
    const seen = (await t.ok('query ($id: ID!) { environment(id: $id) { status intervention { byGroupId action reason at } } }', { id }, w.tokens.viewerA)).environment;
    expect(seen).toMatchObject({ status: 'STOPPED', intervention: { byGroupId: groupC, action: 'stop', reason: 'mining crypto' } });
    expect((await t.ok('query ($id: ID!) { operation(id: $id) { kind } }', { id: op.id }, w.tokens.viewerA)).operation.kind).toBe('environment.stop');
  });

  test("the host admins' operation on a guest shows them its state and code, not the guest's failure message or more of its result", async () => {
    const id = await createEnv('guest-failing', { SECRET: 'hunter2' });
    const op = (await t.ok('mutation ($id: ID!) { stopEnvironment(id: $id, reason: "maintenance") { id } }', { id }, adminC)).stopEnvironment.id as string;
    await t.gateway.services.operations.settled(op);
    // What a driver's failure may quote (the guest's command, its config) and what a result may hold.
    await t.gateway.dataSource.query(`UPDATE operation SET state = 'FAILED', "errorCode" = 'CONFLICT', "errorMessage" = 'exec /entry --password hunter2: exit 1', result = $2 WHERE id = $1`, [op, JSON.stringify({ environmentId: id, status: 'FAILED', config: { SECRET: 'hunter2' } })]);
    const fields = 'id state actorGroupId result error { code message }';
    const byHost = (await t.ok(`query ($id: ID!) { operation(id: $id) { ${fields} } }`, { id: op }, adminC)).operation;
    expect(byHost).toEqual({ id: op, state: 'FAILED', actorGroupId: groupC, result: { environmentId: id, status: 'FAILED' }, error: { code: 'CONFLICT', message: "The operation failed; its message is for the members of the environment's group" } });
    const listed = (await t.ok(`{ operations(first: 100) { nodes { ${fields} } } }`, {}, adminC)).operations.nodes;
    expect(listed.find((o: { id: string }) => o.id === op)).toEqual(byHost);
    expect(JSON.stringify(listed)).not.toContain('hunter2');
    // The guest's own group, and the site admins, see all of it.
    for (const token of [w.tokens.viewerA, undefined]) {
      const whole = (await t.ok(`query ($id: ID!) { operation(id: $id) { result error { message } } }`, { id: op }, token)).operation;
      expect(whole).toEqual({ result: { environmentId: id, status: 'FAILED', config: { SECRET: 'hunter2' } }, error: { message: 'exec /entry --password hunter2: exit 1' } });
    }
  });

  test('the host admins evict a guest; a guest member may not evict, and C may not touch A’s own hosts', async () => {
    const id = await createEnv('guest-evicted');
    expect((await t.gql('mutation ($id: ID!) { evictEnvironment(id: $id, reason: "x") { id } }', { id }, w.tokens.memberA)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await t.gql('mutation ($id: ID!) { evictEnvironment(id: $id, reason: " ") { id } }', { id }, adminC)).errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const op = (await t.ok('mutation ($id: ID!) { evictEnvironment(id: $id, reason: "host retired") { id kind } }', { id }, adminC)).evictEnvironment;
    expect(op.kind).toBe('environment.evict');
    await t.gateway.services.operations.settled(op.id);
    const seen = (await t.ok('query ($id: ID!) { environment(id: $id) { status intervention { action reason } } }', { id }, w.tokens.memberA)).environment;
    expect(seen).toEqual({ status: 'DESTROYED', intervention: { action: 'evict', reason: 'host retired' } });
    expect((await t.gql('mutation ($i: GrantShareInput!) { grantShare(input: $i) { id } }', { i: { hostId: w.host2, groupId: groupC, kind: 'HALF' } }, adminC)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  test('the host admins grant and revoke shares, set usage policies and decide requests for their host only', async () => {
    const share = (await t.ok('mutation ($i: GrantShareInput!) { grantShare(input: $i) { id } }', { i: { hostId: hostC, groupId: w.groupB, kind: 'HALF' } }, adminC)).grantShare.id;
    expect((await t.gql('mutation ($i: GrantShareInput!) { grantShare(input: $i) { id } }', { i: { hostId: hostC, groupId: w.groupB, kind: 'HALF' } }, memberC)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await t.gql('mutation ($id: ID!) { revokeShare(id: $id) }', { id: share }, w.tokens.adminA)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await t.ok('mutation ($id: ID!) { revokeShare(id: $id) }', { id: share }, adminC)).revokeShare).toBe(true);
    expect((await t.ok('mutation ($i: UsagePolicyInput!) { setUsagePolicy(input: $i) { id } }', { i: { siteId: siteC, name: 'fair', diskBytes: 1e9 } }, adminC)).setUsagePolicy.id).toBeTruthy();
    expect((await t.gql('mutation ($i: UsagePolicyInput!) { setUsagePolicy(input: $i) { id } }', { i: { siteId: w.site, name: 'fair', diskBytes: 1e9 } }, adminC)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const request = async () => (await t.ok('mutation ($r: AllocationRequestInput!) { allocate(request: $r) { id status } }', { r: { groupId: w.groupA, mode: 'APPROVAL', resources: [{ type: 'CPU', amount: 1, unit: 'CORES' }] } }, w.tokens.memberA)).allocate.id as string;
    const approved = await request();
    expect((await t.gql('mutation ($id: ID!) { approveAllocation(id: $id) { id } }', { id: approved }, adminC)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await t.gql('mutation ($id: ID!, $h: [ID!]) { approveAllocation(id: $id, hostIds: $h) { id } }', { id: approved, h: [w.host1] }, adminC)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const placed = (await t.ok('mutation ($id: ID!, $h: [ID!]) { approveAllocation(id: $id, hostIds: $h, reason: "welcome") { status allocations { hostId } } }', { id: approved, h: [hostC] }, adminC)).approveAllocation;
    // the allocations placed are A's: C's admins do not see them, A does
    expect(placed).toEqual({ status: 'PLACED', allocations: [] });
    expect((await t.ok('query ($id: ID!) { allocationRequest(id: $id) { allocations { hostId } } }', { id: approved }, w.tokens.viewerA)).allocationRequest.allocations).toEqual([{ hostId: hostC }]);
    const pinned = (await t.ok('mutation ($r: AllocationRequestInput!) { allocate(request: $r) { id } }', { r: { groupId: w.groupA, mode: 'APPROVAL', hostIds: [hostC], resources: [{ type: 'CPU', amount: 1, unit: 'CORES' }] } }, w.tokens.memberA)).allocate.id;
    expect((await t.gql('mutation ($id: ID!) { rejectAllocation(id: $id, reason: "full") { id } }', { id: pinned }, memberC)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await t.ok('mutation ($id: ID!) { rejectAllocation(id: $id, reason: "full") { status } }', { id: pinned }, adminC)).rejectAllocation.status).toBe('REJECTED');
  });

  test("Resource.owners shows the caller's allocations only, the rest as a count", async () => {
    const allocation = (await t.ok('mutation ($r: AllocationRequestInput!) { allocate(request: $r) { allocations { id } } }', { r: { groupId: w.groupA, mode: 'DIRECT', hostIds: [hostC], resources: [{ type: 'CPU', amount: 1, unit: 'CORES' }] } }, w.tokens.memberA)).allocate.allocations[0].id;
    const cpu = async (token: string) => (await t.ok('query ($h: ID) { resources(hostId: $h, type: "CPU") { nodes { owners otherOwners } } }', { h: hostC }, token)).resources.nodes[0];
    expect(await cpu(w.tokens.viewerA)).toEqual({ owners: expect.arrayContaining([allocation]), otherOwners: 0 });
    const seenByOthers = [await cpu(adminC), await cpu(w.tokens.memberB)];
    for (const seen of seenByOthers) expect(seen.owners).toEqual([]);
    expect(seenByOthers[0].otherOwners).toBeGreaterThanOrEqual(1);
    const viaHost = (await t.ok('query ($h: ID!) { host(id: $h) { resources { owners otherOwners } } }', { h: hostC }, w.tokens.memberB)).host;
    expect(JSON.stringify(viaHost)).not.toContain(allocation);
  });

  test("a replication policy naming another group's layer is NOT_FOUND, never named", async () => {
    const id = await createEnv('guest-replicated');
    const layer = (await t.ok('mutation ($i: CreateLayerInput!) { createLayer(input: $i) { id } }', { i: { groupId: groupC, kind: 'SERVICE', name: 'svc-secret' } }, adminC)).createLayer.id;
    const res = await t.gql('mutation ($i: CreateReplicationPolicyInput!) { createReplicationPolicy(input: $i) { id } }', { i: { environmentId: id, layerId: layer, targetKind: 'STORE', schedule: 'every 1 hour', name: 'p' } }, w.tokens.memberA);
    expect(res.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(JSON.stringify(res)).not.toContain('svc-secret');
  });

  test("the host admins make join tokens for their host's own agent, never for another's or the gateway's", async () => {
    const remote = (await t.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: siteC, ownerGroupId: groupC, hostname: 'eddie', agent: 'gamma-agent', drivers: ['fake'] } })).createHost.id;
    expect((await t.ok('mutation ($h: ID) { createAgentJoinToken(agentId: "gamma-agent", hostId: $h) { agentId } }', { h: remote }, adminC)).createAgentJoinToken.agentId).toBe('gamma-agent');
    expect((await t.gql('mutation ($h: ID) { createAgentJoinToken(agentId: "gamma-agent", hostId: $h) { agentId } }', { h: remote }, memberC)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await t.gql('mutation ($h: ID) { createAgentJoinToken(agentId: "local", hostId: $h) { agentId } }', { h: hostC }, adminC)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await t.gql(`mutation ($h: ID) { createAgentJoinToken(agentId: "${UNCONNECTED_AGENT}", hostId: $h) { agentId } }`, { h: remote }, adminC)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await t.gql('mutation { createAgentJoinToken(agentId: "gamma-agent") { agentId } }', {}, adminC)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});
