import { GroupEntity, OperationEntity, OperationState, StorageReservationEntity } from '../../gateway/persistence/entities';
import { gatewayId } from '../../gateway/server/gateway-id';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { startTestGateway } from '../helpers/gateway';

/**
 * A gateway killed with -9 cannot end its operations: at its next start they end FAILED with a
 * clear message (UNAVAILABLE), never stay RUNNING; another gateway's operations are left alone.
 */
describe('operations a killed gateway left RUNNING', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('pglite');
  });
  afterAll(() => db?.drop());

  test('end FAILED at the restart of the gateway that ran them; other runners untouched', async () => {
    const first = await startTestGateway(db);
    const repo = first.gateway.dataSource.getRepository(OperationEntity);
    const me = gatewayId(db.dataDir);
    const op = await first.gateway.services.operations.start({ kind: 'test.quick' }, async () => ({ done: true }));
    expect((await first.gateway.services.operations.settled(op.id)).runner).toBe(me);
    // What a kill -9 leaves behind: rows still RUNNING / PENDING with this gateway as their runner.
    const running = await repo.save(repo.create({ kind: 'environment.create', runner: me, state: OperationState.RUNNING, progress: 0.4, startedAt: new Date() }));
    const pending = await repo.save(repo.create({ kind: 'environment.start', runner: me, state: OperationState.PENDING, progress: 0 }));
    const elsewhere = await repo.save(repo.create({ kind: 'environment.stop', runner: 'another-replica', state: OperationState.RUNNING, progress: 0 }));
    await first.close();

    const second = await startTestGateway(db);
    try {
      const after = second.gateway.dataSource.getRepository(OperationEntity);
      for (const id of [running.id, pending.id]) {
        const row = await after.findOneByOrFail({ id });
        expect(row).toMatchObject({ state: OperationState.FAILED, errorCode: 'UNAVAILABLE' });
        expect(row.errorMessage).toMatch(/^Interrupted: the gateway running this operation stopped before it ended/);
        expect(row.finishedAt).not.toBeNull();
      }
      expect(await after.findOneByOrFail({ id: elsewhere.id })).toMatchObject({ state: OperationState.RUNNING });
      expect(await after.findOneByOrFail({ id: op.id })).toMatchObject({ state: OperationState.SUCCEEDED });

      // cancelOperation tells the truth: an ended one is a CONFLICT naming its state, another
      // gateway's is UNAVAILABLE (cancel it there), and one recorded as running here that nothing
      // runs ends FAILED on the spot.
      const cancel = (id: string) => second.gql('mutation ($id: ID!) { cancelOperation(id: $id) { id state } }', { id }, first.adminToken);
      expect((await cancel(running.id)).errors?.[0]).toMatchObject({ extensions: { code: 'CONFLICT' }, message: `Operation ${running.id} already ended as FAILED` });
      expect((await cancel(elsewhere.id)).errors?.[0]).toMatchObject({ extensions: { code: 'UNAVAILABLE' }, message: `Operation ${elsewhere.id} runs on another gateway (another-replica): cancel it through that gateway` });
      const orphan = await after.save(after.create({ kind: 'environment.stop', runner: me, state: OperationState.RUNNING, progress: 0 }));
      expect((await cancel(orphan.id)).errors?.[0]).toMatchObject({ extensions: { code: 'CONFLICT' }, message: `Operation ${orphan.id} already ended as FAILED` });
      expect(await after.findOneByOrFail({ id: orphan.id })).toMatchObject({ state: OperationState.FAILED, errorCode: 'UNAVAILABLE' });
      // One running here: the answer is the state it ended in.
      const slow = await second.gateway.services.operations.start({ kind: 'test.slow' }, (c) => new Promise((_, reject) => (c.signal.aborted ? reject(c.signal.reason) : c.signal.addEventListener('abort', () => reject(c.signal.reason)))));
      expect((await cancel(slow.id)).data?.cancelOperation).toEqual({ id: slow.id, state: 'CANCELLED' });
    } finally {
      await second.close();
    }
  });

  test("storage reserved by its interrupted transfers is given back at the gateway's restart; other gateways' reservations stay", async () => {
    const first = await startTestGateway(db);
    const groups = first.gateway.dataSource.getRepository(GroupEntity);
    const group = (await groups.save(groups.create({ slug: 'reserving', name: 'Reserving' }))).id;
    const repo = first.gateway.dataSource.getRepository(StorageReservationEntity);
    // What a kill -9 in the middle of an upload leaves behind.
    const mine = await repo.save(repo.create({ groupId: group, bytes: 5000, purpose: 'the upload of image x:1', holder: gatewayId(db.dataDir) }));
    const theirs = await repo.save(repo.create({ groupId: group, bytes: 700, purpose: 'the upload of image y:1', holder: 'another-replica' }));
    await first.close();

    const second = await startTestGateway(db);
    try {
      const after = second.gateway.dataSource.getRepository(StorageReservationEntity);
      expect(await after.existsBy({ id: mine.id })).toBe(false);
      expect(await after.existsBy({ id: theirs.id })).toBe(true);
      expect(await second.gateway.services.storageQuotas.storageOf({ id: group, storageQuotaBytes: null })).toMatchObject({ reservedBytes: 700, usedBytes: 700 });
    } finally {
      await second.close();
    }
  });

  test('a clean stop ends every running operation: one that heeds the interruption and one that ignores it both end FAILED', async () => {
    const t = await startTestGateway(db);
    const ops = t.gateway.services.operations;
    const heeds = await ops.start({ kind: 'test.heeds' }, (control) => new Promise((_, reject) => control.signal.addEventListener('abort', () => reject(control.signal.reason))));
    const ignores = await ops.start({ kind: 'test.ignores' }, () => new Promise(() => undefined));
    await t.close();

    const again = await startTestGateway(db);
    try {
      const repo = again.gateway.dataSource.getRepository(OperationEntity);
      for (const id of [heeds.id, ignores.id]) {
        const row = await repo.findOneByOrFail({ id });
        expect(row).toMatchObject({ state: OperationState.FAILED, errorCode: 'UNAVAILABLE' });
        expect(row.errorMessage).toMatch(/^Interrupted: the gateway stopped before this operation ended/);
      }
    } finally {
      await again.close();
    }
  });
});
