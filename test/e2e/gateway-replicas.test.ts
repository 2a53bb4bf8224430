import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRootfsTar } from '../../drivers/fake';
import { runRsp, spawnRsp, RspProcess } from '../helpers/cli';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { describeWithEngine, REDIS_URL } from '../helpers/engines';
import { until } from '../helpers/until';

const OP = 'id state error { code message }';

/**
 * Two `rsp serve` replicas on one PostgreSQL and Redis, and an `rsp agent` given both
 * (`--gateway b,a`), all separate processes: an environment created through A runs on the agent
 * connected to B; a third gateway claiming A's in-process agent exits 2; B killed (-9), the agent
 * fails over to A and its environment answers through A.
 */
describeWithEngine('redis', 'gateway replicas as processes (rsp serve ×2, rsp agent --gateway b,a)', () => {
  let db: TestDatabase;
  const processes: RspProcess[] = [];
  const run = `${process.pid}-${randomBytes(3).toString('hex')}`;
  const imageDir = () => join(db.dataDir, 'images');

  const serve = (name: string, localAgentId: string) => {
    const p = spawnRsp(['serve', '--port', '0'], {
      DATABASE_URL: db.databaseUrl,
      REDIS_URL,
      RSP_DATA_DIR: mkdtempSync(join(tmpdir(), `rsp-replica-${name}-`)),
      RSP_IMAGE_DIR: imageDir(),
      RSP_LOCAL_AGENT_ID: localAgentId,
      RSP_DRIVERS: 'fake',
      RSP_BOOTSTRAP: 'off',
      RSP_HEARTBEAT_MS: '200',
      RSP_HOST_DOWN_AFTER_MS: '3000',
      RSP_METRICS_INTERVAL_MS: '0',
      LOG_FORMAT: 'json',
      LOG_LEVEL: 'info',
    });
    processes.push(p);
    return p;
  };
  const urlOf = async (p: RspProcess) => (await p.waitFor(/GraphQL endpoint:\s+(http:\/\/\S+)\/graphql/, 60_000))[1]!;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
  });
  afterAll(async () => {
    for (const p of processes) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await Promise.allSettled(processes.map((p) => p.exited));
    await db?.drop();
  });

  test('a call through A reaches the agent on B; a clashing local agent exits 2; B killed, the agent fails over to A', async () => {
    const a = serve('a', `gwa-${run}`);
    const aUrl = await urlOf(a);
    const admin = (await a.waitFor(/shown ONCE[^\n]*\n\s+(rsp_\S+)/))[1]!;
    const b = serve('b', `gwb-${run}`);
    const bUrl = await urlOf(b);

    // A third gateway claiming A's in-process agent is refused: exit 2, naming the setting.
    const clash = await serve('c', `gwa-${run}`).exited;
    expect(clash.code).toBe(2);
    expect(clash.stderr).toMatch(/RSP_LOCAL_AGENT_ID: another gateway on this database already serves the in-process agent "gwa-/);

    const gql = async (query: string, variables: Record<string, unknown> = {}) => {
      const res = await fetch(`${aUrl}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` }, body: JSON.stringify({ query, variables }) });
      const body = (await res.json()) as { data?: any; errors?: unknown[] };
      if (body.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
      return body.data;
    };
    const agentId = `far-${run}`;
    const token = await runRsp(['--url', aUrl, '--token', admin, '--json', 'agent', 'token', 'create', agentId], {});
    expect(token.code).toBe(0);
    const agent = spawnRsp(['agent', '--gateway', `${bUrl},${aUrl}`, '--token', JSON.parse(token.stdout).token, '--drivers', 'fake', '--data-dir', mkdtempSync(join(tmpdir(), 'rsp-replica-agent-'))], { LOG_LEVEL: 'info', LOG_FORMAT: 'json' });
    processes.push(agent);
    await agent.waitFor(/connected to the gateway/);
    expect(agent.output().stdout + agent.output().stderr).toContain(bUrl.replace(/^http/, 'ws'));

    const group = (await gql('mutation { createGroup(input: { slug: "ops", name: "Ops" }) { id } }')).createGroup.id;
    const site = (await gql('mutation ($g: ID!) { createSite(input: { name: "far", ownerGroupId: $g }) { id } }', { g: group })).createSite.id;
    const host = (await gql('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: site, ownerGroupId: group, hostname: 'far-box', agent: agentId } })).createHost.id;
    const hostState = async () => (await gql('query ($id: ID!) { host(id: $id) { state } }', { id: host })).host.state as string;
    await until('host UP', async () => ((await hostState()) === 'UP' ? true : undefined), 30_000);
    const image = (await gql('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: group, name: 'app', version: '1', technology: 'fake' } })).registerImage.id;
    const upload = await fetch(`${aUrl}/images/${image}/content`, { method: 'PUT', headers: { 'content-type': 'application/x-tar', authorization: `Bearer ${admin}` }, body: new Uint8Array(createRootfsTar({ '/etc/os-release': 'ID=app\nVERSION=1\n' })) });
    expect(upload.status).toBe(200);
    const settled = async (id: string) => until(`operation ${id} settled`, async () => {
      const op = (await gql(`query ($id: ID!) { operation(id: $id) { ${OP} } }`, { id })).operation;
      return op.state === 'SUCCEEDED' || op.state === 'FAILED' ? op : undefined;
    }, 30_000);
    const created = await gql(`mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { ${OP} } } }`, { i: { groupId: group, hostId: host, imageId: image, name: 'web' } });
    expect(await settled(created.createEnvironment.operation.id)).toMatchObject({ state: 'SUCCEEDED' });
    const env = created.createEnvironment.environment.id;
    expect(await settled((await gql('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: env })).startEnvironment.id)).toMatchObject({ state: 'SUCCEEDED' });
    const exec = async () => (await gql('mutation ($id: ID!, $c: [String!]!) { execEnvironment(id: $id, command: $c) { exitCode stdout } }', { id: env, c: ['cat', '/etc/os-release'] })).execEnvironment;
    expect(await exec()).toEqual({ exitCode: 0, stdout: 'ID=app\nVERSION=1\n' });

    // B dies: the agent dials the next gateway, A, and the environment answers through A directly.
    const connections = () => (agent.output().stdout + agent.output().stderr).match(/connected to the gateway/g)?.length ?? 0;
    b.child.kill('SIGKILL');
    await b.exited;
    await until('the agent connected to A', () => connections() >= 2, 30_000);
    expect(await until('exec through A', async () => (await exec().catch(() => undefined)) ?? undefined, 30_000)).toEqual({ exitCode: 0, stdout: 'ID=app\nVERSION=1\n' });

    agent.child.kill('SIGTERM');
    expect((await agent.exited).code).toBe(0);
    a.child.kill('SIGTERM');
    expect((await a.exited).code).toBe(0);
    // Three gateway starts and a failover: longer than the default minute on a busy machine.
  }, 240_000);
});
