import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { runRsp, spawnRsp, RspProcess } from '../helpers/cli';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { until } from '../helpers/until';

/** A port free now: the gateway is started on it twice. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * The gateway goes away (stopped, as for an upgrade) and comes back on its address while an
 * `rsp agent` serves a host: the agent dials again with backoff until it answers, and its host is
 * UP again — never marked DOWN by the restarted gateway for the silence its own absence made
 * (its restart grace), with the default heartbeat settings, after an absence long enough for the
 * agent's backoff to have grown past the old allowance.
 */
describe('rsp agent across a restart of its gateway', () => {
  let db: TestDatabase;
  let t: TestGateway | undefined;
  let agent: RspProcess | undefined;
  let agentDir: string;

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    agentDir = mkdtempSync(join(tmpdir(), 'rsp-agent-restart-'));
  });
  afterAll(async () => {
    if (agent && agent.child.exitCode === null && agent.child.signalCode === null) agent.child.kill('SIGKILL');
    await t?.close();
    await db?.drop();
    rmSync(agentDir, { recursive: true, force: true });
  });

  test('the agent dials again until the gateway is back; its host is UP again, and the new gateway never marks it DOWN', async () => {
    // The detector's defaults (1 s beats, DOWN after 3 s): a restarted gateway gives the hosts last heard before its start its
    // restart grace, which covers the agents' longest wait between dials (30 s), so however long it was away, their hosts stay UP.
    const env = { PORT: String(await freePort()) };
    t = await startTestGateway(db, env);
    const admin = t.adminToken;
    const group = (await t.ok('mutation { createGroup(input: { slug: "ops", name: "Ops" }) { id } }')).createGroup.id as string;
    const site = (await t.ok('mutation ($g: ID!) { createSite(input: { name: "far", ownerGroupId: $g }) { id } }', { g: group })).createSite.id as string;
    const joined = await runRsp(['--url', t.gateway.url, '--token', admin, '--json', 'agent', 'token', 'create', 'far-agent', '--ttl', '600'], {});
    expect(joined.code).toBe(0);
    agent = spawnRsp(['agent', '--gateway', t.gateway.url.replace(/^http/, 'ws'), '--token', JSON.parse(joined.stdout).token as string, '--drivers', 'fake', '--data-dir', agentDir], { LOG_LEVEL: 'info', LOG_FORMAT: 'json' });
    await agent.waitFor(/connected to the gateway/);
    const registered = await runRsp(['--url', t.gateway.url, '--token', admin, '--json', 'host', 'create', 'far-box', '--site', site, '--owner', group, '--agent', 'far-agent'], {});
    expect(registered.code).toBe(0);
    const host = JSON.parse(registered.stdout).id as string;
    const state = async () => (await t!.ok('query ($id: ID!) { host(id: $id) { state lastHeartbeatAt } }', { id: host }, admin)).host as { state: string; lastHeartbeatAt: string | null };
    await until('host UP', async () => ((await state()).state === 'UP' ? true : undefined), 30_000);

    // The gateway stops; the agent sees it go and finds nobody at its address for a while.
    await t.close();
    t = undefined;
    await agent.waitFor(/lost the gateway; dialling again/);
    // Away until the agent's backoff has grown to waits of 8 s or more (after ~8 s of failed dials): its next dial comes
    // that long after the gateway is back, well past the `heartbeat + down-after` (4 s) after which hosts were judged before.
    await agent.waitFor(/"retryInMs":(?:[89]\d{3}|\d{5,}),[^\n]*"could not connect to the gateway; dialling again"/, 60_000);

    const lines: Array<Record<string, unknown>> = [];
    t = await startTestGateway(db, env, { logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) }) });
    await until('the agent back in the link', () => t!.gateway.agents.get('far-agent') !== undefined, 60_000);
    const before = (await state()).lastHeartbeatAt;
    // UP, with heartbeats of the new connection.
    await until('host UP, beating again', async () => {
      const now = await state();
      return now.state === 'UP' && now.lastHeartbeatAt !== before ? true : undefined;
    }, 30_000);
    expect(agent.output().stdout.match(/connected to the gateway/g)?.length).toBe(2);
    expect(lines.filter((l) => l.msg === 'host marked DOWN: no heartbeat; fenced')).toEqual([]);
    expect(agent.child.exitCode).toBeNull();

    agent.child.kill('SIGTERM');
    expect((await agent.exited).code).toBe(0);
  });
});
