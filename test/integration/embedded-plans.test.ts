import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import { openDataSource } from '../../gateway/persistence/data-source';

describe('the embedded database plans a prepared statement once', () => {
  let dir: string;
  let ds: DataSource;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rsp-embedded-plans-'));
    ds = await openDataSource({ kind: 'pglite', dataDir: join(dir, 'db') });
  });
  afterAll(async () => {
    await ds?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps the generic plan of a statement PostgreSQL would otherwise plan again for each set of values', async () => {
    expect(await ds.query('SHOW plan_cache_mode')).toEqual([{ plan_cache_mode: 'force_generic_plan' }]);
    await ds.query('CREATE TABLE planned (id int PRIMARY KEY, state text, version int)');
    await ds.query("INSERT INTO planned SELECT i, 'A', 1 FROM generate_series(1, 50) AS i");
    // A version-checked update in a WITH, as a lifecycle step's are.
    const text = 'WITH carried AS (UPDATE planned SET state = $1, version = version + 1 WHERE id = $2 AND version = $3 AND state = ANY($4) RETURNING id) SELECT id FROM carried';
    for (let i = 1; i <= 8; i++) expect(await ds.query(text, ['B', i, 1, ['A']])).toHaveLength(1);
    const [plans] = (await ds.query('SELECT generic_plans::int AS generic, custom_plans::int AS custom FROM pg_prepared_statements WHERE statement = $1', [text])) as Array<{ generic: number; custom: number }>;
    expect(plans).toEqual({ generic: 8, custom: 0 });
  });
});
