import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRootfsTar } from '../../drivers/fake';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { installExamplePlugin, InstalledPlugin } from '../helpers/plugin-package';
import { buildWorld, World } from '../helpers/scenario';

const DIST = join(__dirname, '..', '..', 'dist', 'plugins', 'examples');

/** Registers and uploads an image of `technology` for group A; returns its id. */
async function fakeImage(t: TestGateway, w: World, technology: string): Promise<string> {
  const id = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: `img-${technology}`, version: '1', technology } })).registerImage.id;
  expect((await t.upload(id, createRootfsTar({ '/etc/hostname': 'x' }))).status).toBe(200);
  return id;
}

/** Creates and starts an environment; returns its id. */
async function running(t: TestGateway, w: World, imageId: string, name: string): Promise<string> {
  const { createEnvironment } = await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: w.groupA, hostId: w.host1, imageId, name } });
  expect((await t.gateway.services.operations.settled(createEnvironment.operation.id)).state).toBe('SUCCEEDED');
  const started = await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: createEnvironment.environment.id });
  expect((await t.gateway.services.operations.settled(started.startEnvironment.id)).state).toBe('SUCCEEDED');
  return createEnvironment.environment.id;
}

describe('reconciliation at start', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('pglite');
  });
  afterAll(() => db.drop());

  test('an environment the engine lost is marked as drift, not a crash', async () => {
    const first = await startTestGateway(db);
    const w = await buildWorld(first);
    const id = await running(first, w, await fakeImage(first, w, 'fake'), 'lost');
    await first.close();

    // The fake engine lives in memory: a new gateway process finds it empty.
    const second = await startTestGateway(db);
    try {
      const { environment } = await second.ok('query ($id: ID!) { environment(id: $id) { status drift } }', { id }, first.adminToken);
      expect(environment).toEqual({ status: 'RUNNING', drift: 'missing on the engine' });
      const stats = await second.gql('query ($id: ID!) { environmentStats(id: $id) { cpuSeconds } }', { id }, first.adminToken);
      expect(stats.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
      // Destroying it still works and clears the record.
      const op = await second.ok('mutation ($id: ID!) { destroyEnvironment(id: $id) { id } }', { id }, first.adminToken);
      expect((await second.gateway.services.operations.settled(op.destroyEnvironment.id)).state).toBe('SUCCEEDED');
    } finally {
      await second.close();
    }
  });
});

describe('plugins from the configuration', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let audit: string;
  let sandbox: InstalledPlugin;
  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    audit = join(db.dataDir, 'audit.jsonl');
    sandbox = await installExamplePlugin();
    t = await startTestGateway(db, {
      RSP_PLUGINS: [sandbox.packageDir, join(DIST, 'audit-log.js')].join(','),
      RSP_PLUGIN_OPTIONS: JSON.stringify({ 'rsp-example-audit-log': { file: audit } }),
    });
  });
  afterAll(async () => {
    await t.close();
    await db.drop();
    await sandbox.cleanup();
  });

  test('a driver plugin runs environments, and a gateway plugin sees every mutation', async () => {
    const { drivers } = await t.ok('{ drivers { name technology available } }');
    expect(drivers).toEqual([
      { name: 'fake', technology: 'fake', available: true },
      { name: 'sandbox', technology: 'sandbox', available: true },
    ]);
    const w = await buildWorld(t);
    const id = await running(t, w, await fakeImage(t, w, 'sandbox'), 'boxed');
    expect((await t.ok('query ($id: ID!) { environment(id: $id) { driver technology status } }', { id })).environment).toEqual({ driver: 'sandbox', technology: 'sandbox', status: 'RUNNING' });
    const lines = readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.length).toBeGreaterThan(5);
    expect(lines.every((l) => l.ok === true && typeof l.durationMs === 'number')).toBe(true);
    const bad = await t.gql('mutation { createGroup(input: { slug: "BAD", name: "x" }) { id } }');
    expect(bad.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const last = JSON.parse(readFileSync(audit, 'utf8').trim().split('\n').pop()!);
    expect(last).toMatchObject({ ok: false, errorCodes: ['BAD_USER_INPUT'] });
  });

  test('a plugin with an incompatible API version stops the gateway with a clear message', async () => {
    const other = await createTestDatabase('pglite');
    try {
      await expect(startTestGateway(other, { RSP_PLUGINS: join(__dirname, '..', 'fixtures', 'plugins', 'old-api.js') })).rejects.toThrow(/plugin API version/);
    } finally {
      await other.drop();
    }
  });
});

describe('a driver plugin installed as a package, with its own copy of the SDK', () => {
  const dbs: TestDatabase[] = [];
  let sandbox: InstalledPlugin;
  let env: Record<string, string>;
  const database = async () => {
    const db = await createTestDatabase('pglite');
    dbs.push(db);
    return db;
  };
  beforeAll(async () => {
    sandbox = await installExamplePlugin();
    env = { RSP_PLUGINS: sandbox.packageDir, RSP_AGENTS: 'b' };
  });
  afterAll(async () => {
    for (const db of dbs) await db.drop();
    await sandbox.cleanup();
  });

  test('its driver is in every agent the gateway runs, RSP_AGENTS ones included', async () => {
    const t = await startTestGateway(await database(), env);
    try {
      const w = await buildWorld(t);
      const hostB = (await t.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: w.site, ownerGroupId: w.groupA, hostname: 'agent-b', drivers: ['fake', 'sandbox'], agent: 'b' } })).createHost.id;
      const expected = [
        { name: 'fake', technology: 'fake', available: true },
        { name: 'sandbox', technology: 'sandbox', available: true },
      ];
      expect((await t.ok('{ drivers { name technology available } }')).drivers).toEqual(expected);
      expect((await t.ok('query ($h: ID!) { drivers(hostId: $h) { name technology available } }', { h: hostB })).drivers).toEqual(expected);
    } finally {
      await t.close();
    }
  });

  test('its errors, raised by its own copy of the error classes, reach the caller with their code', async () => {
    const db = await database();
    const first = await startTestGateway(db, env);
    let id: string;
    try {
      const w = await buildWorld(first);
      id = await running(first, w, await fakeImage(first, w, 'sandbox'), 'forgotten');
    } finally {
      await first.close();
    }
    // The sandbox engine lives in memory: the next gateway's sandbox driver has never heard of the
    // environment, and answers with the NOT_FOUND of the plugin's own SDK, not the gateway's.
    const second = await startTestGateway(db, env);
    try {
      const stats = await second.gql('query ($id: ID!) { environmentStats(id: $id) { cpuSeconds } }', { id }, first.adminToken);
      expect(stats.errors?.[0]).toMatchObject({ message: `Environment ${id} was not found`, extensions: { code: 'NOT_FOUND', details: { driver: 'sandbox' } } });
    } finally {
      await second.close();
    }
  });
});
