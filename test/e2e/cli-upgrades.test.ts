import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runRsp, spawnRsp } from '../helpers/cli';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { describeWithEngine } from '../helpers/engines';
import { startTestGateway } from '../helpers/gateway';
import { migrations } from '../../gateway/persistence/migrations';
import { openDataSource } from '../../gateway/persistence/data-source';
import { RSP_VERSION } from '../../gateway/version';

const NAMES = migrations.map((m) => new m().name);
const FUTURE = 'FromTheFuture9999999999999';

/** `rsp migrate --status`, `rsp migrate`, and the refusal of a database a newer version migrated, on one database kind. */
function upgradeSuite(kind: 'pglite' | 'postgres') {
  let db: TestDatabase;
  const env = () => ({ RSP_DATA_DIR: db.dataDir, DATABASE_URL: db.databaseUrl, LOG_LEVEL: 'silent' });

  beforeAll(async () => {
    db = await createTestDatabase(kind);
  });
  afterAll(() => db?.drop());

  test('--status lists pending migrations and applies none; migrate applies them and records the version', async () => {
    const fresh = await runRsp(['--json', 'migrate', '--status'], env());
    expect(fresh.code).toBe(0);
    expect(JSON.parse(fresh.stdout)).toMatchObject({ applied: [], pending: NAMES });
    expect((await runRsp(['migrate', '--status'], env())).stdout).toMatch(new RegExp(`0 applied, ${NAMES.length} pending`));

    const applied = await runRsp(['migrate'], env());
    expect(applied).toMatchObject({ code: 0, stdout: expect.stringMatching(new RegExp(`^Applied ${NAMES.length} migrations to .* \\(latest ${NAMES.at(-1)}; rsp migrate --status lists them all\\)\\n$`)) });
    const status = JSON.parse((await runRsp(['--json', 'migrate', '--status'], env())).stdout);
    expect(status.pending).toEqual([]);
    expect(status.applied).toEqual(NAMES.map((name) => ({ name, appliedBy: RSP_VERSION, known: true })));
    expect((await runRsp(['migrate'], env())).stdout).toMatch(/is up to date/);
  });

  test('a database a newer version migrated is refused by rsp serve, rsp migrate and startGateway, naming the migration and version', async () => {
    const ds = await openDataSource(db.databaseUrl ? { kind: 'postgres', url: db.databaseUrl } : { kind: 'pglite', dataDir: `${db.dataDir}/db` });
    try {
      await ds.query(`INSERT INTO rsp_migrations ("timestamp", "name", "appliedBy") VALUES (9999999999999, $1, '99.1.0')`, [FUTURE]);
    } finally {
      await ds.destroy();
    }
    const refusal = new RegExp(`migrated by RSP 99\\.1\\.0, newer than this RSP ${RSP_VERSION.replace(/\./g, '\\.')}.*${FUTURE}`);
    const status = await runRsp(['migrate', '--status'], env());
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`${FUTURE} +applied by a newer version +99\\.1\\.0`));
    expect(status.stdout).toMatch(/1 unknown to this version/);

    const migrate = await runRsp(['migrate'], env());
    expect(migrate.code).toBe(1);
    expect(migrate.stderr).toMatch(refusal);

    const serve = spawnRsp(['serve', '--port', '0'], { ...env(), RSP_DRIVERS: 'fake' });
    const served = await serve.exited;
    expect(served.code).toBe(1);
    expect(served.stderr).toMatch(refusal);

    await expect(startTestGateway(db)).rejects.toMatchObject({ category: 'CONFLICT', message: expect.stringMatching(refusal) });
  });
}

describe('upgrades on pglite', () => upgradeSuite('pglite'));

test('on a data directory with no database (a misspelt --data-dir), migrate --status and admin backup make none: status shows every migration pending, backup is refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rsp-no-db-'));
  try {
    const misspelt = join(dir, 'dta');
    const status = await runRsp(['--json', 'migrate', '--status', '--data-dir', misspelt], { DATABASE_URL: '', LOG_LEVEL: 'silent' });
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ exists: false, applied: [], pending: NAMES });
    const backup = await runRsp(['admin', 'backup', '--data-dir', misspelt, join(dir, 'b.rspbackup')], { DATABASE_URL: '', LOG_LEVEL: 'silent' });
    expect(backup.code).toBe(2);
    expect(backup.stderr).toMatch(/no embedded database at .*dta\/db: check --data-dir or RSP_DATA_DIR/);
    const unwritable = await runRsp(['admin', 'backup', '--data-dir', misspelt, join(dir, 'absent-folder', 'b.rspbackup')], { DATABASE_URL: '', LOG_LEVEL: 'silent' });
    expect(unwritable.code).toBe(2);
    expect(unwritable.stderr).toMatch(/cannot write the backup .*absent-folder\/b\.rspbackup: no such file or folder/);
    expect(readdirSync(dir)).toEqual([]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
describeWithEngine('postgres', 'upgrades on postgres', () => upgradeSuite('postgres'));
