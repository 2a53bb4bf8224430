import { FakeDriver, createRootfsTar } from '../../drivers/fake';
import { AllocationEntity, AllocationStatus, EnvironmentEntity, EnvironmentStatus } from '../../gateway/persistence/entities';
import { runRsp } from '../helpers/cli';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, World } from '../helpers/scenario';

const CREATE = 'mutation ($e: ID!, $n: String!) { createSnapshot(environmentId: $e, name: $n) { id } }';
const ROLLBACK = 'mutation ($e: ID!, $n: String!) { rollbackSnapshot(environmentId: $e, name: $n) { id } }';
const DELETE = 'mutation ($e: ID!, $n: String!) { deleteSnapshot(environmentId: $e, name: $n) { id } }';
const RETENTION = 'mutation ($e: ID!, $k: Int) { setSnapshotRetention(environmentId: $e, keepLast: $k) { id snapshotKeepLast } }';
const LIST = 'query ($e: ID!) { environment(id: $e) { snapshots { name createdBy createdAt } } }';
const EXEC = 'mutation ($e: ID!, $c: [String!]!) { execEnvironment(id: $e, command: $c) { exitCode stdout } }';

/**
 * Snapshots through the gateway on the fake driver: create, list on the environment, roll back (a
 * file written after the snapshot is gone), delete, each an operation; the retention deletes the
 * oldest beyond keepLast after each new one; each holds its disk on the host through placement,
 * released with it; a driver without snapshots refuses with UNSUPPORTED_OPERATION.
 */
describe('environment snapshots through the gateway (fake driver)', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;
  let env: string;

  async function succeeds(operationId: string) {
    const op = await t.gateway.services.operations.settled(operationId);
    expect({ state: op.state, error: op.errorMessage }).toEqual({ state: 'SUCCEEDED', error: null });
    return op;
  }
  const names = async () => ((await t.ok(LIST, { e: env }, w.tokens.viewerA)).environment.snapshots as Array<{ name: string }>).map((s) => s.name);
  const exec = async (command: string[]) => (await t.ok(EXEC, { e: env, c: command }, w.tokens.memberA)).execEnvironment as { exitCode: number; stdout: string };

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db);
    w = await buildWorld(t);
    const image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: 'fake', version: '1', technology: 'fake' } })).registerImage.id;
    expect((await t.upload(image, createRootfsTar({ '/etc/hostname': 'x' }))).status).toBe(200);
    const input = { groupId: w.groupA, hostId: w.host1, imageId: image, name: 'snapped', limits: { diskBytes: 2 ** 20 } };
    const { createEnvironment } = await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: input }, w.tokens.memberA);
    env = createEnvironment.environment.id;
    await succeeds(createEnvironment.operation.id);
    await succeeds((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: env }, w.tokens.memberA)).startEnvironment.id);
  }, 120_000);

  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test('create, list, roll back (a file written since is gone) and delete, each an operation holding its disk while it lives', async () => {
    await succeeds((await t.ok(CREATE, { e: env, n: 'before' }, w.tokens.memberA)).createSnapshot.id);
    const listed = (await t.ok(LIST, { e: env }, w.tokens.viewerA)).environment.snapshots;
    expect(listed).toEqual([{ name: 'before', createdBy: expect.any(String), createdAt: expect.any(String) }]);
    const [record] = await t.gateway.services.snapshots.recorded(env);
    const allocations = t.gateway.dataSource.getRepository(AllocationEntity);
    expect(await allocations.findOneByOrFail({ id: record!.allocationId! })).toMatchObject({ status: AllocationStatus.ACTIVE });

    expect((await t.gql(CREATE, { e: env, n: 'before' }, w.tokens.memberA)).errors?.[0]?.extensions?.code).toBe('CONFLICT');
    expect((await t.gql(CREATE, { e: env, n: 'Not A Name' }, w.tokens.memberA)).errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect((await t.gql(CREATE, { e: env, n: 'viewer' }, w.tokens.viewerA)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await t.gql(CREATE, { e: env, n: 'other' }, w.tokens.memberB)).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');

    expect((await exec(['tee', '/after'])).exitCode).toBe(0);
    await succeeds((await t.ok(ROLLBACK, { e: env, n: 'before' }, w.tokens.memberA)).rollbackSnapshot.id);
    expect((await exec(['cat', '/after'])).exitCode).not.toBe(0);
    expect((await t.gql(ROLLBACK, { e: env, n: 'never' }, w.tokens.memberA)).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');

    await succeeds((await t.ok(DELETE, { e: env, n: 'before' }, w.tokens.memberA)).deleteSnapshot.id);
    expect(await names()).toEqual([]);
    expect(await allocations.findOneByOrFail({ id: record!.allocationId! })).toMatchObject({ status: AllocationStatus.RELEASED });
  });

  /** Holds the fake driver's `method` until released; `entered` resolves once a call is inside it. */
  function gate<K extends 'snapshot' | 'stop'>(method: K) {
    const original = FakeDriver.prototype[method] as (...args: unknown[]) => Promise<unknown>;
    let entered!: () => void;
    let release!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    const open = new Promise<void>((r) => (release = r));
    const spy = jest.spyOn(FakeDriver.prototype, method).mockImplementation(async function (this: FakeDriver, ...args: unknown[]) {
      entered();
      await open;
      return original.apply(this, args);
    } as never);
    return { inside, release: () => (release(), spy.mockRestore()) };
  }
  const STOP = 'mutation ($id: ID!) { stopEnvironment(id: $id) { id } }';
  const START = 'mutation ($id: ID!) { startEnvironment(id: $id) { id } }';
  const DESTROY = 'mutation ($id: ID!) { destroyEnvironment(id: $id) { id } }';
  const status = async () => (await t.gateway.dataSource.getRepository(EnvironmentEntity).findOneByOrFail({ id: env })).status;

  test('a snapshot holds the environment: a stop or destroy meanwhile is CONFLICT, never a half state; a snapshot during a stop too', async () => {
    const held = gate('snapshot');
    const snapshotting = (await t.ok(CREATE, { e: env, n: 'held' }, w.tokens.memberA)).createSnapshot.id;
    await held.inside;
    expect(await status()).toBe(EnvironmentStatus.SNAPSHOTTING);
    for (const mutation of [STOP, DESTROY]) {
      const refused = await t.gql(mutation, { id: env }, w.tokens.memberA);
      expect(refused.errors?.[0]?.extensions?.code).toBe('CONFLICT');
      expect(refused.errors?.[0]?.message).toMatch(/SNAPSHOTTING/);
    }
    expect((await t.gql(CREATE, { e: env, n: 'second' }, w.tokens.memberA)).errors?.[0]?.extensions?.code).toBe('CONFLICT');
    held.release();
    await succeeds(snapshotting);
    expect(await status()).toBe(EnvironmentStatus.RUNNING);
    expect(await names()).toEqual(['held']);

    const stopping = gate('stop');
    const stop = (await t.ok(STOP, { id: env }, w.tokens.memberA)).stopEnvironment.id;
    await stopping.inside;
    for (const [mutation, field] of [[CREATE, 'n'], [ROLLBACK, 'n'], [DELETE, 'n']] as const) {
      const refused = await t.gql(mutation, { e: env, [field]: 'held' }, w.tokens.memberA);
      expect(refused.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    }
    stopping.release();
    await succeeds(stop);
    expect(await status()).toBe(EnvironmentStatus.STOPPED);
    expect(await names()).toEqual(['held']);

    // A snapshot step refused once it held the environment (a name taken) puts it back as it was.
    expect((await t.gql(CREATE, { e: env, n: 'held' }, w.tokens.memberA)).errors?.[0]?.extensions?.code).toBe('CONFLICT');
    expect(await status()).toBe(EnvironmentStatus.STOPPED);
    await succeeds((await t.ok(DELETE, { e: env, n: 'held' }, w.tokens.memberA)).deleteSnapshot.id);
    await succeeds((await t.ok(START, { id: env }, w.tokens.memberA)).startEnvironment.id);
    expect(await status()).toBe(EnvironmentStatus.RUNNING);
  });

  test('the retention keeps the newest keepLast after each snapshot', async () => {
    expect((await t.gql(RETENTION, { e: env, k: 0 }, w.tokens.memberA)).errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect((await t.ok(RETENTION, { e: env, k: 2 }, w.tokens.memberA)).setSnapshotRetention).toEqual({ id: env, snapshotKeepLast: 2 });
    for (const n of ['r1', 'r2', 'r3']) {
      const op = await succeeds((await t.ok(CREATE, { e: env, n }, w.tokens.memberA)).createSnapshot.id);
      expect(op.result).toMatchObject({ removed: n === 'r3' ? ['r1'] : [] });
    }
    expect(await names()).toEqual(['r2', 'r3']);
    expect((await t.ok(RETENTION, { e: env, k: null }, w.tokens.memberA)).setSnapshotRetention.snapshotKeepLast).toBeNull();
    for (const n of ['r2', 'r3']) await succeeds((await t.ok(DELETE, { e: env, n }, w.tokens.memberA)).deleteSnapshot.id);
  });

  test('rsp env snapshot create|list|rollback|delete and retention', async () => {
    const cli = { RSP_URL: t.gateway.url, RSP_TOKEN: w.tokens.memberA };
    expect(await runRsp(['env', 'snapshot', 'create', env, 'cli-snap'], cli)).toMatchObject({ code: 0 });
    const listed = await runRsp(['env', 'snapshot', 'list', env], cli);
    expect(listed).toMatchObject({ code: 0 });
    expect(listed.stdout).toMatch(/NAME[\s\S]*cli-snap/);
    expect((await exec(['tee', '/after-cli'])).exitCode).toBe(0);
    expect(await runRsp(['env', 'snapshot', 'rollback', env, 'cli-snap'], cli)).toMatchObject({ code: 0 });
    expect((await exec(['cat', '/after-cli'])).exitCode).not.toBe(0);
    expect(await runRsp(['env', 'snapshot', 'retention', env, '--keep-last', '3'], cli)).toMatchObject({ code: 0 });
    expect(await runRsp(['env', 'snapshot', 'delete', env, 'cli-snap'], cli)).toMatchObject({ code: 0 });
    expect(await names()).toEqual([]);
    expect((await runRsp(['env', 'snapshot', 'rollback', env, 'cli-snap'], cli)).code).not.toBe(0);
  }, 60_000);

  test('a driver without snapshots: the operation fails with UNSUPPORTED_OPERATION and nothing stays recorded', async () => {
    const original = FakeDriver.prototype.capabilities;
    const spy = jest.spyOn(FakeDriver.prototype, 'capabilities').mockImplementation(function (this: FakeDriver) {
      const caps = original.call(this);
      return { ...caps, operations: caps.operations.filter((op) => !['snapshot', 'listSnapshots', 'rollbackSnapshot', 'deleteSnapshot'].includes(op)) };
    });
    try {
      const op = await t.gateway.services.operations.settled((await t.ok(CREATE, { e: env, n: 'refused' }, w.tokens.memberA)).createSnapshot.id);
      expect({ state: op.state, code: op.errorCode }).toEqual({ state: 'FAILED', code: 'UNSUPPORTED_OPERATION' });
      expect(await names()).toEqual([]);
    } finally {
      spy.mockRestore();
    }
  });
});
