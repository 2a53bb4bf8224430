import { createRootfsTar } from '../../drivers/fake';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { startTestGateway } from '../helpers/gateway';
import { until } from '../helpers/until';

/**
 * An engine that lost an image the host agent imported (pruned, or the fake driver, which keeps
 * nothing across a gateway restart): the agent's record still names it, so the next create used to
 * fail NOT_FOUND "Image … was not found" forever (found by bench/soak after a kill -9). The agent
 * now imports it again and the create succeeds.
 */
describe('an image the engine lost is imported again at the next create', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('pglite');
  });
  afterAll(() => db?.drop());

  test('create, restart (the fake engine forgets its images), create again: both SUCCEEDED', async () => {
    const first = await startTestGateway(db);
    const token = first.adminToken;
    const group = (await first.ok('mutation { createGroup(input: { slug: "lost", name: "Lost" }) { id } }')).createGroup.id as string;
    const site = (await first.ok('mutation ($g: ID!) { createSite(input: { name: "lost", ownerGroupId: $g }) { id } }', { g: group })).createSite.id as string;
    const host = (await first.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: site, ownerGroupId: group, hostname: 'lost', drivers: ['fake'] } })).createHost.id as string;
    const image = (await first.ok('mutation ($g: ID!) { registerImage(input: { vendorGroupId: $g, name: "lost", version: "1", technology: "fake" }) { id } }', { g: group })).registerImage.id as string;
    expect((await first.upload(image, createRootfsTar({ '/etc/hostname': 'lost' }))).status).toBe(200);
    const create = async (t: typeof first, name: string) => {
      // A create needs the host UP: its agent's heartbeat puts it there after each start.
      await until('the host is UP', async () => (await t.ok('query ($id: ID!) { host(id: $id) { state } }', { id: host }, token)).host.state === 'UP', 60_000, 200);
      const made = (await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { operation { id } } }', { i: { groupId: group, hostId: host, imageId: image, name } }, token)).createEnvironment;
      await t.gateway.services.operations.settled(made.operation.id);
      return (await t.ok('query ($id: ID!) { operation(id: $id) { state error { code message } } }', { id: made.operation.id }, token)).operation;
    };
    expect(await create(first, 'before')).toEqual({ state: 'SUCCEEDED', error: null });
    await first.close();

    const second = await startTestGateway(db);
    try {
      expect(await create(second, 'after')).toEqual({ state: 'SUCCEEDED', error: null });
    } finally {
      await second.close();
    }
  }, 300_000);
});
