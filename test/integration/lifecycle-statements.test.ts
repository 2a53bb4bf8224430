import { createRootfsTar } from '../../drivers/fake';
import { StatementCounter, type StatementCount } from '../../gateway/persistence/statement-counter';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';

/**
 * Most SQL statements one environment's create → start → stop → destroy may cost (transaction
 * control included), through GraphQL as a client drives it, operations followed to their end:
 * 20 when last measured (74 before reads were folded; 39 before a destroy forgot its snapshot
 * records in one statement; 38 before a step's status claim was written with its operation's
 * row, and its end with the operation's end; 33-34 before the implicit claim of an environment
 * without limits stopped reading its host's properties and resources; 31 before the ZONE layer
 * and the environment were inserted in one statement, the claim read its host with the group's
 * share and usage policies in one, and the destroy's end, releasing what the environment holds,
 * was written with its operation's end in one; 23 before the database's unique index kept environment
 * names instead of a check before the insert; 22 before a create's operation was recorded in the
 * transaction that records the environment; 21-22 before a create read its host and image in one
 * statement and recorded its operation in the statement inserting the environment), with room
 * for a progress write of a slow step and a token re-read. `RSP_PRINT_STATEMENTS=1` prints them.
 */
const MOST_STATEMENTS = 22;

/** The count, or the statements run most often when it is over the bound (what to look at). */
function withinBound(count: StatementCount): string {
  if (count.total <= MOST_STATEMENTS) return 'within';
  return `${count.total} statements; most run:\n${count.byText.slice(0, 15).map((s) => `${s.count}× ${s.text}`).join('\n')}`;
}

/**
 * The round trips of the environment lifecycle (the Docker lifecycle bench's gateway overhead):
 * each step reads what it needs once and writes its status, event and operation together, so
 * one lifecycle stays under a fixed number of statements. A count, not a time.
 */
describe('environment lifecycle: statements per environment', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let group: string;
  let host: string;
  let image: string;

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    // Nothing else writes meanwhile: no metrics sampling, heartbeats far apart (the count is the lifecycle's alone).
    t = await startTestGateway(db, { RSP_METRICS_INTERVAL_MS: '0', RSP_HEARTBEAT_MS: '600000', RSP_HOST_DOWN_AFTER_MS: '1200000' });
    group = (await t.ok('mutation { createGroup(input: { slug: "count", name: "Count" }) { id } }')).createGroup.id;
    const site = (await t.ok('mutation ($g: ID!) { createSite(input: { name: "count", ownerGroupId: $g }) { id } }', { g: group })).createSite.id;
    host = (await t.ok('mutation ($s: ID!, $g: ID!) { createHost(input: { siteId: $s, ownerGroupId: $g, hostname: "zaphod" }) { id } }', { s: site, g: group })).createHost.id;
    image = (await t.ok('mutation ($g: ID!) { registerImage(input: { vendorGroupId: $g, name: "fake", version: "1", technology: "fake" }) { id } }', { g: group })).registerImage.id;
    expect((await t.upload(image, createRootfsTar({ '/etc/hostname': 'count' }))).status).toBe(200);
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  const settled = async (operationId: string) => (await t.gateway.services.operations.settled(operationId)).state;
  const cycle = async (name: string) => {
    const created = (await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: group, hostId: host, imageId: image, name, network: 'none', config: { A: '1' } } })).createEnvironment;
    expect(await settled(created.operation.id)).toBe('SUCCEEDED');
    const id = created.environment.id as string;
    for (const step of ['startEnvironment', 'stopEnvironment', 'destroyEnvironment']) {
      expect(await settled((await t.ok(`mutation ($id: ID!) { ${step}(id: $id) { id } }`, { id }))[step].id)).toBe('SUCCEEDED');
    }
    return id;
  };

  test('create → start → stop → destroy on the fake driver stays within its statements, and ends DESTROYED', async () => {
    await cycle('warm'); // first use: the image's artifact is stored, caches fill
    const counter = new StatementCounter(t.gateway.dataSource).start();
    const id = await cycle('counted');
    const count = counter.stop();
    if (process.env.RSP_PRINT_STATEMENTS) process.stdout.write(`${count.total} statements\n${count.byText.map((s) => `${s.count}× ${s.text}`).join('\n')}\n`);
    expect(withinBound(count)).toBe('within');
    expect((await t.ok('query ($id: ID!) { environment(id: $id) { status } }', { id })).environment.status).toBe('DESTROYED');
  });
});
