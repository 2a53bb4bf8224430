import { createRootfsTar } from '../../drivers/fake';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';

/**
 * Leaving and retiring over the fake driver and two host agents (`a`, `b`): a host is drained
 * (its environment migrated away through the migration service) and deleted once empty; what
 * blocks a removal is listed and nothing changes; an image is refused while an environment uses it.
 */
describe('retirement: drain → host empty → delete; sites and images refused while used', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let group: string;
  let site: string;
  let hostA: string;
  let hostB: string;
  let image: string;
  let env: string;

  const settled = async (operationId: string) => {
    const op = await t.gateway.services.operations.settled(operationId);
    return { state: op.state, error: op.errorMessage, result: op.result };
  };
  const environment = async (id: string) => (await t.ok('query ($id: ID!) { environment(id: $id) { hostId status } }', { id })).environment as { hostId: string; status: string };
  const hostState = async (id: string) => (await t.ok('query ($id: ID!) { host(id: $id) { state } }', { id })).host.state as string;
  const refusal = async (query: string, variables: Record<string, unknown>, token?: string) => {
    const res = await t.gql(query, variables, token);
    expect(res.errors?.length).toBe(1);
    return { code: res.errors![0]!.extensions?.code, message: res.errors![0]!.message, blockers: res.errors![0]!.extensions?.details?.blockers as string[] | undefined };
  };
  const newHost = async (hostname: string, agent: string) => (await t.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: site, ownerGroupId: group, hostname, drivers: ['fake'], agent } })).createHost.id as string;

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db, { RSP_AGENTS: 'a,b', RSP_REPLICATION_INTERVAL_MS: '0' });
    group = (await t.ok('mutation { createGroup(input: { slug: "ops", name: "Ops" }) { id } }')).createGroup.id;
    site = (await t.ok('mutation ($g: ID!) { createSite(input: { name: "two", ownerGroupId: $g }) { id } }', { g: group })).createSite.id;
    hostA = await newHost('host-a', 'a');
    hostB = await newHost('host-b', 'b');
    image = (await t.ok('mutation ($g: ID!) { registerImage(input: { vendorGroupId: $g, name: "fake", version: "1", technology: "fake" }) { id } }', { g: group })).registerImage.id;
    expect((await t.upload(image, createRootfsTar({ '/etc/hostname': 'web', '/data/kept.txt': 'precious\n' }))).status).toBe(200);
    const created = (await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: group, hostId: hostA, imageId: image, name: 'web' } })).createEnvironment;
    env = created.environment.id;
    expect((await settled(created.operation.id)).state).toBe('SUCCEEDED');
    expect((await settled((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: env })).startEnvironment.id)).state).toBe('SUCCEEDED');
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test('an image is refused while an environment uses it, naming the environment', async () => {
    const got = await refusal('mutation ($id: ID!) { deleteImage(id: $id) }', { id: image });
    expect(got).toEqual({ code: 'CONFLICT', message: 'Image fake:1 cannot be deleted: environment web uses it', blockers: ['environment web uses it'] });
    expect((await t.ok('query ($id: ID!) { image(id: $id) { id } }', { id: image })).image.id).toBe(image);
  });

  test('a host with an environment is not deleted; a site with hosts is not deleted', async () => {
    expect(await refusal('mutation ($id: ID!) { deleteHost(id: $id) }', { id: hostA })).toMatchObject({ code: 'CONFLICT', blockers: ['environment web is on it (drain the host first)'] });
    expect(await refusal('mutation ($id: ID!) { deleteSite(id: $id) }', { id: site })).toMatchObject({
      code: 'CONFLICT',
      message: 'Site two cannot be deleted: host host-a is in it (drain and delete it first); host host-b is in it (drain and delete it first)',
    });
    expect(await hostState(hostA)).toBe('UP');
  });

  test('drain moves the environment to the other host (still running), leaves the host DRAINING and empty; then it is deleted', async () => {
    const drain = (await t.ok('mutation ($id: ID!) { drainHost(id: $id) { id kind } }', { id: hostA })).drainHost;
    expect(drain.kind).toBe('host.drain');
    expect(await settled(drain.id)).toMatchObject({ state: 'SUCCEEDED', error: null, result: { hostId: hostA, moved: 1 } });
    expect(await environment(env)).toEqual({ hostId: hostB, status: 'RUNNING' });
    expect(await hostState(hostA)).toBe('DRAINING');
    expect((await t.ok('query ($h: ID) { environments(hostId: $h) { totalCount } }', { h: hostA })).environments.totalCount).toBe(0);
    // A DRAINING host takes no new work.
    const placed = await t.gql('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } } }', { i: { groupId: group, hostId: hostA, imageId: image, name: 'late' } });
    expect(placed.errors?.[0]).toMatchObject({ extensions: { code: 'CONFLICT' }, message: 'Host host-a is DRAINING, not UP' });

    expect((await t.ok('mutation ($id: ID!) { deleteHost(id: $id) }', { id: hostA })).deleteHost).toBe(true);
    expect((await t.gql('query ($id: ID!) { host(id: $id) { id } }', { id: hostA })).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  test('a drain that cannot move an environment is refused with the list, and the host stays UP', async () => {
    const got = await refusal('mutation ($id: ID!) { drainHost(id: $id) { id } }', { id: hostB });
    expect(got.code).toBe('CONFLICT');
    expect(got.message).toMatch(/^Host host-b cannot be drained: environment web cannot move: No host can take environment web/);
    expect(got.blockers).toHaveLength(1);
    expect(await hostState(hostB)).toBe('UP');
    expect(await environment(env)).toEqual({ hostId: hostB, status: 'RUNNING' });
  });

  test('another group may not drain or delete the host; its members do not learn the environment names', async () => {
    const other = (await t.ok('mutation { createGroup(input: { slug: "guests", name: "Guests" }) { id } }')).createGroup.id;
    const admin = (await t.ok('mutation ($i: CreateTokenInput!) { createToken(input: $i) { secret } }', { i: { groupId: other, name: 'a', role: 'ADMIN' } })).createToken.secret;
    expect((await refusal('mutation ($id: ID!) { drainHost(id: $id) { id } }', { id: hostB }, admin)).code).toBe('FORBIDDEN');
    expect((await refusal('mutation ($id: ID!) { deleteHost(id: $id) }', { id: hostB }, admin)).code).toBe('FORBIDDEN');
    expect((await refusal('mutation ($id: ID!) { deleteImage(id: $id) }', { id: image }, admin)).code).toBe('NOT_FOUND');
  });

  test('once the environment is destroyed, the image, the last host and the site are deleted', async () => {
    expect((await settled((await t.ok('mutation ($id: ID!) { destroyEnvironment(id: $id) { id } }', { id: env })).destroyEnvironment.id)).state).toBe('SUCCEEDED');
    expect((await t.ok('mutation ($id: ID!) { deleteImage(id: $id) }', { id: image })).deleteImage).toBe(true);
    expect((await t.gql('query ($id: ID!) { image(id: $id) { id } }', { id: image })).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect((await t.ok('mutation ($id: ID!) { deleteHost(id: $id) }', { id: hostB })).deleteHost).toBe(true);
    expect((await t.ok('mutation ($id: ID!) { deleteSite(id: $id) }', { id: site })).deleteSite).toBe(true);
    expect((await t.gql('query ($id: ID!) { site(id: $id) { id } }', { id: site })).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });
});

/**
 * Deleting groups over the fake driver: refused with every blocker while anything blocks (nothing
 * changes), then DESTROY (environments destroyed, replicas and shares gone) and HANDOVER (the
 * environment keeps running, now the receiving group's).
 */
describe('retirement: a group is deleted only once nothing blocks; DESTROY and HANDOVER', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let host: string;
  let image: string;
  const ids: Record<string, string> = {};

  const settled = async (operationId: string) => {
    const op = await t.gateway.services.operations.settled(operationId);
    return { state: op.state, error: op.errorMessage, result: op.result };
  };
  const newGroup = async (slug: string) => (ids[slug] = (await t.ok('mutation ($i: CreateGroupInput!) { createGroup(input: $i) { id } }', { i: { slug, name: slug } })).createGroup.id);
  const share = (group: string) => t.ok('mutation ($i: GrantShareInput!) { grantShare(input: $i) { id } }', { i: { hostId: host, groupId: group, kind: 'CUSTOM', quotas: { RAM: 2 * 1024 ** 3 } } });
  const running = async (group: string, name: string) => {
    const created = (await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: group, hostId: host, imageId: image, name } })).createEnvironment;
    expect((await settled(created.operation.id)).state).toBe('SUCCEEDED');
    expect((await settled((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: created.environment.id })).startEnvironment.id)).state).toBe('SUCCEEDED');
    return created.environment.id as string;
  };
  const environment = async (id: string) => (await t.ok('query ($id: ID!) { environment(id: $id) { groupId status } }', { id })).environment;
  const deleteGroup = (id: string, mode: string, handoverTo?: string) => t.gql('mutation ($id: ID!, $m: GroupDeletionMode!, $h: ID) { deleteGroup(id: $id, mode: $m, handoverTo: $h) { id } }', { id, m: mode, h: handoverTo ?? null });

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db, { RSP_REPLICATION_INTERVAL_MS: '0' });
    await newGroup('hosting');
    for (const slug of ['leaving', 'heir', 'stranger', 'gone']) await newGroup(slug);
    const site = (await t.ok('mutation ($g: ID!) { createSite(input: { name: "home", ownerGroupId: $g }) { id } }', { g: ids.hosting })).createSite.id;
    host = (await t.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: site, ownerGroupId: ids.hosting, hostname: 'zaphod', drivers: ['fake'] } })).createHost.id;
    await t.ok('mutation ($i: CreateResourceInput!) { createResource(input: $i) { id } }', { i: { hostId: host, type: 'RAM', unit: 'BYTES', total: 8 * 1024 ** 3 } });
    for (const g of ['leaving', 'heir', 'gone']) await share(ids[g]!);
    image = (await t.ok('mutation ($g: ID!) { registerImage(input: { vendorGroupId: $g, name: "fake", version: "1", technology: "fake", visibility: PUBLIC }) { id } }', { g: ids.leaving })).registerImage.id;
    expect((await t.upload(image, createRootfsTar({ '/etc/hostname': 'app' }))).status).toBe(200);
    ids.app = await running(ids.leaving!, 'app');
    ids.user = await running(ids.heir!, 'user');
    ids.doomed = await running(ids.gone!, 'doomed');
    await t.ok('mutation ($g: ID!) { createSite(input: { name: "attic", ownerGroupId: $g }) { id } }', { g: ids.leaving });
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test('refused with every blocker, nothing changed', async () => {
    const res = await deleteGroup(ids.leaving!, 'DESTROY');
    expect(res.errors?.[0]).toMatchObject({
      extensions: { code: 'CONFLICT', details: { blockers: ['it owns site attic (delete it first)', 'image fake:1 is used by 2 environment(s) of other groups'] } },
    });
    const handover = await deleteGroup(ids.leaving!, 'HANDOVER', ids.stranger);
    expect(handover.errors?.[0]?.extensions?.details?.blockers).toEqual(['it owns site attic (delete it first)', 'group stranger has no share on host zaphod, where its environments would run']);
    expect(await environment(ids.app!)).toEqual({ groupId: ids.leaving, status: 'RUNNING' });
    expect((await t.ok('query ($id: ID!) { group(id: $id) { id } }', { id: ids.leaving })).group.id).toBe(ids.leaving);
  });

  test('DESTROY: the environments are destroyed, the replicas and shares removed, the group gone', async () => {
    await t.gateway.services.replication.replicateEnvironment(ids.doomed!);
    const op = (await deleteGroup(ids.gone!, 'DESTROY')).data!.deleteGroup.id;
    expect(await settled(op)).toMatchObject({ state: 'SUCCEEDED', result: { environments: 1, replicasRemoved: 1, handedOverTo: null } });
    expect((await environment(ids.doomed!)).status).toBe('DESTROYED');
    expect((await t.ok('query ($g: ID!) { shares(groupId: $g) { id } }', { g: ids.gone })).shares).toEqual([]);
    expect((await t.ok('{ replicas { environmentId } }')).replicas.filter((r: { environmentId: string }) => r.environmentId === ids.doomed)).toEqual([]);
    expect((await t.gql('query ($id: ID!) { group(id: $id) { id } }', { id: ids.gone })).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  test('HANDOVER: once nothing blocks, the environment runs on as the receiving group\'s, with the image', async () => {
    const attic = (await t.ok('{ sites { nodes { id name } } }')).sites.nodes.find((s: { name: string }) => s.name === 'attic').id;
    expect((await t.ok('mutation ($id: ID!) { deleteSite(id: $id) }', { id: attic })).deleteSite).toBe(true);
    const op = (await deleteGroup(ids.leaving!, 'HANDOVER', ids.heir)).data!.deleteGroup.id;
    expect(await settled(op)).toMatchObject({ state: 'SUCCEEDED', result: { environments: 1, handedOverTo: ids.heir } });
    expect(await environment(ids.app!)).toEqual({ groupId: ids.heir, status: 'RUNNING' });
    expect((await t.ok('query ($id: ID!) { image(id: $id) { vendorGroupId } }', { id: image })).image.vendorGroupId).toBe(ids.heir);
    expect((await t.ok('query ($g: ID!) { shares(groupId: $g) { id } }', { g: ids.leaving })).shares).toEqual([]);
    expect((await t.gql('query ($id: ID!) { group(id: $id) { id } }', { id: ids.leaving })).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });
});
