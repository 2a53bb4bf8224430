import { randomUUID } from 'node:crypto';
import { createRootfsTar } from '../../drivers/fake';
import { EnvironmentLiveName1764011380000 } from '../../gateway/persistence/migrations/1764011380000-environment-live-name';
import { createTestDatabase, DATABASE_KINDS, TestDatabase } from '../helpers/databases';
import { useMigratedRunner } from '../helpers/migrated-runner';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, World } from '../helpers/scenario';

/**
 * One live environment per group and name, under concurrent creates as a script retrying (or an
 * attacker racing the check) would send them: on PostgreSQL the check before the insert let four
 * of twenty through; the database's unique index now refuses all but one.
 */
describe.each(DATABASE_KINDS)('environment names under concurrent creates (%s)', (kind) => {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;
  let image: string;
  const create = (name: string, hostId: string) => t.gql('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: w.groupA, hostId, imageId: image, name } }, w.tokens.memberA);

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    t = await startTestGateway(db);
    w = await buildWorld(t);
    image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: 'app', version: '1', technology: 'fake' } }, w.tokens.memberA)).registerImage.id;
    expect((await t.upload(image, createRootfsTar({ '/etc/os-release': 'ID=app\n' }), w.tokens.memberA)).status).toBe(200);
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test('20 creates of one name at once, on two hosts, make one environment; the others are CONFLICT naming it and leave nothing behind', async () => {
    const layersBefore = await t.gateway.dataSource.query(`SELECT count(*)::int AS n FROM layer WHERE kind = 'ZONE'`);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => create('twin', i % 2 ? w.host1 : w.host2)));
    const made = results.filter((r) => !r.errors);
    expect(made).toHaveLength(1);
    for (const r of results.filter((r) => r.errors)) expect(r.errors![0]).toMatchObject({ message: 'The group already has an environment named twin', extensions: { code: 'CONFLICT' } });
    const live = await t.gateway.dataSource.query(`SELECT id FROM environment WHERE "groupId" = $1 AND name = 'twin' AND status <> 'DESTROYED'`, [w.groupA]);
    expect(live).toEqual([{ id: made[0]!.data!.createEnvironment.environment.id }]);
    // The refused ones wrote no ZONE layer and hold no capacity.
    expect(await t.gateway.dataSource.query(`SELECT count(*)::int AS n FROM layer WHERE kind = 'ZONE'`)).toEqual([{ n: layersBefore[0].n + 1 }]);
    expect(await t.gateway.dataSource.query(`SELECT count(*)::int AS n FROM allocation WHERE status = 'ACTIVE' AND "environmentId" IS NOT NULL AND "environmentId" <> $1`, [live[0].id])).toEqual([{ n: 0 }]);
    await t.gateway.services.operations.settled(made[0]!.data!.createEnvironment.operation.id);
  }, 120_000);

  test('a destroyed environment frees its name', async () => {
    const first = await create('again', w.host1);
    expect(first.errors).toBeUndefined();
    await t.gateway.services.operations.settled(first.data!.createEnvironment.operation.id);
    expect((await create('again', w.host2)).errors?.[0]?.extensions?.code).toBe('CONFLICT');
    const destroy = await t.ok('mutation ($id: ID!) { destroyEnvironment(id: $id) { id } }', { id: first.data!.createEnvironment.environment.id }, w.tokens.memberA);
    await t.gateway.services.operations.settled(destroy.destroyEnvironment.id);
    const second = await create('again', w.host2);
    expect(second.errors).toBeUndefined();
    await t.gateway.services.operations.settled(second.data!.createEnvironment.operation.id);
  }, 120_000);
});

/** The migration renames the live duplicates an older gateway let through, oldest first kept, before the index refuses more. */
describe('migration: one live environment per group and name', () => {
  const migrated = useMigratedRunner();

  const environment = async (groupId: string, name: string, status: string, createdAt: string) => {
    const id = randomUUID();
    const layerId = randomUUID();
    await migrated.runner().query(`INSERT INTO "layer" ("id", "kind", "name", "groupId", "properties", "requirements") VALUES ($1, 'ZONE', $2, $3, '[]', '[]')`, [layerId, name, groupId]);
    await migrated.runner().query(`INSERT INTO "environment" ("id", "name", "groupId", "hostId", "driver", "technology", "imageId", "status", "layerId", "createdAt", "iface", "version") VALUES ($1, $2, $3, $4, 'fake', 'fake', $5, $6, $7, $8, '{}', 1)`, [id, name, groupId, randomUUID(), randomUUID(), status, layerId, createdAt]);
    return { id, layerId };
  };

  test('live duplicates but the oldest get their id appended (their ZONE layer too); destroyed ones and other groups are left alone; then a live duplicate is refused', async () => {
    const migration = new EnvironmentLiveName1764011380000();
    await migration.down(migrated.runner());
    const g1 = randomUUID();
    const g2 = randomUUID();
    const long = 'a'.repeat(60);
    const oldest = await environment(g1, 'web', 'RUNNING', '2026-01-01T00:00:00Z');
    const newer = await environment(g1, 'web', 'STOPPED', '2026-02-01T00:00:00Z');
    const destroyed = await environment(g1, 'web', 'DESTROYED', '2025-12-01T00:00:00Z');
    const otherGroup = await environment(g2, 'web', 'RUNNING', '2026-03-01T00:00:00Z');
    const longOld = await environment(g1, long, 'CREATED', '2026-01-01T00:00:00Z');
    const longNew = await environment(g1, long, 'CREATED', '2026-01-02T00:00:00Z');

    await migration.up(migrated.runner());

    const names = async (ids: string[]) => (await migrated.runner().query(`SELECT e.id, e.name, l.name AS layer FROM environment e JOIN layer l ON l.id = e."layerId" WHERE e.id = ANY($1::uuid[])`, [ids])) as Array<{ id: string; name: string; layer: string }>;
    const byId = new Map((await names([oldest, newer, destroyed, otherGroup, longOld, longNew].map((e) => e.id))).map((r) => [r.id, r]));
    expect(byId.get(oldest.id)).toMatchObject({ name: 'web', layer: 'web' });
    expect(byId.get(newer.id)).toMatchObject({ name: `web-${newer.id.slice(0, 8)}`, layer: `web-${newer.id.slice(0, 8)}` });
    expect(byId.get(destroyed.id)).toMatchObject({ name: 'web' });
    expect(byId.get(otherGroup.id)).toMatchObject({ name: 'web' });
    expect(byId.get(longOld.id)).toMatchObject({ name: long });
    expect(byId.get(longNew.id)!.name).toBe(`${long.slice(0, 54)}-${longNew.id.slice(0, 8)}`);
    expect(byId.get(longNew.id)!.name).toHaveLength(63);

    await expect(environment(g1, 'web', 'CREATING', '2026-04-01T00:00:00Z')).rejects.toMatchObject({ driverError: { code: '23505', constraint: 'UQ_environment_live_name' } });
    await expect(environment(g1, 'web', 'DESTROYED', '2026-04-01T00:00:00Z')).resolves.toBeDefined();
  });
});
