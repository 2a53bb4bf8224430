import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { runRsp, spawnRsp } from '../helpers/cli';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { describeWithEngine } from '../helpers/engines';
import { collect, startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, World } from '../helpers/scenario';
import { until } from '../helpers/until';
import { buildBusyboxRootfs } from '../fixtures/busybox-rootfs';

const LOGS = 'query ($id: ID!, $tail: Int, $since: DateTimeISO, $cursor: String) { environmentLogs(id: $id, tail: $tail, since: $since, cursor: $cursor) { environmentId text cursor } }';
const FOLLOW = 'subscription ($id: ID!, $tail: Int) { environmentLog(environmentId: $id, tail: $tail) { text cursor } }';

/**
 * Environment logs through the gateway on a real Docker engine (issue 24): read with tail, since
 * and a cursor, followed live by the subscription and `rsp logs -f`, seen only by whoever may see
 * the environment, and the follow ends once it is destroyed.
 */
describeWithEngine('docker', 'environment logs through the gateway (docker)', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;
  let id: string;
  const boot = `boot-${randomBytes(4).toString('hex')}`;

  async function follow(operationId: string) {
    const op = await t.gateway.services.operations.settled(operationId);
    expect({ state: op.state, error: op.errorMessage }).toEqual({ state: 'SUCCEEDED', error: null });
  }
  /** Writes a line to the environment's main process's standard output (what its log keeps). */
  async function say(line: string) {
    const r = (await t.ok('mutation ($id: ID!, $c: [String!]!) { execEnvironment(id: $id, command: $c) { exitCode stderr } }', { id, c: ['sh', '-c', `echo ${line} > /proc/1/fd/1`] })).execEnvironment;
    expect(r).toEqual({ exitCode: 0, stderr: '' });
  }

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db, { RSP_DRIVERS: 'docker' });
    w = await buildWorld(t);
    const image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: 'busybox', version: '1', technology: 'docker' } })).registerImage.id;
    expect((await t.upload(image, await readFile(await buildBusyboxRootfs()))).status).toBe(200);
    const input = { groupId: w.groupA, hostId: w.host1, imageId: image, name: 'logger', network: 'none', command: ['sh', '-c', `echo ${boot}; exec sleep 3600`] };
    const { createEnvironment } = await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: input });
    id = createEnvironment.environment.id;
    await follow(createEnvironment.operation.id);
    await follow((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id })).startEnvironment.id);
  }, 180_000);

  afterAll(async () => {
    if (id) await t.gateway.services.operations.settled((await t.gql('mutation ($id: ID!) { destroyEnvironment(id: $id) { id } }', { id })).data?.destroyEnvironment?.id ?? '').catch(() => undefined);
    await t?.close();
    await db?.drop();
  }, 120_000);

  test('environmentLogs: the main process output, by tail, since and cursor', async () => {
    await until('the boot line in the log', async () => (await t.ok(LOGS, { id, tail: 10 })).environmentLogs.text.includes(boot), 30_000, 250);
    const all = (await t.ok(LOGS, { id })).environmentLogs;
    expect(all).toMatchObject({ environmentId: id, text: `${boot}\n` });
    expect((await t.ok(LOGS, { id, since: new Date(Date.now() + 3_600_000).toISOString() })).environmentLogs.text).toBe('');
    expect((await t.ok(LOGS, { id, since: new Date(Date.now() - 3_600_000).toISOString() })).environmentLogs.text).toBe(`${boot}\n`);
    const marker = `after-${randomBytes(4).toString('hex')}`;
    await say(marker);
    await until('the marker after the cursor', async () => (await t.ok(LOGS, { id, cursor: all.cursor })).environmentLogs.text === `${marker}\n`, 30_000, 250);
    expect((await t.ok(LOGS, { id, tail: 1 })).environmentLogs.text).toBe(`${marker}\n`);
    const bad = await t.gql(LOGS, { id, cursor: 'nonsense' });
    expect(bad.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect((await t.gql(LOGS, { id, tail: -1 })).errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  }, 60_000);

  test('visible to its group, NOT_FOUND to another group (query and subscription)', async () => {
    expect((await t.ok(LOGS, { id, tail: 1 }, w.tokens.viewerA)).environmentLogs.environmentId).toBe(id);
    expect((await t.gql(LOGS, { id }, w.tokens.memberB)).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const other = collect(t.ws({ authorization: `Bearer ${w.tokens.memberB}` }), FOLLOW, { id }, () => true, 15_000);
    await expect(other.done).rejects.toThrow(/NOT_FOUND/);
  }, 30_000);

  test('environmentLog follows: the last lines first, then each new line once', async () => {
    const marker = `live-${randomBytes(4).toString('hex')}`;
    const sub = collect<{ environmentLog: { text: string } }>(t.ws({ authorization: `Bearer ${w.tokens.viewerA}` }), FOLLOW, { id, tail: 1 }, (e) => e.environmentLog.text.includes(marker), 30_000);
    await until('the first part (the last line)', async () => sub.events.length > 0, 15_000, 100);
    expect(sub.events[0]!.environmentLog.text).not.toContain(marker);
    await say(marker);
    const events = await sub.done;
    const text = events.map((e) => e.environmentLog.text).join('');
    expect(text.split(marker).length - 1).toBe(1);
  }, 60_000);

  test('rsp logs prints the log; rsp env logs -f follows it until interrupted', async () => {
    const env = { RSP_URL: t.gateway.url, RSP_TOKEN: w.tokens.memberA };
    const printed = await runRsp(['env', 'logs', id, '--tail', '50'], env);
    expect(printed).toMatchObject({ code: 0 });
    expect(printed.stdout).toContain(boot);
    const following = spawnRsp(['logs', id, '-f', '--tail', '0'], env);
    try {
      const marker = `cli-${randomBytes(4).toString('hex')}`;
      // The follow is live once its first (empty) read is done: say the marker until it shows.
      await until('the marker in rsp logs -f', async () => {
        if (following.output().stdout.includes(marker)) return true;
        await say(marker);
        return false;
      }, 30_000, 1000);
    } finally {
      following.child.kill('SIGINT');
    }
    expect((await following.exited).code).toBe(0);
    expect((await runRsp(['logs', id, '--since', 'yesterday'], env)).code).toBe(2);
  }, 60_000);

  test('the follow ends with NOT_FOUND once the environment is destroyed', async () => {
    const sub = collect(t.ws({ authorization: `Bearer ${w.tokens.memberA}` }), FOLLOW, { id, tail: 0 }, () => false, 60_000);
    await sub.ready;
    await follow((await t.ok('mutation ($id: ID!) { destroyEnvironment(id: $id) { id } }', { id })).destroyEnvironment.id);
    await expect(sub.done).rejects.toThrow(/NOT_FOUND/);
    expect((await t.gql(LOGS, { id })).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    id = '';
  }, 90_000);
});
