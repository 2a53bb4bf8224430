import pino from 'pino';
import { createRootfsTar } from '../../drivers/fake';
import { UnavailableError } from '../../gateway/errors';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';

/**
 * What an operator reads when an operation fails: its log line names the operation, its kind,
 * the environment, the group, the host and the driver, with the error's code and message.
 */
describe('the log lines of a failed operation', () => {
  let db: TestDatabase;
  let t: TestGateway;
  const lines: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    t = await startTestGateway(db, { RSP_AGENTS: 'a', RSP_REPLICATION_INTERVAL_MS: '0' }, { logger });
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test('an environment step the agent fails: operation, kind, target, group, host, driver and the error', async () => {
    const group = (await t.ok('mutation { createGroup(input: { slug: "ops", name: "Ops" }) { id } }')).createGroup.id as string;
    const site = (await t.ok('mutation ($g: ID!) { createSite(input: { name: "logs", ownerGroupId: $g }) { id } }', { g: group })).createSite.id as string;
    const host = (await t.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: site, ownerGroupId: group, hostname: 'host-a', drivers: ['fake'], agent: 'a' } })).createHost.id as string;
    const image = (await t.ok('mutation ($g: ID!) { registerImage(input: { vendorGroupId: $g, name: "fake", version: "1", technology: "fake" }) { id } }', { g: group })).registerImage.id as string;
    expect((await t.upload(image, createRootfsTar({ '/etc/hostname': 'web' }))).status).toBe(200);
    const created = (await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: group, hostId: host, imageId: image, name: 'web' } })).createEnvironment;
    expect((await t.gateway.services.operations.settled(created.operation.id)).state).toBe('SUCCEEDED');

    const agent = t.gateway.agents.get('a')!;
    agent.startEnvironment = () => Promise.reject(new UnavailableError('fake: start failed: the engine is unavailable (held for the test)', { driver: 'fake' }));
    const started = (await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: created.environment.id })).startEnvironment.id as string;
    expect((await t.gateway.services.operations.settled(started)).state).toBe('FAILED');

    const failed = lines.find((l) => l.operation === started && l.msg === 'operation failed');
    expect(failed).toMatchObject({ level: 40, kind: 'environment.start', target: created.environment.id, group, host: 'host-a', driver: 'fake', code: 'UNAVAILABLE', err: expect.objectContaining({ message: expect.stringContaining('the engine is unavailable') }) });
    // Its other lines carry the same context.
    const succeeded = lines.find((l) => l.operation === created.operation.id && l.msg === 'operation succeeded');
    expect(succeeded).toMatchObject({ kind: 'environment.create', group, host: 'host-a', driver: 'fake' });
  });
});
