import { hkdfSync, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { openDataSource, runMigrations } from '../../gateway/persistence/data-source';
import { GroupKeys } from '../../gateway/replication/group-keys';
import { createTestDatabase, DATABASE_KINDS, TestDatabase } from '../helpers/databases';

/** The groups' replica keys come from one secret kept with the installation: every gateway replica on the database derives the same. */
describe.each(DATABASE_KINDS)('group keys (%s)', (kind) => {
  let db: TestDatabase;
  let ds: DataSource;
  let other: DataSource | undefined;
  const open = () => openDataSource(db.databaseUrl ? { kind: 'postgres', url: db.databaseUrl } : { kind: 'pglite', dataDir: join(db.dataDir, 'db') });
  beforeAll(async () => {
    db = await createTestDatabase(kind);
    ds = await open();
    await runMigrations(ds);
    // A second connection pool, as a second gateway replica has (PGlite is one process's database: the same one).
    other = kind === 'postgres' ? await open() : undefined;
  });
  afterAll(async () => {
    await other?.destroy();
    await ds?.destroy();
    await db?.drop();
  });
  beforeEach(async () => {
    await ds.query(`UPDATE "installation" SET "replicaKeySecret" = NULL`);
  });

  test('derived per group, the same for every instance, different per group', async () => {
    const keys = new GroupKeys(ds);
    const a = await keys.keyFor('group-a');
    expect(a).toHaveLength(32);
    expect(await new GroupKeys(other ?? ds).keyFor('group-a')).toEqual(a);
    expect(await keys.keyFor('group-b')).not.toEqual(a);
    const [row] = (await ds.query(`SELECT "replicaKeySecret" AS "secret" FROM "installation"`)) as Array<{ secret: Uint8Array }>;
    expect(Buffer.from(row!.secret)).toHaveLength(32);
  });

  test('replicas creating the secret at once all end with the same one', async () => {
    const replicas = Array.from({ length: 8 }, (_, i) => new GroupKeys(i % 2 && other ? other : ds));
    const keys = await Promise.all(replicas.map((r) => r.keyFor('group-a')));
    for (const key of keys) expect(key).toEqual(keys[0]);
    expect(await new GroupKeys(ds).keyFor('group-a')).toEqual(keys[0]);
  });

  test('the secret file of an older gateway is adopted, so the replicas it encrypted stay readable', async () => {
    const secret = randomBytes(32);
    const dir = join(db.dataDir, 'secrets');
    mkdirSync(dir, { recursive: true });
    const legacyFile = join(dir, 'replica-group-keys.secret');
    writeFileSync(legacyFile, secret, { mode: 0o600 });
    const expected = Buffer.from(hkdfSync('sha256', secret, 'rsp-replica-group-key', 'group-a', 32));
    expect(await new GroupKeys(ds, { legacyFile }).keyFor('group-a')).toEqual(expected);
    // Another replica, without that file, derives the same.
    expect(await new GroupKeys(other ?? ds).keyFor('group-a')).toEqual(expected);
  });

  test('a secret file of the wrong size is refused with a message naming it', async () => {
    const legacyFile = join(db.dataDir, 'short.secret');
    writeFileSync(legacyFile, Buffer.alloc(5));
    await expect(new GroupKeys(ds, { legacyFile }).keyFor('group-a')).rejects.toThrow(`${legacyFile} holds 5 bytes, expected 32`);
  });
});
