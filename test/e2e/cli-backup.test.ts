import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { createRootfsTar } from '../../drivers/fake';
import { ArtifactStore } from '../../gateway/artifacts/artifact-store';
import { runRsp } from '../helpers/cli';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { describeWithEngine } from '../helpers/engines';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, World } from '../helpers/scenario';
import { until } from '../helpers/until';

/** What a restore must give back, read through GraphQL as the site admin. */
const EVERYTHING = `{
  groups(first: 500) { nodes { id slug name } }
  sites(first: 500) { nodes { id name } }
  hosts(first: 500) { nodes { id hostname siteId } }
  environments(first: 500) { nodes { id name status hostId } }
}`;

/**
 * `rsp admin backup` and `rsp admin restore` on one database kind: a populated gateway (groups,
 * a site, hosts, an environment, a replica in the gateway's store) is backed up while it runs,
 * its database and manifests are wiped, restored, and a gateway on it finds everything again.
 */
function backupSuite(kind: 'pglite' | 'postgres') {
  let db: TestDatabase;
  let t: TestGateway | undefined;
  let w: World;
  let dir: string;
  let adminToken: string;
  let before: unknown;
  let replica: { id: string; manifestId: string };
  const dbEnv = () => ({ RSP_DATA_DIR: db.dataDir, DATABASE_URL: db.databaseUrl, LOG_LEVEL: 'silent' });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rsp-backup-'));
    db = await createTestDatabase(kind);
    // The writer of the snapshot test below writes as fast as it can: no rate limit in its way.
    t = await startTestGateway(db, { RSP_REPLICATION_INTERVAL_MS: '0', RSP_RATE_MUTATIONS_PER_MINUTE: '1000000' });
    adminToken = t.adminToken;
    w = await buildWorld(t);
    // The gateway's agent serves zaphod: it is UP once the agent's next heartbeat is heard.
    await until('host zaphod UP', async () => (await t!.ok('query ($id: ID!) { host(id: $id) { state } }', { id: w.host1 })).host.state === 'UP', 60_000);
    const image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: 'app', version: '1', technology: 'fake' } })).registerImage.id;
    await t.upload(image, createRootfsTar({ '/srv/data.txt': 'kept\n' }));
    const created = (await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: w.groupA, hostId: w.host1, imageId: image, name: 'app' } }, w.tokens.memberA)).createEnvironment;
    await t.gateway.services.operations.settled(created.operation.id);
    const policy = (await t.ok('mutation ($i: CreateReplicationPolicyInput!) { createReplicationPolicy(input: $i) { id } }', { i: { environmentId: created.environment.id, targetKind: 'STORE', schedule: 'every 1 hour' } }, w.tokens.memberA)).createReplicationPolicy.id;
    const op = await t.gateway.services.operations.settled((await t.ok('mutation ($id: ID!) { replicateNow(policyId: $id) { id } }', { id: policy }, w.tokens.memberA)).replicateNow.id);
    expect(op.state).toBe('SUCCEEDED');
    replica = (await t.ok('query ($id: ID!) { replica(id: $id) { id manifestId } }', { id: op.result!.replicaId })).replica;
    before = await t.ok(EVERYTHING);
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a backup made while the gateway runs is 0600, complete, and holds no token in clear', async () => {
    const file = join(dir, 'online.rspbackup');
    const online = await runRsp(['admin', 'backup', '--online', file], { RSP_URL: t!.gateway.url, RSP_TOKEN: adminToken });
    expect(online).toMatchObject({ code: 0, stdout: expect.stringMatching(/Backed up \d+ row\(s\) of \d+ table\(s\) and 1 artifact manifest\(s\) from the gateway/) });
    // Only site admins may ask for it.
    expect((await runRsp(['admin', 'backup', '--online', join(dir, 'denied')], { RSP_URL: t!.gateway.url, RSP_TOKEN: w.tokens.adminA })).code).toBe(4);
    const direct = join(dir, 'direct.rspbackup');
    const offline = await runRsp(['admin', 'backup', direct], dbEnv());
    if (kind === 'postgres') {
      // PostgreSQL is read directly, in one REPEATABLE READ transaction, while the gateway writes.
      expect(offline).toMatchObject({ code: 0, stdout: expect.stringMatching(/from PostgreSQL/) });
    } else {
      // A second process must not open the running gateway's embedded database.
      expect(offline.code).toBe(3);
      expect(offline.stderr).toMatch(/is open in process \d+ .*rsp admin backup --online/);
    }
    const text = readFileSync(file, 'utf8');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(text).not.toContain(adminToken);
    for (const token of Object.values(w.tokens)) expect(text).not.toContain(token);
    const lines = text.trimEnd().split('\n');
    expect(JSON.parse(lines[0]!)).toMatchObject({ format: 'rsp-backup', formatVersion: 1, database: kind });
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ end: true, manifests: 1 });
    expect(text).toContain(replica.manifestId);
  });

  test('a backup made while the gateway keeps writing is one snapshot: every table as counted, every site with its group', async () => {
    // A writer through the running gateway: a group, then a site owned by it, again and again. Read table by table
    // (groups before sites) without one snapshot, a site written in between would be in the backup without its group.
    let writing = true;
    let written = 0;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        const g = (await t!.ok('mutation ($i: CreateGroupInput!) { createGroup(input: $i) { id } }', { i: { slug: `busy-${i}`, name: `Busy ${i}` } })).createGroup.id as string;
        await t!.ok('mutation ($i: CreateSiteInput!) { createSite(input: $i) { id } }', { i: { name: `busy-${i}`, ownerGroupId: g } });
        written = i + 1;
      }
    })();
    try {
      await until('the writer under way', () => written >= 2 || undefined, 60_000);
      const file = join(dir, 'busy.rspbackup');
      const atStart = written;
      const backup = kind === 'postgres' ? await runRsp(['admin', 'backup', file], dbEnv()) : await runRsp(['admin', 'backup', '--online', file], { RSP_URL: t!.gateway.url, RSP_TOKEN: adminToken });
      // The writes went on while it was made (else this would prove nothing).
      expect(written).toBeGreaterThan(atStart);
      expect(backup.code).toBe(0);
      const lines = readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { tables?: Array<{ name: string; rows: number }>; table?: string; row?: Record<string, unknown> });
      const rows = lines.filter((l) => l.table);
      const counted = Object.fromEntries(lines[0]!.tables!.map((tb) => [tb.name, tb.rows]));
      for (const [name, count] of Object.entries(counted)) expect([name, rows.filter((r) => r.table === name).length]).toEqual([name, count]);
      const groups = new Set(rows.filter((r) => r.table === 'group').map((r) => r.row!.id));
      const sites = rows.filter((r) => r.table === 'site' && String(r.row!.name).startsWith('busy-'));
      expect(sites.length).toBeGreaterThan(0);
      expect(sites.filter((r) => !groups.has(r.row!.ownerGroupId)).map((r) => r.row!.name)).toEqual([]);
    } finally {
      writing = false;
      await writer;
    }
  });

  test('a restore into the database a gateway is running on is refused, --force or not, and changes nothing', async () => {
    const serving = await t!.ok(EVERYTHING);
    const refused = await runRsp(['admin', 'restore', '--force', join(dir, 'online.rspbackup')], dbEnv());
    if (kind === 'postgres') {
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/^rsp: A gateway is running on this database \(\d+ connection\(s\) named "rsp gateway"[^)]*\): stop every gateway using it, then restore; nothing was restored \[CONFLICT\]$/m);
    } else {
      expect(refused.code).toBe(3);
      expect(refused.stderr).toMatch(/is open in process \d+ \(a running rsp serve\?\)/);
    }
    expect(await t!.ok(EVERYTHING)).toEqual(serving);
  });

  test('wiped, then restored: every group, site, host, environment and replica manifest is back, and the tokens work', async () => {
    await t!.close();
    t = undefined;
    await wipe(db);
    const restored = await runRsp(['admin', 'restore', join(dir, 'online.rspbackup')], { ...dbEnv(), LOG_LEVEL: 'info' });
    expect(restored).toMatchObject({ code: 0, stdout: expect.stringMatching(/Restored \d+ row\(s\) of \d+ table\(s\) and 1 artifact manifest\(s\) .*; its schema made first, \d+ migration\(s\)\)\n$/) });
    // The new database's migrations are counted in that line, not logged one by one.
    expect(restored.stdout + restored.stderr).not.toMatch(/migration applied/);
    // Restoring over data needs --force.
    const again = await runRsp(['admin', 'restore', join(dir, 'online.rspbackup')], dbEnv());
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/not empty .*--force/);
    expect((await runRsp(['admin', 'restore', '--force', join(dir, 'online.rspbackup')], dbEnv())).code).toBe(0);

    t = await startTestGateway(db, { RSP_REPLICATION_INTERVAL_MS: '0' });
    expect(t.gateway.bootstrapToken).toBeUndefined();
    expect(await t.ok(EVERYTHING, {}, adminToken)).toEqual(before);
    expect((await t.ok('query ($id: ID!) { replica(id: $id) { id manifestId } }', { id: replica.id }, w.tokens.memberA)).replica).toEqual(replica);
    expect((await ArtifactStore.inDirectory(t.gateway.config.artifactDir).verify(replica.manifestId)).ok).toBe(true);
  });

  test('a backup cut short, or of another schema, is refused and changes nothing', async () => {
    const lines = readFileSync(join(dir, 'online.rspbackup'), 'utf8').trimEnd().split('\n');
    const short = join(dir, 'short.rspbackup');
    writeFileSync(short, `${lines.slice(0, -1).join('\n')}\n`);
    const foreign = join(dir, 'foreign.rspbackup');
    writeFileSync(foreign, `${[JSON.stringify({ ...JSON.parse(lines[0]!), rspVersion: '99.0.0', migrations: [...JSON.parse(lines[0]!).migrations, 'FromTheFuture9999999999999'] }), ...lines.slice(1)].join('\n')}\n`);
    await t!.close();
    t = undefined;
    const cut = await runRsp(['admin', 'restore', '--force', short], dbEnv());
    expect(cut.code).toBe(2);
    expect(cut.stderr).toMatch(/cut short/);
    const other = await runRsp(['admin', 'restore', '--force', foreign], dbEnv());
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/made by RSP 99\.0\.0 with another schema than this RSP \S+'s, a newer one .*FromTheFuture9999999999999.*restore it with RSP 99\.0\.0 or newer/);
    t = await startTestGateway(db, { RSP_REPLICATION_INTERVAL_MS: '0' });
    expect(await t.ok(EVERYTHING, {}, adminToken)).toEqual(before);
  });

  test('a damaged, foreign, newer-format, empty or missing file is refused with its reason and changes nothing, the store\'s manifests included', async () => {
    const lines = readFileSync(join(dir, 'online.rspbackup'), 'utf8').trimEnd().split('\n');
    const write = (name: string, text: string | Buffer) => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    const groupRow = lines.findIndex((l) => l.startsWith('{"table":"group"'));
    const damagedRow = [...lines];
    damagedRow[groupRow] = damagedRow[groupRow]!.replace('"id":"', '"id":"zz');
    const brokenJson = [...lines];
    brokenJson[groupRow] = brokenJson[groupRow]!.slice(0, 40);
    const cases: Array<[string, RegExp, number]> = [
      [write('damaged-row.rspbackup', `${damagedRow.join('\n')}\n`), /rows of table group are damaged \(invalid input syntax for type uuid.*nothing was restored/, 2],
      [write('broken-json.rspbackup', `${brokenJson.join('\n')}\n`), /a line that is not JSON: it is damaged, nothing was restored/, 2],
      [write('newer-format.rspbackup', `${[JSON.stringify({ ...JSON.parse(lines[0]!), formatVersion: 2, rspVersion: '99.0.0' }), ...lines.slice(1)].join('\n')}\n`), /made by RSP 99\.0\.0 in backup format version 2; this RSP \S+ reads version 1: restore it with RSP 99\.0\.0 or newer/, 2],
      [write('foreign.tar.gz', Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 3])), /Not an RSP backup/, 2],
      [write('other.json', '{"format":"something-else"}\n'), /Not an RSP backup \(no rsp-backup header\)/, 2],
      [write('empty.rspbackup', ''), /Not an RSP backup/, 2],
      [join(dir, 'absent.rspbackup'), /cannot read the backup .*absent\.rspbackup: no such file or folder/, 2],
      [dir, /cannot read the backup .*: it is a directory/, 2],
    ];
    await t!.close();
    t = undefined;
    // The store lacks the backup's manifest: a refused restore must not leave it written either.
    rmSync(join(db.dataDir, 'artifacts', 'manifests'), { recursive: true, force: true });
    for (const [file, message, code] of cases) {
      const refused = await runRsp(['admin', 'restore', '--force', file], dbEnv());
      expect([file, refused.code, refused.stderr]).toEqual([file, code, expect.stringMatching(message)]);
      expect(refused.stderr).not.toMatch(/unexpected error|^\s+at /m);
    }
    const store = ArtifactStore.inDirectory(join(db.dataDir, 'artifacts'));
    await expect(store.verify(replica.manifestId)).rejects.toMatchObject({ category: 'NOT_FOUND' });
    t = await startTestGateway(db, { RSP_REPLICATION_INTERVAL_MS: '0' });
    expect(await t.ok(EVERYTHING, {}, adminToken)).toEqual(before);
    // The good backup puts the manifest back (the rows are replaced by the same).
    await t.close();
    t = undefined;
    expect((await runRsp(['admin', 'restore', '--force', join(dir, 'online.rspbackup')], dbEnv())).code).toBe(0);
    expect((await store.verify(replica.manifestId)).ok).toBe(true);
    t = await startTestGateway(db, { RSP_REPLICATION_INTERVAL_MS: '0' });
  });

  if (kind === 'postgres') {
    test('a PostgreSQL backup restores into an embedded (PGlite) database', async () => {
      const target = await createTestDatabase('pglite');
      try {
        expect((await runRsp(['admin', 'restore', join(dir, 'direct.rspbackup')], { RSP_DATA_DIR: target.dataDir, LOG_LEVEL: 'silent' })).code).toBe(0);
        const other = await startTestGateway(target);
        try {
          expect(await other.ok(EVERYTHING, {}, adminToken)).toEqual(before);
        } finally {
          await other.close();
        }
      } finally {
        await target.drop();
      }
    });
  }
}

/** Loses the database and the artifact store's manifests (the chunks stay: they are not in backups). */
async function wipe(db: TestDatabase): Promise<void> {
  rmSync(join(db.dataDir, 'artifacts', 'manifests'), { recursive: true, force: true });
  if (!db.databaseUrl) {
    rmSync(join(db.dataDir, 'db'), { recursive: true, force: true });
    return;
  }
  const client = new Client({ connectionString: db.databaseUrl });
  await client.connect();
  try {
    await client.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
  } finally {
    await client.end();
  }
}

describe('rsp admin backup/restore on pglite', () => backupSuite('pglite'));
describeWithEngine('postgres', 'rsp admin backup/restore on postgres', () => backupSuite('postgres'));
