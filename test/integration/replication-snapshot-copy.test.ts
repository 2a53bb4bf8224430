import { FakeDriver, createRootfsTar } from '../../drivers/fake';
import { InProcessAgent } from '../../gateway/agent/in-process-agent';
import { EnvironmentEntity, EnvironmentStatus } from '../../gateway/persistence/entities';
import { runRsp } from '../helpers/cli';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, World } from '../helpers/scenario';

const CREATE_POLICY = 'mutation ($i: CreateReplicationPolicyInput!) { createReplicationPolicy(input: $i) { id snapshotBeforeCopy } }';
const UPDATE_POLICY = 'mutation ($id: ID!, $i: UpdateReplicationPolicyInput!) { updateReplicationPolicy(id: $id, input: $i) { id snapshotBeforeCopy } }';
const EXEC = 'mutation ($e: ID!, $c: [String!]!) { execEnvironment(id: $e, command: $c) { exitCode stdout } }';
const SNAPSHOTS = 'query ($e: ID!) { environment(id: $e) { snapshots { name } } }';

/**
 * "Snapshot before copy" on the fake driver: a run takes a snapshot (holding the environment only
 * while it is taken), exports from it — what is written during the export is not in the replica —
 * and deletes it; a driver that cannot export from a snapshot is refused with
 * UNSUPPORTED_OPERATION naming it.
 */
describe('replication with snapshot before copy (fake driver)', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;
  let env: string;

  const exec = async (id: string, command: string[]) => (await t.ok(EXEC, { e: id, c: command }, w.tokens.memberA)).execEnvironment as { exitCode: number; stdout: string };
  const settledOk = async (operationId: string) => {
    const op = await t.gateway.services.operations.settled(operationId);
    expect({ state: op.state, error: op.errorMessage }).toEqual({ state: 'SUCCEEDED', error: null });
    return op;
  };
  /** The fake driver as one without `exportSnapshot`: its calls refuse it, and its host's agent reports it without. */
  const withoutExportSnapshot = () => {
    const original = FakeDriver.prototype.capabilities;
    const capabilities = jest.spyOn(FakeDriver.prototype, 'capabilities').mockImplementation(function (this: FakeDriver) {
      const caps = original.call(this);
      return { ...caps, operations: caps.operations.filter((op) => op !== 'exportSnapshot') };
    });
    const reported = InProcessAgent.prototype.drivers;
    const drivers = jest.spyOn(InProcessAgent.prototype, 'drivers').mockImplementation(async function (this: InProcessAgent) {
      return (await reported.call(this)).map((d) => ({ ...d, capabilities: { ...d.capabilities, operations: d.capabilities.operations.filter((op) => op !== 'exportSnapshot') } }));
    });
    return { mockRestore: () => (capabilities.mockRestore(), drivers.mockRestore()) };
  };

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db, { RSP_REPLICATION_INTERVAL_MS: '0' });
    w = await buildWorld(t);
    const image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: 'fake', version: '1', technology: 'fake' } })).registerImage.id;
    expect((await t.upload(image, createRootfsTar({ '/etc/hostname': 'x' }))).status).toBe(200);
    const { createEnvironment } = await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: w.groupA, hostId: w.host1, imageId: image, name: 'consistent' } }, w.tokens.memberA);
    env = createEnvironment.environment.id;
    await settledOk(createEnvironment.operation.id);
    await settledOk((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: env }, w.tokens.memberA)).startEnvironment.id);
  }, 120_000);

  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test('a run exports from its own snapshot (writes during the export are not in the replica), then deletes it; the environment is held only while it is taken', async () => {
    const policy = (await t.ok(CREATE_POLICY, { i: { environmentId: env, schedule: 'every 1 hour', targetKind: 'STORE', snapshotBeforeCopy: true } }, w.tokens.memberA)).createReplicationPolicy;
    expect(policy.snapshotBeforeCopy).toBe(true);
    expect((await exec(env, ['tee', '/before'])).exitCode).toBe(0);

    const seen: Array<{ snapshot: string; status: EnvironmentStatus; recorded: string[] }> = [];
    const original = FakeDriver.prototype.exportSnapshot;
    const spy = jest.spyOn(FakeDriver.prototype, 'exportSnapshot').mockImplementation(async function (this: FakeDriver, id: string, name: string, options) {
      const status = (await t.gateway.dataSource.getRepository(EnvironmentEntity).findOneByOrFail({ id: env })).status;
      const recorded = (await t.gateway.services.snapshots.recorded(env)).map((s) => s.name);
      seen.push({ snapshot: name, status, recorded });
      // Written while the run copies: the snapshot was taken before, so the replica must not hold it.
      expect((await this.exec!(id, ['tee', '/during'], { stdin: 'late' })).exitCode).toBe(0);
      return original.call(this, id, name, options);
    });
    try {
      const run = await settledOk((await t.ok('mutation ($id: ID!) { replicateNow(policyId: $id) { id } }', { id: policy.id }, w.tokens.memberA)).replicateNow.id);
      expect(seen).toEqual([{ snapshot: expect.stringMatching(/^rsp-replication-/), status: EnvironmentStatus.RUNNING, recorded: [seen[0]!.snapshot] }]);
      expect((await t.ok(SNAPSHOTS, { e: env }, w.tokens.memberA)).environment.snapshots).toEqual([]);

      const restore = (await t.ok('mutation ($r: ID!, $n: String!) { restoreReplica(replicaId: $r, name: $n, start: true) { id } }', { r: run.result!.replicaId, n: 'consistent-copy' }, w.tokens.memberA)).restoreReplica;
      await settledOk(restore.id);
      const copy = await t.gateway.dataSource.getRepository(EnvironmentEntity).findOneByOrFail({ name: 'consistent-copy', groupId: w.groupA });
      expect((await exec(copy.id, ['cat', '/before'])).exitCode).toBe(0);
      expect((await exec(copy.id, ['cat', '/during'])).exitCode).not.toBe(0);
      expect((await exec(env, ['cat', '/during'])).stdout).toBe('late');
    } finally {
      spy.mockRestore();
    }
  });

  test('a driver that cannot export from a snapshot: the policy is refused with UNSUPPORTED_OPERATION naming the driver; INTERNAL policies: BAD_USER_INPUT', async () => {
    const spy = withoutExportSnapshot();
    try {
      const refused = await t.gql(CREATE_POLICY, { i: { environmentId: env, schedule: 'every 1 hour', targetKind: 'STORE', snapshotBeforeCopy: true, name: 'refused' } }, w.tokens.memberA);
      expect(refused.errors?.[0]?.extensions?.code).toBe('UNSUPPORTED_OPERATION');
      expect(refused.errors?.[0]?.message).toMatch(/driver fake does not support snapshot before copy/);
      const plain = (await t.ok(CREATE_POLICY, { i: { environmentId: env, schedule: 'every 1 hour', targetKind: 'STORE', name: 'plain' } }, w.tokens.memberA)).createReplicationPolicy;
      expect(plain.snapshotBeforeCopy).toBe(false);
      expect((await t.gql(UPDATE_POLICY, { id: plain.id, i: { snapshotBeforeCopy: true } }, w.tokens.memberA)).errors?.[0]?.extensions?.code).toBe('UNSUPPORTED_OPERATION');
    } finally {
      spy.mockRestore();
    }
    const internal = await t.gql(CREATE_POLICY, { i: { environmentId: env, schedule: 'every 1 hour', targetKind: 'STORE', kind: 'INTERNAL', backupCommand: ['cat', '/before'], snapshotBeforeCopy: true } }, w.tokens.memberA);
    expect(internal.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  test('rsp replicate policy create --snapshot-before-copy', async () => {
    const created = await runRsp(['replicate', 'policy', 'create', env, '--schedule', 'every 1 hours', '--name', 'cli-consistent', '--snapshot-before-copy'], { RSP_URL: t.gateway.url, RSP_TOKEN: w.tokens.memberA });
    expect(created).toMatchObject({ code: 0 });
    expect(created.stdout).toMatch(/snapshot before copy:\s+yes/);
  }, 60_000);
});
