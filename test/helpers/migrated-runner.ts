import type { DataSource, QueryRunner } from 'typeorm';
import { openDataSource, runMigrations } from '../../gateway/persistence/data-source';
import { createTestDatabase, TestDatabase } from './databases';

/**
 * A migrated PGlite database for a migration's own test, through one query runner (PGlite has one
 * connection: the migration's `up`/`down` and the test's rows all go through it). Registers the
 * suite's beforeAll/afterAll; `runner()` is the runner once they ran.
 */
export function useMigratedRunner(): { runner: () => QueryRunner } {
  let db: TestDatabase;
  let ds: DataSource;
  let runner: QueryRunner;
  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    ds = await openDataSource({ kind: 'pglite', dataDir: `${db.dataDir}/db` });
    await runMigrations(ds);
    runner = ds.createQueryRunner();
  });
  afterAll(async () => {
    await runner?.release();
    await ds?.destroy();
    await db?.drop();
  });
  return { runner: () => runner };
}
