import { DataSource } from 'typeorm';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { describeWithEngine } from '../helpers/engines';
import { startTestGateway } from '../helpers/gateway';
import { namedQuery, openDataSource, runMigrations } from '../../gateway/persistence/data-source';
import { migrations } from '../../gateway/persistence/migrations';

/** Migrations apply cleanly, are recorded, and are idempotent on re-run. */
function migrationSuite(kind: 'pglite' | 'postgres') {
  let db: TestDatabase;
  let ds: DataSource | undefined;
  beforeAll(async () => {
    db = await createTestDatabase(kind);
  });
  afterAll(async () => {
    await ds?.destroy();
    await db.drop();
  });

  test('every migration runs, is recorded, and a second run does nothing', async () => {
    ds = await openDataSource(db.databaseUrl ? { kind: 'postgres', url: db.databaseUrl } : { kind: 'pglite', dataDir: `${db.dataDir}/db` });
    expect(await runMigrations(ds)).toEqual(migrations.map((m) => new m().name));
    expect(await runMigrations(ds)).toEqual([]);
    const recorded = await ds.query('SELECT name FROM rsp_migrations ORDER BY id');
    expect(recorded.map((r: { name: string }) => r.name)).toEqual(migrations.map((m) => new m().name));
    const columns = await ds.query(`SELECT column_name FROM information_schema.columns WHERE table_name = 'operation' ORDER BY column_name`);
    expect(columns.map((c: { column_name: string }) => c.column_name)).toEqual(
      ['actorGroupId', 'createdAt', 'errorCode', 'errorMessage', 'finishedAt', 'groupId', 'id', 'kind', 'message', 'progress', 'result', 'runner', 'startedAt', 'state', 'targetId', 'targetType', 'updatedAt', 'version'].sort(),
    );
  });

  test('the migrations build exactly the schema the entities describe', async () => {
    const pending = await ds!.driver.createSchemaBuilder().log();
    expect(pending.upQueries.map((q) => q.query)).toEqual([]);
  });

  test('a named query is prepared on the PostgreSQL connection that runs it, and runs plainly on PGlite', async () => {
    const probe = () => namedQuery<{ name: string }>(ds!, 'rsp_test_probe', 'SELECT name FROM pg_prepared_statements WHERE name = $1', ['rsp_test_probe']);
    for (let i = 0; i < 3; i++) expect(await probe()).toEqual(kind === 'postgres' ? [{ name: 'rsp_test_probe' }] : []);
    await expect(namedQuery(ds!, 'rsp_test_bad', 'SELECT 1 / $1::int', [0])).rejects.toMatchObject({ code: '22012' });
  });

  test('migrations revert cleanly', async () => {
    for (let i = 0; i < migrations.length; i++) await ds!.undoLastMigration();
    const tables = await ds!.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name = 'operation'`);
    expect(tables).toEqual([]);
  });
}

describe('migrations on pglite', () => migrationSuite('pglite'));
describeWithEngine('postgres', 'migrations on postgres', () => migrationSuite('postgres'));

describe('embedded database (PGlite) across restarts', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('pglite');
  });
  afterAll(() => db.drop());

  test('data written by one gateway is there after a restart on the same data directory', async () => {
    const first = await startTestGateway(db);
    expect(first.adminToken).toMatch(/^rsp_/);
    const op = await first.gateway.services.operations.start({ kind: 'test.persist', targetId: 'kept' }, async () => ({ kept: true }));
    await first.gateway.services.operations.settled(op.id);
    await first.close();

    const second = await startTestGateway(db);
    try {
      expect(second.gateway.bootstrapToken).toBeUndefined();
      // The token made on the first start still works after the restart.
      const data = await second.ok('query ($id: ID!) { operation(id: $id) { kind targetId state result } }', { id: op.id }, first.adminToken);
      expect(data.operation).toEqual({ kind: 'test.persist', targetId: 'kept', state: 'SUCCEEDED', result: { kept: true } });
    } finally {
      await second.close();
    }
  });
});

describe('PGlite pool', () => {
  let db: TestDatabase;
  let ds: DataSource;
  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    ds = await openDataSource({ kind: 'pglite', dataDir: `${db.dataDir}/db` });
    await ds.query('CREATE TABLE counter (id int PRIMARY KEY, n int NOT NULL)');
    await ds.query('INSERT INTO counter VALUES (1, 0)');
  });
  afterAll(async () => {
    await ds.destroy();
    await db.drop();
  });

  test('concurrent transactions do not interleave on the single session', async () => {
    await Promise.all(
      Array.from({ length: 20 }, () =>
        ds.transaction(async (m) => {
          const [{ n }] = await m.query('SELECT n FROM counter WHERE id = 1');
          await new Promise((r) => setTimeout(r, 1));
          await m.query('UPDATE counter SET n = $1 WHERE id = 1', [n + 1]);
        }),
      ),
    );
    expect(await ds.query('SELECT n FROM counter')).toEqual([{ n: 20 }]);
  });

  test('a failed transaction rolls back and reports affected rows like pg', async () => {
    await expect(
      ds.transaction(async (m) => {
        await m.query('UPDATE counter SET n = 999 WHERE id = 1');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await ds.query('SELECT n FROM counter')).toEqual([{ n: 20 }]);
    const result = await ds.createQueryBuilder().update('counter').set({ n: 21 }).where('id = 1').execute();
    expect(result.affected).toBe(1);
  });
});
