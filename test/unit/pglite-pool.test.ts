import { PGlite } from '@electric-sql/pglite';
import { PGlitePool } from '../../gateway/persistence/pglite-pool';

type Row = Record<string, unknown>;

/**
 * The embedded database's pool runs statements with parameters prepared once per text: each must
 * answer what PGlite's own `query` answers, parameters serialized by their type, and a change of
 * schema must never leave a statement prepared for the old one in use.
 */
describe('PGlitePool: prepared statements', () => {
  let db: PGlite;
  let pool: PGlitePool;
  beforeAll(async () => {
    db = new PGlite();
    await db.waitReady;
    pool = new PGlitePool(db);
    await pool.query('CREATE TABLE item (id uuid PRIMARY KEY, name varchar NOT NULL, tags text[] NOT NULL, data jsonb, at timestamptz, n int NOT NULL DEFAULT 0)');
  });
  afterAll(() => pool.end());

  const insert = 'INSERT INTO item (id, name, tags, data, at) VALUES ($1, $2, $3, $4, $5) RETURNING id, n';
  const select = 'SELECT id, name, tags, data, at, n FROM item WHERE id = ANY($1::uuid[]) ORDER BY name';
  const ids = ['7f1c1c9e-0d2c-4a6e-9a57-3f3b1f4b8b01', '7f1c1c9e-0d2c-4a6e-9a57-3f3b1f4b8b02'];
  const at = new Date('2026-12-04T05:00:00.123Z');

  test('a statement run again answers like PGlite`s own query: rows, counts, types parsed and serialized', async () => {
    const first = await pool.query(insert, [ids[0], 'a"b', ['x', 'y,z'], { k: [1, 2] }, at]);
    const second = await pool.query(insert, [ids[1], 'plain', [], null, null]);
    expect(first.rows).toEqual([{ id: ids[0], n: 0 }]);
    expect(second.rowCount).toBe(1);
    expect(second.command).toBe('INSERT');
    for (let i = 0; i < 3; i++) {
      const ours = await pool.query(select, [ids]);
      const theirs = await db.query<Row>(select, [ids]);
      expect(ours.rows).toEqual(theirs.rows);
      expect(ours.fields).toEqual(theirs.fields);
    }
    expect((await pool.query(select, [ids])).rows[0]).toEqual({ id: ids[0], name: 'a"b', tags: ['x', 'y,z'], data: { k: [1, 2] }, at, n: 0 });
    const updated = await pool.query('UPDATE item SET n = n + $1 WHERE name = $2', [5, 'plain']);
    expect(updated.rowCount).toBe(1);
    expect((await pool.query('UPDATE item SET n = n + $1 WHERE name = $2', [5, 'missing'])).rowCount).toBe(0);
  });

  test('a failed statement throws PostgreSQL`s error with its code, and the session goes on', async () => {
    await expect(pool.query(insert, [ids[0], 'again', [], null, null])).rejects.toMatchObject({ code: '23505', query: insert });
    await expect(pool.query('SELECT nope FROM item WHERE id = $1', [ids[0]])).rejects.toMatchObject({ code: '42703' });
    expect((await pool.query(select, [ids])).rows).toHaveLength(2);
  });

  test('inside a transaction a prepared statement sees the transaction`s rows, and a rollback undoes them', async () => {
    const client = (await pool.connect()) as unknown as { query: PGlitePool['query']; release(): void };
    try {
      await client.query('START TRANSACTION');
      await client.query('UPDATE item SET n = n + $1 WHERE name = $2', [100, 'plain']);
      expect((await client.query('SELECT n FROM item WHERE name = $1', ['plain'])).rows).toEqual([{ n: 105 }]);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    expect((await pool.query('SELECT n FROM item WHERE name = $1', ['plain'])).rows).toEqual([{ n: 5 }]);
  });

  test('after a change of schema the same text answers for the new one (no statement prepared before it is used)', async () => {
    const all = 'SELECT * FROM item WHERE name = $1';
    expect(Object.keys((await pool.query(all, ['plain'])).rows[0] as Row)).not.toContain('extra');
    await pool.query("ALTER TABLE item ADD COLUMN extra varchar NOT NULL DEFAULT 'e'");
    expect((await pool.query(all, ['plain'])).rows[0]).toMatchObject({ name: 'plain', extra: 'e' });
    await pool.query('ALTER TABLE item ALTER COLUMN n TYPE float8');
    expect((await pool.query('UPDATE item SET n = $1 WHERE name = $2 RETURNING n', [1.5, 'plain'])).rows).toEqual([{ n: 1.5 }]);
  });
});
