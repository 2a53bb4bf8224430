import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRootfsTar } from '../../drivers/fake';
import { AGENT_PROTOCOL_VERSION, OLDEST_AGENT_PROTOCOL_VERSION } from '../../gateway/agent/protocol';
import { runRsp, spawnRsp, RspProcess } from '../helpers/cli';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { describeWithEngine, REDIS_URL } from '../helpers/engines';
import { until } from '../helpers/until';

const OP = 'id state error { code message }';

/**
 * Two `rsp serve` replicas on one PostgreSQL and Redis, one release apart (B pinned to the previous
 * agent protocol, N−1, with `RSP_TEST_GATEWAY_PROTOCOL`: its code and schema are this version's),
 * and an `rsp agent` given both (`--gateway b,a`), all separate processes: the agent negotiates
 * N−1 with B; an environment created through A runs on it, both replicas serve it, a call of N
 * is refused on the way; a third gateway claiming A's in-process agent exits 2; B killed (-9), as
 * an old replica taken down for its upgrade, the agent fails over to A, negotiates N, and the
 * call of N works.
 */
describeWithEngine('redis', 'gateway replicas as processes (rsp serve ×2, rsp agent --gateway b,a)', () => {
  let db: TestDatabase;
  const processes: RspProcess[] = [];
  const run = `${process.pid}-${randomBytes(3).toString('hex')}`;
  const imageDir = () => join(db.dataDir, 'images');

  const serve = (name: string, localAgentId: string, env: Record<string, string> = {}) => {
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
      ...env,
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
    const b = serve('b', `gwb-${run}`, { RSP_TEST_GATEWAY_PROTOCOL: String(OLDEST_AGENT_PROTOCOL_VERSION) });
    const bUrl = await urlOf(b);

    // A third gateway claiming A's in-process agent is refused: exit 2, naming the setting.
    const clash = await serve('c', `gwa-${run}`).exited;
    expect(clash.code).toBe(2);
    expect(clash.stderr).toMatch(/RSP_LOCAL_AGENT_ID: another gateway on this database already serves the in-process agent "gwa-/);

    const gqlAt = async (url: string, query: string, variables: Record<string, unknown> = {}) => {
      const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` }, body: JSON.stringify({ query, variables }) });
      const body = (await res.json()) as { data?: any; errors?: unknown[] };
      if (body.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
      return body.data;
    };
    const gql = (query: string, variables: Record<string, unknown> = {}) => gqlAt(aUrl, query, variables);
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
    const agentProtocol = (url: string) => until('the agent connection recorded', async () => {
      const connection = (await gqlAt(url, 'query ($id: ID!) { host(id: $id) { agentConnection { state protocol } } }', { id: host })).host.agentConnection;
      return connection.state === 'CONNECTED' && connection.protocol !== null ? (connection.protocol as number) : undefined;
    }, 30_000);
    // B speaks N−1 only: the agent (N−1 and N) takes N−1 there; both replicas say so.
    expect(await agentProtocol(aUrl)).toBe(OLDEST_AGENT_PROTOCOL_VERSION);
    expect(await agentProtocol(bUrl)).toBe(OLDEST_AGENT_PROTOCOL_VERSION);
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
    const exec = async (url = aUrl) => (await gqlAt(url, 'mutation ($id: ID!, $c: [String!]!) { execEnvironment(id: $id, command: $c) { exitCode stdout } }', { id: env, c: ['cat', '/etc/os-release'] })).execEnvironment;
    expect(await exec()).toEqual({ exitCode: 0, stdout: 'ID=app\nVERSION=1\n' });
    expect(await exec(bUrl)).toEqual({ exitCode: 0, stdout: 'ID=app\nVERSION=1\n' });
    // A snapshot (its agent call came in N): through A, relayed in a frame of N, B refuses it (it speaks N−1); through B, the connection of N−1 does.
    const snapshot = async (url: string, name: string) => settled((await gqlAt(url, `mutation ($e: ID!, $n: String!) { createSnapshot(environmentId: $e, name: $n) { ${OP} } }`, { e: env, n: name })).createSnapshot.id);
    expect(await snapshot(aUrl, 'through-a')).toMatchObject({ state: 'FAILED', error: { code: 'UNSUPPORTED_OPERATION', message: expect.stringContaining(`it speaks protocol ${OLDEST_AGENT_PROTOCOL_VERSION} on this connection; upgrade the receiver`) } });
    expect(await snapshot(bUrl, 'through-b')).toMatchObject({ state: 'FAILED', error: { code: 'UNSUPPORTED_OPERATION', message: expect.stringContaining(`it speaks agent protocol ${OLDEST_AGENT_PROTOCOL_VERSION} and snapshotEnvironment came in protocol ${AGENT_PROTOCOL_VERSION}`) } });

    // B dies: the agent dials the next gateway, A, and the environment answers through A directly.
    const connections = () => (agent.output().stdout + agent.output().stderr).match(/connected to the gateway/g)?.length ?? 0;
    b.child.kill('SIGKILL');
    await b.exited;
    await until('the agent connected to A', () => connections() >= 2, 30_000);
    expect(await until('exec through A', async () => (await exec().catch(() => undefined)) ?? undefined, 30_000)).toEqual({ exitCode: 0, stdout: 'ID=app\nVERSION=1\n' });
    // On A the agent negotiated N: the call of N works.
    expect(await agentProtocol(aUrl)).toBe(AGENT_PROTOCOL_VERSION);
    expect(await snapshot(aUrl, 'on-a')).toMatchObject({ state: 'SUCCEEDED' });

    agent.child.kill('SIGTERM');
    expect((await agent.exited).code).toBe(0);
    a.child.kill('SIGTERM');
    expect((await a.exited).code).toBe(0);
    // Three gateway starts and a failover: longer than the default minute on a busy machine.
  }, 240_000);
});
