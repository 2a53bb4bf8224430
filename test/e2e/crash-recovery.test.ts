import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { createRootfsTar } from '../../drivers/fake';
import { ROOT } from '../helpers/cli';
import { capacityChecks, lifecycleChecks, pgRows, SqlRows } from '../helpers/consistency';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { describeWithEngine } from '../helpers/engines';
import { serveGateway, ServedGateway as Served } from '../helpers/served-gateway';
import { until } from '../helpers/until';

/**
 * Soak: a gateway process killed with -9 while every kind of operation is in flight inside its
 * drivers (create with its image import, start, stop, copy, migrate, replicate, restore, destroy),
 * then while eight creates run at once. At each restart every one of those operations has ended —
 * FAILED "Interrupted: …" (UNAVAILABLE), or SUCCEEDED — none stays RUNNING or PENDING, no
 * environment stays in a transient status, and cancelOperation on one is a CONFLICT naming the
 * state it really ended in. PostgreSQL, as a site runs it; the drivers are the fake one slowed by
 * test/fixtures/plugins/slow-driver.js.
 */
describeWithEngine('postgres', 'crash recovery: kill -9 during operations, then restart', () => {
  let db: TestDatabase;
  let delayFile: string;
  let adminToken = '';
  let current: Served | undefined;
  let client: Client;
  let sql: SqlRows;

  /** Starts `rsp serve` on the test database; the first start's banner gives the admin token. */
  const serve = async (): Promise<Served> => {
    current = await serveGateway({
      dataDir: db.dataDir,
      token: adminToken || undefined,
      env: {
        DATABASE_URL: db.databaseUrl,
        LOG_FORMAT: 'json',
        LOG_LEVEL: 'warn',
        RSP_DRIVERS: 'fake',
        RSP_AGENTS: 'a,b',
        RSP_PLUGINS: join(ROOT, 'test', 'fixtures', 'plugins', 'slow-driver.js'),
        RSP_PLUGIN_OPTIONS: JSON.stringify({ 'slow-driver': { delayFile } }),
        RSP_REPLICATION_INTERVAL_MS: '0',
      },
    });
    adminToken = current.token;
    return current;
  };

  const operation = async (s: Served, id: string) => (await s.ok('query ($id: ID!) { operation(id: $id) { id kind state error { code message } } }', { id })).operation as { id: string; kind: string; state: string; error: { code: string; message: string } | null };
  const settled = (s: Served, id: string) => until(`operation ${id} ended`, async () => {
    const op = await operation(s, id);
    return ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(op.state) && op;
  }, 60_000, 200);
  const allRunning = (s: Served, ids: string[]) => until('every operation RUNNING in its driver', async () => (await Promise.all(ids.map((id) => operation(s, id)))).every((op) => op.state === 'RUNNING'), 60_000, 200);

  /** After a restart: every operation ended (FAILED interrupted, or SUCCEEDED), none RUNNING or PENDING anywhere, no environment transient, capacity accounted, and a cancel tells the truth. */
  const expectRecovered = async (s: Served, ids: string[]) => {
    for (const id of ids) {
      const op = await operation(s, id);
      expect({ kind: op.kind, ended: ['SUCCEEDED', 'FAILED'].includes(op.state) }).toEqual({ kind: op.kind, ended: true });
      if (op.state === 'FAILED') expect(op).toMatchObject({ kind: op.kind, error: { code: 'UNAVAILABLE', message: expect.stringMatching(/^Interrupted: /) } });
    }
    const counts = await until('no environment left in a transient status', async () => {
      const all = await lifecycleChecks(sql);
      return all.every((c) => c.check !== 'environments in a transient status' || c.count === 0) && all;
    }, 60_000, 500);
    const all = [...counts, ...(await capacityChecks(sql))];
    expect(all).toEqual(all.map((c) => ({ check: c.check, count: 0 })));
    expect((await s.ok('{ environments(first: 500, includeDestroyed: true) { totalCount } }')).environments.totalCount).toBeGreaterThan(0);
    const ended = await operation(s, ids[0]!);
    const cancel = await s.gql('mutation ($id: ID!) { cancelOperation(id: $id) { id state } }', { id: ended.id });
    expect(cancel.errors?.[0]).toMatchObject({ extensions: { code: 'CONFLICT' }, message: `Operation ${ended.id} already ended as ${ended.state}` });
  };

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    client = new Client({ connectionString: db.databaseUrl });
    await client.connect();
    sql = pgRows(client);
    delayFile = join(db.dataDir, 'driver-delay-ms');
    writeFileSync(delayFile, '0');
  });
  afterAll(async () => {
    await current?.kill9();
    await client?.end();
    await db?.drop();
  });

  let s: Served;
  let create: (name: string, hostId?: string) => Promise<{ environment: { id: string }; operation: { id: string } }>;
  let hostA: string;
  let hostB: string;
  let toStart: string, toStop: string, toCopy: string, toMigrate: string, toDestroy: string, policy: string, replica: string;

  test('first run: a world with environments in every state the operations start from', async () => {
    s = await serve();
    const group = (await s.ok('mutation { createGroup(input: { slug: "ops", name: "Ops" }) { id } }')).createGroup.id as string;
    const site = (await s.ok('mutation ($g: ID!) { createSite(input: { name: "crash", ownerGroupId: $g }) { id } }', { g: group })).createSite.id as string;
    const host = async (hostname: string, agent: string) => (await s.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: site, ownerGroupId: group, hostname, drivers: ['slow'], agent } })).createHost.id as string;
    hostA = await host('host-a', 'a');
    hostB = await host('host-b', 'b');
    const image = (await s.ok('mutation ($g: ID!) { registerImage(input: { vendorGroupId: $g, name: "slow", version: "1", technology: "slow" }) { id } }', { g: group })).registerImage.id as string;
    const upload = await fetch(`${s.url}/images/${image}/content`, { method: 'PUT', headers: { 'content-type': 'application/x-tar', authorization: `Bearer ${adminToken}` }, body: new Uint8Array(createRootfsTar({ '/etc/hostname': 'crash', '/data/kept.txt': 'kept\n' })) });
    expect(upload.status).toBe(200);
    create = async (name: string, hostId = hostA) => (await s.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: group, hostId, imageId: image, name } })).createEnvironment as { environment: { id: string }; operation: { id: string } };
    const made = async (name: string, running: boolean) => {
      const c = await create(name);
      expect((await settled(s, c.operation.id)).state).toBe('SUCCEEDED');
      if (running) expect((await settled(s, (await s.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: c.environment.id })).startEnvironment.id)).state).toBe('SUCCEEDED');
      return c.environment.id;
    };
    toStart = await made('to-start', false);
    toStop = await made('to-stop', true);
    toCopy = await made('to-copy', false);
    toMigrate = await made('to-migrate', true);
    toDestroy = await made('to-destroy', false);
    const replicated = await made('replicated', true);
    policy = (await s.ok('mutation ($i: CreateReplicationPolicyInput!) { createReplicationPolicy(input: $i) { id } }', { i: { environmentId: replicated, targetKind: 'STORE', schedule: 'every 1 hour', name: 'crash' } })).createReplicationPolicy.id as string;
    const firstRun = await settled(s, (await s.ok('mutation ($id: ID!) { replicateNow(policyId: $id) { id } }', { id: policy })).replicateNow.id);
    expect(firstRun.state).toBe('SUCCEEDED');
    replica = (await s.ok('query ($id: ID!) { operation(id: $id) { result } }', { id: firstRun.id })).operation.result.replicaId as string;

  }, 600_000);

  test('kill -9 with every kind of operation in flight: at the restart each ended, nothing transient, cancel truthful', async () => {
    writeFileSync(delayFile, String(3_600_000));
    const inFlight = [
      (await create('new')).operation.id,
      (await s.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: toStart })).startEnvironment.id,
      (await s.ok('mutation ($id: ID!) { stopEnvironment(id: $id) { id } }', { id: toStop })).stopEnvironment.id,
      (await s.ok('mutation ($id: ID!, $h: ID) { copyEnvironment(id: $id, hostId: $h, name: "copied") { operation { id } } }', { id: toCopy, h: hostB })).copyEnvironment.operation.id,
      (await s.ok('mutation ($id: ID!, $h: ID) { migrateEnvironment(id: $id, hostId: $h) { id } }', { id: toMigrate, h: hostB })).migrateEnvironment.id,
      (await s.ok('mutation ($id: ID!) { replicateNow(policyId: $id) { id } }', { id: policy })).replicateNow.id,
      (await s.ok('mutation ($r: ID!, $h: ID) { restoreReplica(replicaId: $r, hostId: $h, name: "restored") { id } }', { r: replica, h: hostB })).restoreReplica.id,
      (await s.ok('mutation ($id: ID!) { destroyEnvironment(id: $id) { id } }', { id: toDestroy })).destroyEnvironment.id,
    ];
    await allRunning(s, inFlight);
    await s.kill9();

    writeFileSync(delayFile, '0');
    s = await serve();
    await expectRecovered(s, inFlight);

  }, 600_000);

  test('kill -9 during eight concurrent creates (held importing the image): all FAILED interrupted, their environments FAILED', async () => {
    writeFileSync(delayFile, String(3_600_000));
    const creates = await Promise.all(Array.from({ length: 8 }, (_, i) => create(`burst-${i}`, i % 2 ? hostB : hostA)));
    await allRunning(s, creates.map((c) => c.operation.id));
    await s.kill9();

    writeFileSync(delayFile, '0');
    s = await serve();
    await expectRecovered(s, creates.map((c) => c.operation.id));
    const burst = (await s.ok('{ environments(first: 500) { nodes { name status } } }')).environments.nodes.filter((e: { name: string }) => e.name.startsWith('burst-'));
    expect(burst.map((e: { status: string }) => e.status)).toEqual(Array(8).fill('FAILED'));

    s.server.child.kill('SIGTERM');
    expect((await s.server.exited).code).toBe(0);
  }, 600_000);
});
