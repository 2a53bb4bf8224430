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
