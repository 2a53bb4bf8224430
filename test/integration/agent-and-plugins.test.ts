import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRootfsTar } from '../../drivers/fake';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';
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
  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    audit = join(db.dataDir, 'audit.jsonl');
    t = await startTestGateway(db, {
      RSP_PLUGINS: [join(DIST, 'sandbox-driver.js'), join(DIST, 'audit-log.js')].join(','),
      RSP_PLUGIN_OPTIONS: JSON.stringify({ 'rsp-example-audit-log': { file: audit } }),
    });
  });
  afterAll(async () => {
    await t.close();
    await db.drop();
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
