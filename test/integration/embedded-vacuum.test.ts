import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { DataSource } from 'typeorm';
import { openDataSource } from '../../gateway/persistence/data-source';
import { EMBEDDED_VACUUM_MAX_ROWS, EmbeddedVacuum, maintenanceOf } from '../../gateway/persistence/embedded-vacuum';
import { StatementCounter } from '../../gateway/persistence/statement-counter';
import { until } from '../helpers/until';

describe('the embedded database vacuum (PGlite has no autovacuum)', () => {
  it("follows autovacuum's default thresholds, and leaves long tables alone", () => {
    expect(maintenanceOf({ table: 't', live: 1000, dead: 251, modified: 0 })).toBe('vacuum');
    expect(maintenanceOf({ table: 't', live: 1000, dead: 250, modified: 151 })).toBe('analyze');
    expect(maintenanceOf({ table: 't', live: 1000, dead: 250, modified: 150 })).toBeUndefined();
    expect(maintenanceOf({ table: 't', live: EMBEDDED_VACUUM_MAX_ROWS, dead: 1, modified: 10 ** 6 })).toBeUndefined();
  });

  describe('on PGlite', () => {
    let dir: string;
    let ds: DataSource;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'rsp-embedded-vacuum-'));
      ds = await openDataSource({ kind: 'pglite', dataDir: join(dir, 'db') });
    });
    afterAll(async () => {
      await ds?.destroy();
      await rm(dir, { recursive: true, force: true });
    });

    it('vacuums and analyzes a table whose rows were rewritten, then leaves it until it changes again', async () => {
      const vacuum = new EmbeddedVacuum(ds, pino({ level: 'silent' }));
      await ds.query('CREATE TABLE churn (id int PRIMARY KEY, at timestamptz)');
      await ds.query('INSERT INTO churn SELECT i, now() FROM generate_series(1, 300) AS i');
      for (let k = 0; k < 2; k++) await ds.query('UPDATE churn SET at = now()');
      // PostgreSQL reports a statement's counts to pg_stat_* a moment later: each round reads them again.
      const roundDoing = (did: 'vacuum' | 'analyze') => until(`a round that does ${did} churn`, async () => ((await vacuum.round()).some((d) => d.table === 'churn' && d.did === did) ? true : undefined), 30_000, 200);
      await roundDoing('vacuum');
      const stats = () => ds.query(`SELECT n_dead_tup::int AS dead, last_vacuum IS NOT NULL AS vacuumed, last_analyze IS NOT NULL AS analyzed FROM pg_stat_user_tables WHERE relname = 'churn'`) as Promise<Array<{ dead: number; vacuumed: boolean; analyzed: boolean }>>;
      await until('the vacuum reported', async () => ((await stats())[0]?.analyzed ? true : undefined), 30_000, 200);
      expect((await stats())[0]).toEqual({ dead: 0, vacuumed: true, analyzed: true });
      // Upkeep goes to the pool itself: a StatementCounter (a path's statements) does not count it.
      const counter = new StatementCounter(ds).start();
      expect((await vacuum.round()).map((d) => d.table)).not.toContain('churn');
      expect(counter.stop().total).toBe(0);
      await ds.query('INSERT INTO churn SELECT i, now() FROM generate_series(301, 400) AS i');
      await roundDoing('analyze');
    });
  });
});
