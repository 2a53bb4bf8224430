import { createRootfsTar } from '../../drivers/fake';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld } from '../helpers/scenario';
import { until } from '../helpers/until';

/**
 * Orphans (issue 19): what RSP made on an engine that the database does not know (or knows as
 * DESTROYED) is found when the agent connects, shown on its host to its owners' admins and
 * removed on request through the agent; an environment the database knows is never reported.
 */
describe('orphans: found on connection, shown on the host, removed on request', () => {
  let db: TestDatabase;
  let t: TestGateway;

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db);
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test('an object behind RSP\'s back is reported on connection and removed; a known environment stays', async () => {
    const w = await buildWorld(t);
    const image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: 'fake', version: '1', technology: 'fake' } })).registerImage.id;
    expect((await t.upload(image, createRootfsTar({ '/etc/hostname': 'x' }))).status).toBe(200);
    const make = async (name: string) => {
      const created = (await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: w.groupA, hostId: w.host1, imageId: image, name } })).createEnvironment;
      expect((await t.gateway.services.operations.settled(created.operation.id)).state).toBe('SUCCEEDED');
      return created.environment.id as string;
    };
    const kept = await make('kept');
    const lost = await make('lost');
    const ghost = await make('ghost');
    const orphans = async (token?: string) => (await t.ok('query ($id: ID!) { host(id: $id) { orphans { technology driver name foundAt } } }', { id: w.host1 }, token)).host.orphans as Array<{ technology: string; driver: string; name: string; foundAt: string }>;
    expect(await orphans()).toEqual([]);

    // The database forgets `lost` (as a destroy whose engine step never happened would) while the engine keeps it.
    await t.gateway.dataSource.query(`UPDATE environment SET status = 'DESTROYED', version = version + 1 WHERE id = $1`, [lost]);
    // `ghost` is on the engine only: the database has no row of it at all.
    await t.gateway.dataSource.query('DELETE FROM environment WHERE id = $1', [ghost]);
    t.gateway.agents.disconnect('local');
    t.gateway.agents.reconnect('local');
    const found = await until('the orphans to be reported', async () => { const o = await orphans(); return o.length ? o : undefined; }, 15_000);
    const byName = <T extends { name: string }>(list: T[]) => [...list].sort((a, b) => a.name.localeCompare(b.name));
    expect(byName(found)).toEqual(byName([lost, ghost].map((name) => ({ technology: 'fake', driver: 'fake', name, foundAt: expect.any(String) }))));
    expect(await orphans(w.tokens.adminA)).toEqual(found);
    expect((await t.gql('query ($id: ID!) { host(id: $id) { orphans { name } } }', { id: w.host1 }, w.tokens.memberA)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await t.gql('mutation ($id: ID!) { removeOrphans(hostId: $id) { removed { name } } }', { id: w.host1 }, w.tokens.memberB)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');

    const removed = (await t.ok('mutation ($id: ID!) { removeOrphans(hostId: $id) { removed { technology name } failed { orphan { name } reason } } }', { id: w.host1 }, w.tokens.adminA)).removeOrphans;
    expect(removed.failed).toEqual([]);
    expect(byName(removed.removed)).toEqual(byName([lost, ghost].map((name) => ({ technology: 'fake', name }))));
    const onEngine = (await t.gateway.agents.local!.listEnvironments({ driver: 'fake' })).map((i) => i.id);
    expect(onEngine).toContain(kept);
    expect(onEngine).not.toContain(lost);
    expect(onEngine).not.toContain(ghost);
    expect(await orphans()).toEqual([]);
    expect((await t.ok('query ($id: ID!) { environment(id: $id) { status } }', { id: kept })).environment.status).toBe('CREATED');
  });
});
