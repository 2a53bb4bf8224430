import { createRootfsTar } from '../../drivers/fake';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { describeWithEngine } from '../helpers/engines';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, GiB, World } from '../helpers/scenario';

const OP = 'id kind state progress error { code message }';

/**
 * Environments end to end through GraphQL on the in-process agent's fake driver; with `loopback`,
 * the gateway reaches the agent through the agent protocol, every call and answer JSON-encoded.
 */
function environmentSuite(kind: 'pglite' | 'postgres', transport: 'direct' | 'loopback' = 'direct') {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;
  let image: string;
  let image2: string;
  const token = () => w.tokens.memberA;

  /** Waits for an operation to end and returns it. */
  async function settle(id: string) {
    await t.gateway.services.operations.settled(id);
    return (await t.ok(`query ($id: ID!) { operation(id: $id) { ${OP} } }`, { id }, token())).operation;
  }

  async function registerImage(name: string, version: string, files: Record<string, string>): Promise<string> {
    const id = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name, version, technology: 'fake' } }, token())).registerImage.id;
    const up = await t.upload(id, createRootfsTar(files), token());
    expect(up.status).toBe(200);
    expect(up.body.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    return id;
  }

  const create = (input: Record<string, unknown>, as = token()) =>
    t.gql(`mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id status layerId } operation { ${OP} } } }`, { i: { groupId: w.groupA, hostId: w.host1, imageId: image, ...input } }, as);

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    t = await startTestGateway(db, transport === 'loopback' ? { RSP_AGENT_TRANSPORT: 'loopback' } : {});
    w = await buildWorld(t);
    image = await registerImage('app', '1', { '/etc/os-release': 'ID=app\nVERSION=1\n' });
    image2 = await registerImage('app', '2', { '/etc/os-release': 'ID=app\nVERSION=2\n' });
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test('the gateway probed its drivers and shows them', async () => {
    const { drivers } = await t.ok('{ drivers { name technology available operations limits imageFormats } }', {}, token());
    // The fake driver declares no image formats: it takes the default, a root filesystem tarball.
    expect(drivers).toEqual([expect.objectContaining({ name: 'fake', technology: 'fake', available: true, operations: expect.arrayContaining(['exec', 'exportEnvironment']), limits: expect.arrayContaining(['memoryBytes']), imageFormats: ['rootfs-tar'] })]);
  });

  test('create, start, exec, stop, rebuild (data survives), destroy — each an operation', async () => {
    const res = await create({ name: 'web', hostname: 'web.alpha.example', dns: ['9.9.9.9'], config: { SITE: 'alpha' }, limits: { memoryBytes: GiB, cpuWeight: 50 }, volumes: [{ name: 'data', kind: 'data', mountPath: '/data' }] });
    expect(res.errors).toBeUndefined();
    const { environment, operation } = res.data!.createEnvironment;
    expect(operation.kind).toBe('environment.create');
    expect(await settle(operation.id)).toMatchObject({ state: 'SUCCEEDED', progress: 1 });
    const id = environment.id;
    const status = async () => (await t.ok('query ($id: ID!) { environment(id: $id) { status } }', { id }, token())).environment.status;
    expect(await status()).toBe('CREATED');

    // It is a ZONE layer on the host's MACHINE layer, and inherits its properties.
    const { layer } = await t.ok('query ($id: ID!) { layer(id: $id) { kind effectiveProperties { key value } } }', { id: environment.layerId }, token());
    expect(layer.kind).toBe('ZONE');
    expect(layer.effectiveProperties).toEqual(expect.arrayContaining([{ key: 'hostname', value: 'zaphod' }, { key: 'technology', value: 'fake' }, { key: 'diskEncryption', value: true }]));

    const act = async (mutation: string, extra = '') => settle((await t.ok(`mutation ($id: ID!${extra ? ', $img: ID!' : ''}) { ${mutation}(id: $id${extra}) { id } }`, { id, ...(extra ? { img: image2 } : {}) }, token()))[mutation].id);
    expect((await act('startEnvironment')).state).toBe('SUCCEEDED');
    expect(await status()).toBe('RUNNING');

    const exec = (command: string[]) => t.ok('mutation ($id: ID!, $c: [String!]!) { execEnvironment(id: $id, command: $c) { exitCode stdout stderr } }', { id, c: command }, token()).then((d) => d.execEnvironment);
    expect(await exec(['hostname'])).toEqual({ exitCode: 0, stdout: 'web.alpha.example\n', stderr: '' });
    expect((await exec(['cat', '/etc/resolv.conf'])).stdout).toMatch(/nameserver 9\.9\.9\.9/);
    expect((await exec(['cat', '/etc/rsp/config.env'])).stdout).toMatch(/SITE=alpha/);
    expect((await exec(['tee', '/data/kept.txt'])).exitCode).toBe(0);
    await exec(['sh', '-c', 'unknown']).then((r) => expect(r.exitCode).toBe(127));
    const { execEnvironment: written } = await t.ok('mutation ($id: ID!) { execEnvironment(id: $id, command: ["tee", "/data/kept.txt"]) { exitCode } }', { id }, token());
    expect(written.exitCode).toBe(0);

    const stats = (await t.ok('query ($id: ID!) { environmentStats(id: $id) { cpuSeconds memoryBytes memoryLimitBytes } }', { id }, token())).environmentStats;
    expect(stats.memoryBytes).toBeLessThanOrEqual(GiB);

    expect((await act('stopEnvironment')).state).toBe('SUCCEEDED');
    expect(await status()).toBe('STOPPED');
    const again = await t.gql('mutation ($id: ID!) { stopEnvironment(id: $id) { id } }', { id }, token());
    expect(again.errors?.[0]).toMatchObject({ extensions: { code: 'CONFLICT' }, message: expect.stringMatching(/it is STOPPED/) });

    expect((await act('rebuildEnvironment', ', imageId: $img')).state).toBe('SUCCEEDED');
    expect(await status()).toBe('STOPPED');
    await settle((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id }, token())).startEnvironment.id);
    expect((await exec(['cat', '/etc/os-release'])).stdout).toMatch(/VERSION=2/);
    expect((await exec(['ls', '/data'])).stdout).toMatch(/kept\.txt/);
    expect((await t.ok('query ($id: ID!) { environment(id: $id) { imageId } }', { id }, token())).environment.imageId).toBe(image2);

    // A copy carries the filesystem and the volumes, under a new identity, stopped.
    const { copyEnvironment } = await t.ok(`mutation ($id: ID!) { copyEnvironment(id: $id, name: "web-copy") { environment { id name } operation { ${OP} } } }`, { id }, token());
    expect(await settle(copyEnvironment.operation.id)).toMatchObject({ state: 'SUCCEEDED' });
    const copyId = copyEnvironment.environment.id;
    expect((await t.ok('query ($id: ID!) { environment(id: $id) { status hostId iface { hostname } } }', { id: copyId }, token())).environment).toEqual({ status: 'STOPPED', hostId: w.host1, iface: { hostname: 'web.alpha.example' } });
    await settle((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: copyId }, token())).startEnvironment.id);
    const inCopy = await t.ok('mutation ($id: ID!) { execEnvironment(id: $id, command: ["ls", "/data"]) { stdout } }', { id: copyId }, token());
    expect(inCopy.execEnvironment.stdout).toMatch(/kept\.txt/);
    await settle((await t.ok('mutation ($id: ID!) { destroyEnvironment(id: $id) { id } }', { id: copyId }, token())).destroyEnvironment.id);

    expect((await act('destroyEnvironment')).state).toBe('SUCCEEDED');
    expect(await status()).toBe('DESTROYED');
    const startDestroyed = await t.gql('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id }, token());
    expect(startDestroyed.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    const { environments } = await t.ok('{ environments { totalCount } }', {}, token());
    expect(environments.totalCount).toBe(0);
  });

  test('bad input gets a clear error and leaves nothing behind', async () => {
    const before = (await t.ok('{ environments(includeDestroyed: true) { totalCount } }', {}, token())).environments.totalCount;
    const otherTech = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: 'ct', version: '1', technology: 'lxc' } }, token())).registerImage.id;
    await t.upload(otherTech, createRootfsTar({ '/x': 'y' }), token());
    const empty = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: 'empty', version: '1', technology: 'fake' } }, token())).registerImage.id;
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ name: 'a1', imageId: '00000000-0000-4000-8000-000000000000' }, 'NOT_FOUND', /Image/],
      [{ name: 'a2', imageId: otherTech }, 'BAD_USER_INPUT', /no usable driver for lxc/],
      [{ name: 'a3', imageId: empty }, 'BAD_USER_INPUT', /no content yet/],
      [{ name: 'a4', limits: { memoryBytes: 64 * GiB } }, 'BAD_USER_INPUT', /more than host zaphod has/],
      [{ name: 'a5', volumes: [{ name: '../etc', mountPath: '/data' }] }, 'BAD_USER_INPUT', /not a volume name/],
      [{ name: 'a6', volumes: [{ name: 'data', mountPath: '/data/../../etc' }] }, 'BAD_USER_INPUT', /absolute, normalised/],
      [{ name: 'a7', volumes: [{ name: 'data', mountPath: 'relative' }] }, 'BAD_USER_INPUT', /absolute/],
      [{ name: 'Bad Name' }, 'BAD_USER_INPUT', /not an environment name/],
      [{ name: 'a8', dns: ['not-an-ip'] }, 'BAD_USER_INPUT', /not an IP address/],
      [{ name: 'a9', config: { 'bad key': 'x' } }, 'BAD_USER_INPUT', /UPPER_CASE/],
      [{ name: 'a10', hostId: '00000000-0000-4000-8000-000000000000' }, 'NOT_FOUND', /Host/],
    ];
    for (const [input, code, message] of cases) {
      const res = await create(input);
      expect({ input, code: res.errors?.[0]?.extensions?.code, message: res.errors?.[0]?.message }).toEqual({ input, code, message: expect.stringMatching(message) });
    }
    const viewer = await create({ name: 'b1' }, w.tokens.viewerA);
    expect(viewer.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const other = await create({ name: 'b2' }, w.tokens.memberB);
    expect(other.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await t.ok('{ environments(includeDestroyed: true) { totalCount } }', {}, token())).environments.totalCount).toBe(before);
  });

  test('image content: read-only once stored, and uploads need the right group', async () => {
    const again = await t.upload(image, createRootfsTar({ '/x': 'other' }), token());
    expect(again).toEqual({ status: 409, body: { errors: [{ message: expect.stringMatching(/read-only/), extensions: { code: 'CONFLICT', details: { id: image } } }] } });
    expect((await t.upload(image, Buffer.from('x'), w.tokens.memberB)).status).toBe(404);
    expect((await t.upload(image, Buffer.from('x'), null)).status).toBe(401);
    expect((await t.upload('nope', Buffer.from('x'), token())).status).toBe(400);
  });
}

describe('environments on pglite', () => environmentSuite('pglite'));
describe('environments on pglite, the agent reached through the JSON loopback', () => environmentSuite('pglite', 'loopback'));
describeWithEngine('postgres', 'environments on postgres', () => environmentSuite('postgres'));
