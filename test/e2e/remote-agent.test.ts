import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { createRootfsTar } from '../../drivers/fake';
import { AGENT_PROTOCOL_VERSION, OLDEST_AGENT_PROTOCOL_VERSION } from '../../gateway/agent/protocol';
import { openExecSession } from '../../gateway/cli/exec-client';
import type { ExecStart } from '../../gateway/server/exec-protocol';
import { buildBusyboxRootfs } from '../fixtures/busybox-rootfs';
import { runRsp, spawnRsp, RspProcess } from '../helpers/cli';
import { describeWithEngine } from '../helpers/engines';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { runExecScript, type ExecScriptStep } from '../helpers/exec-script';
import { until } from '../helpers/until';
import { RSP_VERSION } from '../../gateway/version';

const OP = 'id state error { code message }';

/**
 * `rsp agent` as a separate OS process on this machine, dialling the test's gateway over
 * WebSocket on 127.0.0.1 (the README's steps): enrolled with a join token, it serves a host's
 * environments; killed (-9) its host goes DOWN; restarted with its saved credential it is back.
 * Wrong, reused and revoked secrets are refused, and an agent credential is no API token.
 */
describe('a host agent in its own process (rsp agent)', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let group: string;
  let site: string;
  const agents: RspProcess[] = [];

  const agentDir = () => mkdtempSync(join(tmpdir(), 'rsp-agent-'));
  const wsUrl = () => t.gateway.url.replace(/^http/, 'ws');
  const startAgent = (token: string, dataDir: string, env: Record<string, string> = {}) => {
    const p = spawnRsp(['agent', '--gateway', wsUrl(), '--token', token, '--drivers', 'fake', '--data-dir', dataDir], { LOG_LEVEL: 'info', LOG_FORMAT: 'json', ...env });
    agents.push(p);
    return p;
  };
  const joinToken = async (agentId: string) => {
    const r = await runRsp(['--url', t.gateway.url, '--token', t.adminToken, '--json', 'agent', 'token', 'create', agentId, '--ttl', '600'], {});
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout).token as string;
  };
  const hostState = async (id: string) => (await t.ok('query ($id: ID!) { host(id: $id) { state } }', { id })).host.state as string;
  const settle = async (id: string) => {
    await t.gateway.services.operations.settled(id);
    return (await t.ok(`query ($id: ID!) { operation(id: $id) { ${OP} } }`, { id })).operation;
  };

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db, { RSP_HEARTBEAT_MS: '200', RSP_HOST_DOWN_AFTER_MS: '1500' });
    group = (await t.ok('mutation { createGroup(input: { slug: "ops", name: "Ops" }) { id } }')).createGroup.id;
    site = (await t.ok('mutation ($g: ID!) { createSite(input: { name: "far", ownerGroupId: $g }) { id } }', { g: group })).createSite.id;
  });
  afterAll(async () => {
    for (const p of agents) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await t?.close();
    await db?.drop();
  });

  test('enrol, run an environment on the remote host, lose the agent (DOWN), get it back with its saved credential', async () => {
    const dataDir = agentDir();
    const agent = startAgent(await joinToken('remote1'), dataDir);
    await agent.waitFor(/connected to the gateway/);
    expect(statSync(join(dataDir, 'agent-credential.json')).mode & 0o777).toBe(0o600);
    await until('the agent in the link', () => t.gateway.agents.get('remote1') !== undefined, 20_000);

    const registered = await runRsp(['--url', t.gateway.url, '--token', t.adminToken, '--json', 'host', 'create', 'far-box', '--site', site, '--owner', group, '--agent', 'remote1'], {});
    expect(registered.code).toBe(0);
    const host = (await t.ok('query ($id: ID!) { host(id: $id) { id agent drivers } }', { id: JSON.parse(registered.stdout).id })).host;
    expect(host).toMatchObject({ agent: 'remote1', drivers: ['fake'] });
    await until('host UP with heartbeats', async () => ((await t.ok('query ($id: ID!) { host(id: $id) { state lastHeartbeatAt } }', { id: host.id })).host.lastHeartbeatAt ? true : undefined), 20_000);
    // Registered without --inventory-from-facts, it has no resources; turned on, its agent's facts fill them at once.
    expect((await t.ok('query ($id: ID!) { host(id: $id) { resources { type } } }', { id: host.id })).host.resources).toEqual([]);
    const inventory = await runRsp(['--url', t.gateway.url, '--token', t.adminToken, 'host', 'inventory-from-facts', host.id, 'on'], {});
    expect(inventory).toMatchObject({ code: 0, stdout: expect.stringMatching(/^Host far-box \([0-9a-f-]+\): resources filled from its agent's facts\n[\s\S]*\bRAM\b/) });
    expect((await t.ok('query ($id: ID!) { host(id: $id) { resources { type source total } } }', { id: host.id })).host.resources).toEqual(expect.arrayContaining([{ type: 'RAM', source: 'FACTS', total: expect.any(Number) }, { type: 'CPU', source: 'FACTS', total: expect.any(Number) }]));
    expect(await runRsp(['--url', t.gateway.url, '--token', t.adminToken, 'host', 'inventory-from-facts', host.id, 'maybe'], {})).toMatchObject({ code: 2, stderr: 'rsp: <on|off>: expected on or off, got "maybe" [BAD_USAGE]\n' });

    const image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: group, name: 'app', version: '1', technology: 'fake' } })).registerImage.id;
    expect((await t.upload(image, createRootfsTar({ '/etc/os-release': 'ID=app\nVERSION=1\n' }))).status).toBe(200);
    const created = await t.ok(`mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { ${OP} } } }`, { i: { groupId: group, hostId: host.id, imageId: image, name: 'web' } });
    expect(await settle(created.createEnvironment.operation.id)).toMatchObject({ state: 'SUCCEEDED' });
    const id = created.createEnvironment.environment.id;
    const act = async (mutation: string) => settle((await t.ok(`mutation ($id: ID!) { ${mutation}(id: $id) { id } }`, { id }))[mutation].id);
    expect(await act('startEnvironment')).toMatchObject({ state: 'SUCCEEDED' });
    const exec = await t.ok('mutation ($id: ID!, $c: [String!]!) { execEnvironment(id: $id, command: $c) { exitCode stdout } }', { id, c: ['cat', '/etc/os-release'] });
    expect(exec.execEnvironment).toEqual({ exitCode: 0, stdout: 'ID=app\nVERSION=1\n' });
    expect(await act('stopEnvironment')).toMatchObject({ state: 'SUCCEEDED' });
    expect(await act('destroyEnvironment')).toMatchObject({ state: 'SUCCEEDED' });

    agent.child.kill('SIGKILL');
    await agent.exited;
    await until('host DOWN', async () => ((await hostState(host.id)) === 'DOWN' ? true : undefined), 20_000);
    expect(t.gateway.agents.get('remote1')).toBeUndefined();

    // The join token was spent: the restart connects with the credential saved in its data directory.
    const again = startAgent('rspj_spent-and-ignored', dataDir);
    await again.waitFor(/connected to the gateway/);
    await until('host UP again', async () => ((await hostState(host.id)) === 'UP' ? true : undefined), 20_000);

    again.child.kill('SIGTERM');
    expect((await again.exited).code).toBe(0);
  });

  test('cut off from the gateway, the agent self-fences its running auto-failover environment before its host is DOWN (a plain one keeps running); back, it reports it and it runs again once', async () => {
    // A TCP relay between agent and gateway that the test cuts (every connection dropped, new ones refused) and heals.
    const target = new URL(t.gateway.url);
    const sockets = new Set<Socket>();
    let open = true;
    const relay = createServer((client) => {
      if (!open) return client.destroy();
      const upstream = connect(Number(target.port), target.hostname);
      const end = () => {
        client.destroy();
        upstream.destroy();
      };
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('error', end);
        s.on('close', () => (sockets.delete(s), end()));
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    try {
      const relayed = `ws://127.0.0.1:${(relay.address() as AddressInfo).port}`;
      const agent = spawnRsp(['agent', '--gateway', relayed, '--token', await joinToken('fencer'), '--drivers', 'fake', '--data-dir', agentDir()], { LOG_LEVEL: 'info', LOG_FORMAT: 'json' });
      agents.push(agent);
      await agent.waitFor(/connected to the gateway/);
      const hostId = (await t.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: site, ownerGroupId: group, hostname: 'fence-box', agent: 'fencer' } })).createHost.id as string;
      await until('host UP', async () => ((await hostState(hostId)) === 'UP' ? true : undefined), 20_000);
      const listed = await runRsp(['--url', t.gateway.url, '--token', t.adminToken, 'host', 'list'], {});
      expect(listed.stdout).toMatch(/AGENT\s+VERSION\s+PROTOCOL\s+CONNECTION\s+LAST HEARTBEAT/);
      expect(listed.stdout).toMatch(new RegExp(`fence-box.*fencer\\s+\\S+\\s+${AGENT_PROTOCOL_VERSION}\\s+CONNECTED\\s+\\d{4}-`));

      const image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: group, name: 'fenced', version: '1', technology: 'fake' } })).registerImage.id;
      expect((await t.upload(image, createRootfsTar({ '/etc/os-release': 'ID=fenced\n' }))).status).toBe(200);
      const created = await t.ok(`mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { ${OP} } } }`, { i: { groupId: group, hostId, imageId: image, name: 'fenced-web' } });
      expect(await settle(created.createEnvironment.operation.id)).toMatchObject({ state: 'SUCCEEDED' });
      const id = created.createEnvironment.environment.id as string;
      expect(await settle((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id })).startEnvironment.id)).toMatchObject({ state: 'SUCCEEDED' });
      // Only an environment the gateway would fail over is fenced: this one has auto-failover (no replica yet, so it is not failed over here).
      await t.ok('mutation ($i: CreateReplicationPolicyInput!) { createReplicationPolicy(input: $i) { id } }', { i: { environmentId: id, targetKind: 'STORE', keep: 1, schedule: 'every 60 minutes', autoFailover: true } });
      const plainCreated = await t.ok(`mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { ${OP} } } }`, { i: { groupId: group, hostId, imageId: image, name: 'plain-web' } });
      expect(await settle(plainCreated.createEnvironment.operation.id)).toMatchObject({ state: 'SUCCEEDED' });
      const plain = plainCreated.createEnvironment.environment.id as string;
      expect(await settle((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: plain })).startEnvironment.id)).toMatchObject({ state: 'SUCCEEDED' });
      await agent.waitFor(new RegExp(`"failover":\\["${id}"\\][^\n]*a self-fencing would stop`), 30_000);

      open = false;
      for (const s of sockets) s.destroy();
      await agent.waitFor(new RegExp(`"environment":"${id}"[^\n]*self-fenced: environment stopped`), 30_000);
      await agent.waitFor(/self-fencing done: 1 environment\(s\) stopped/, 30_000);
      const { stdout, stderr } = agent.output();
      expect(stdout + stderr).not.toMatch(new RegExp(`"environment":"${plain}"[^\n]*self-fenc`));
      await until('host DOWN', async () => ((await hostState(hostId)) === 'DOWN' ? true : undefined), 30_000);
      open = true;
      await agent.waitFor(/the gateway took note of the self-fenced environments/, 60_000);
      await until('host UP again', async () => ((await hostState(hostId)) === 'UP' ? true : undefined), 30_000);
      // The plain environment ran through the lost lease.
      expect((await t.gateway.agents.get('fencer')!.inspectEnvironment({ driver: 'fake', environmentId: plain }, { operationId: 'look' })).state).toBe('running');
      const resumed = (await t.gateway.dataSource.query(`SELECT id FROM operation WHERE kind = 'environment.resume' AND "targetId" = $1`, [id])) as Array<{ id: string }>;
      expect(resumed).toHaveLength(1);
      expect(await settle(resumed[0]!.id)).toMatchObject({ state: 'SUCCEEDED' });
      agent.child.kill('SIGTERM');
      await agent.exited;
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => relay.close(() => resolve()));
    }
  });

  test('refused: a wrong token, a reused join token, a revoked credential; an agent credential is no API token', async () => {
    const wrong = startAgent('rspj_0000', agentDir());
    const wrongEnd = await wrong.exited;
    expect(wrongEnd.code).toBe(4);
    expect(wrongEnd.stderr).toMatch(/unknown join token: check it was copied whole \(rspj_ and 64 hex digits\), or make a new one on the gateway/);

    const token = await joinToken('remote2');
    const first = startAgent(token, agentDir());
    await first.waitFor(/connected to the gateway/);
    const reused = await startAgent(token, agentDir()).exited;
    expect(reused.code).toBe(4);
    expect(reused.stderr).toMatch(/join token was used already: the agent it enrolled keeps its credential in the --data-dir it ran with, and \S+ holds none the gateway knows; run with that --data-dir, or make a new join token on the gateway \(rsp agent token create <agent-id>\) \[UNAUTHENTICATED\]/);

    const dataDir = agentDir();
    const third = startAgent(await joinToken('remote3'), dataDir);
    await third.waitFor(/connected to the gateway/);
    const { credential } = JSON.parse(readFileSync(join(dataDir, 'agent-credential.json'), 'utf8')) as { credential: string };
    const asUser = await t.gql('{ viewer { authenticated } }', {}, credential);
    expect(asUser.status).toBe(401);
    expect(asUser.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');

    expect((await t.ok('mutation { revokeAgentCredential(agentId: "remote3") }')).revokeAgentCredential).toBe(1);
    const revokedEnd = await third.exited;
    expect(revokedEnd.code).toBe(4);
    expect(revokedEnd.stderr).toMatch(/revoked/);
    const afterRevoke = await startAgent('', dataDir).exited;
    expect(afterRevoke.stderr).toMatch(/the agent credential is revoked/);
    await until('remote3 gone from the link', () => t.gateway.agents.get('remote3') === undefined, 20_000);
    first.child.kill('SIGTERM');
    await first.exited;
  });

  test('an agent of the previous protocol version (N−1) enrols and serves environments; a call that came in N, and sessions, are refused cleanly', async () => {
    const old = startAgent(await joinToken('remote-old'), agentDir(), { RSP_TEST_AGENT_PROTOCOL: String(OLDEST_AGENT_PROTOCOL_VERSION) });
    await old.waitFor(new RegExp(`"protocol":${OLDEST_AGENT_PROTOCOL_VERSION}[^\\n]*connected to the gateway`));
    await until('the agent in the link', () => t.gateway.agents.get('remote-old') !== undefined, 20_000);
    const registered = await runRsp(['--url', t.gateway.url, '--token', t.adminToken, '--json', 'host', 'create', 'old-box', '--site', site, '--owner', group, '--agent', 'remote-old'], {});
    expect(registered.code).toBe(0);
    const hostId = JSON.parse(registered.stdout).id as string;
    await until('host UP with heartbeats', async () => ((await hostState(hostId)) === 'UP' ? true : undefined), 20_000);
    // The negotiated version, in the API and the CLI's host view.
    const connection = async () => (await t.ok('query ($id: ID!) { host(id: $id) { agentConnection { state version protocol } } }', { id: hostId })).host.agentConnection;
    expect(await until('its connection recorded', async () => { const c = await connection(); return c.state === 'CONNECTED' ? c : undefined; }, 20_000)).toEqual({ state: 'CONNECTED', version: RSP_VERSION, protocol: OLDEST_AGENT_PROTOCOL_VERSION });
    const shown = await runRsp(['--url', t.gateway.url, '--token', t.adminToken, 'host', 'show', hostId], {});
    expect(shown.stdout).toMatch(new RegExp(`agent:\\s+remote-old \\(connected\\)\\n[^\\n]*\\nagent protocol:\\s+${OLDEST_AGENT_PROTOCOL_VERSION}\\n`));

    const image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: group, name: 'old', version: '1', technology: 'fake' } })).registerImage.id;
    expect((await t.upload(image, createRootfsTar({ '/etc/greeting': 'old\n' }))).status).toBe(200);
    const created = await t.ok(`mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { ${OP} } } }`, { i: { groupId: group, hostId, imageId: image, name: 'old-web' } });
    expect(await settle(created.createEnvironment.operation.id)).toMatchObject({ state: 'SUCCEEDED' });
    const id = created.createEnvironment.environment.id;
    expect(await settle((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id })).startEnvironment.id)).toMatchObject({ state: 'SUCCEEDED' });
    const exec = await t.ok('mutation ($id: ID!, $c: [String!]!) { execEnvironment(id: $id, command: $c) { exitCode stdout } }', { id, c: ['cat', '/etc/greeting'] });
    expect(exec.execEnvironment).toEqual({ exitCode: 0, stdout: 'old\n' });

    // environmentLog came in protocol N: the gateway does not send it to an agent of N−1.
    const logs = await t.gql('query ($id: ID!) { environmentLogs(id: $id, tail: 5) { text } }', { id });
    expect(logs.errors?.[0]).toMatchObject({
      message: `host agent remote-old does not support environmentLog: it speaks agent protocol ${OLDEST_AGENT_PROTOCOL_VERSION} and environmentLog came in protocol ${AGENT_PROTOCOL_VERSION}: upgrade the agent to RSP ${RSP_VERSION}`,
      extensions: { code: 'UNSUPPORTED_OPERATION' },
    });
    // An agent of a release without sessions: interactive exec and consoles are refused naming its version.
    for (const start of [{ environment: id, command: ['sh'] }, { environment: id, console: true }]) {
      await expect(session(start, [])).rejects.toMatchObject({
        code: 'UNSUPPORTED_OPERATION',
        message: expect.stringContaining(`host agent remote-old does not support ${start.console ? 'console' : 'interactive exec'}: it runs RSP ${RSP_VERSION} (agent protocol ${OLDEST_AGENT_PROTOCOL_VERSION}), which does not carry interactive sessions: upgrade the agent to RSP ${RSP_VERSION}`),
      });
    }
    expect(await settle((await t.ok('mutation ($id: ID!) { destroyEnvironment(id: $id) { id } }', { id })).destroyEnvironment.id)).toMatchObject({ state: 'SUCCEEDED' });
    old.child.kill('SIGTERM');
    expect((await old.exited).code).toBe(0);
  });

  /** A session over /exec as the admin: sends each input once the output so far matched the pattern before it; stdout, stderr and the exit. */
  const session = (start: ExecStart, input: ExecScriptStep[]) => runExecScript(t.gateway.url, t.adminToken, start, input, false);


  test('interactive exec and the console of an environment on a remote agent go over its connection; the agent killed mid-session ends it with an error', async () => {
    const agent = startAgent(await joinToken('remote-exec'), agentDir());
    await agent.waitFor(/connected to the gateway/);
    const hostId = (await t.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: site, ownerGroupId: group, hostname: 'exec-box', agent: 'remote-exec' } })).createHost.id as string;
    await until('host UP', async () => ((await hostState(hostId)) === 'UP' ? true : undefined), 20_000);
    const image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: group, name: 'shell', version: '1', technology: 'fake' } })).registerImage.id;
    expect((await t.upload(image, createRootfsTar({ '/etc/greeting': 'far\n' }))).status).toBe(200);
    const created = await t.ok(`mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { ${OP} } } }`, { i: { groupId: group, hostId, imageId: image, name: 'far-shell' } });
    expect(await settle(created.createEnvironment.operation.id)).toMatchObject({ state: 'SUCCEEDED' });
    const env = created.createEnvironment.environment.id as string;
    expect(await settle((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: env })).startEnvironment.id)).toMatchObject({ state: 'SUCCEEDED' });

    // Standard input in, stdout and stderr apart, the exit code.
    expect(await session({ environment: env, command: ['sh'] }, [[null, 'cat /etc/greeting\n'], [/far\n/, 'cat /missing\n'], [null, 'exit 3\n']])).toEqual({ stdout: 'far\n', stderr: expect.stringContaining('cat: ') as string, exitCode: 3 });
    // On a TTY of the asked size, resized: the agent's process sees both.
    const tty = await session({ environment: env, command: ['sh'], tty: true, columns: 100, rows: 30 }, [[null, 'stty size\r'], [/30 100\r\n/, (s) => s.resize(120, 40)], [null, 'stty size\r'], [/40 120\r\n/, 'exit 7\r']]);
    expect(tty).toEqual({ stdout: 'stty size\r\n30 100\r\nstty size\r\n40 120\r\nexit 7\r\n', stderr: '', exitCode: 7 });
    // The CLI, through the same socket.
    const cli = spawnRsp(['env', 'exec', '-i', env, '--', 'sh'], { RSP_URL: t.gateway.url, RSP_TOKEN: t.adminToken });
    cli.child.stdin.end('cat /etc/greeting\nexit 4\n');
    expect(await cli.exited).toMatchObject({ code: 4, stdout: 'far\n' });
    // The console of the fake driver: its line shell on a terminal.
    const console = await session({ environment: env, console: true }, [[null, 'echo on-console\r'], [/on-console\r\non-console\r\n/, 'exit\r']]);
    expect(console).toMatchObject({ stdout: expect.stringContaining('on-console\r\non-console\r\n') as string, exitCode: 0 });

    // A revoked token closes its session (4403), and the agent ends the process.
    const issued = (await t.ok('mutation ($i: CreateTokenInput!) { createToken(input: $i) { token { id } secret } }', { i: { groupId: group, role: 'MEMBER', name: 'far-shell' } })).createToken;
    let revokedOut = '';
    const revoked = openExecSession(t.gateway.url, issued.secret, { environment: env, command: ['sh'] }, (b) => (revokedOut += b.toString('utf8')), () => undefined);
    revoked.write('cat /etc/greeting\n');
    await until('the session answering', async () => revokedOut === 'far\n', 30_000, 50);
    await t.ok('mutation ($id: ID!) { revokeToken(id: $id) { id } }', { id: issued.token.id });
    await expect(revoked.exit).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    await agent.waitFor(/session closed by the gateway/);

    // The agent killed mid-session: the client gets an error frame naming the lost agent, and nothing hangs.
    let stdout = '';
    const open = openExecSession(t.gateway.url, t.adminToken, { environment: env, command: ['sh'] }, (b) => (stdout += b.toString('utf8')), () => undefined);
    open.write('cat /etc/greeting\n');
    await until('the session answering', async () => stdout === 'far\n', 30_000, 50);
    agent.child.kill('SIGKILL');
    await expect(open.exit).rejects.toMatchObject({ code: 'UNAVAILABLE', message: expect.stringContaining('Host agent remote-exec went away during the session') });
    await agent.exited;
  });

  test('refused with a clear close reason: another protocol version, a malformed handshake, another agent id', async () => {
    const closeOf = (handshake: unknown) =>
      new Promise<{ code: number; reason: string }>((resolve, reject) => {
        const ws = new WebSocket(`${wsUrl()}/agent`);
        ws.on('open', () => ws.send(typeof handshake === 'string' ? handshake : JSON.stringify(handshake)));
        ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
        ws.on('error', reject);
      });
    const token = await joinToken('remote4');
    expect(await closeOf({ type: 'handshake', protocol: AGENT_PROTOCOL_VERSION + 1, secret: token, software: 'x' })).toEqual({ code: 4426, reason: expect.stringMatching(/protocol mismatch: .*upgrade the gateway/) });
    expect(await closeOf({ type: 'handshake', protocol: OLDEST_AGENT_PROTOCOL_VERSION - 1, secret: token, software: 'x' })).toEqual({
      code: 4426,
      reason: `protocol mismatch: the gateway speaks ${OLDEST_AGENT_PROTOCOL_VERSION}–${AGENT_PROTOCOL_VERSION}, the agent ${OLDEST_AGENT_PROTOCOL_VERSION - 1}; upgrade the agent (to RSP ${RSP_VERSION})`,
    });
    expect(await closeOf('not json')).toEqual({ code: 4400, reason: expect.stringMatching(/malformed handshake/) });
    expect(await closeOf({ type: 'handshake', protocol: AGENT_PROTOCOL_VERSION, agentId: 'someone-else', secret: token, software: 'x' })).toEqual({ code: 4401, reason: expect.stringMatching(/not agent "someone-else"/) });
    // Before its handshake a socket is anyone's: more than 64 KiB then cuts it (agents' frames may be 256 MiB once welcomed).
    expect(await closeOf({ type: 'handshake', protocol: AGENT_PROTOCOL_VERSION, secret: 'rspj_x', software: 'x', pad: 'x'.repeat(1024 * 1024) })).toEqual({ code: 1006, reason: '' });
    expect(await closeOf('not json')).toEqual({ code: 4400, reason: expect.stringMatching(/malformed handshake/) });
  });
});

/** A real engine behind a remote agent: a Docker container's shell on a pseudo-terminal, over the agent's connection. */
describeWithEngine('docker', 'interactive exec through a remote agent (docker)', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let agent: RspProcess | undefined;
  let env: string | undefined;

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db, { RSP_HEARTBEAT_MS: '200' });
  });
  afterAll(async () => {
    if (env) await t.gateway.services.operations.settled((await t.gql('mutation ($id: ID!) { destroyEnvironment(id: $id) { id } }', { id: env })).data?.destroyEnvironment?.id ?? '').catch(() => undefined);
    if (agent && agent.child.exitCode === null && agent.child.signalCode === null) agent.child.kill('SIGKILL');
    await t?.close();
    await db?.drop();
  });

  test('a TTY of the asked size on a pseudo-terminal of the container, resized, with its exit code', async () => {
    const group = (await t.ok('mutation { createGroup(input: { slug: "dock", name: "Dock" }) { id } }')).createGroup.id;
    const site = (await t.ok('mutation ($g: ID!) { createSite(input: { name: "far", ownerGroupId: $g }) { id } }', { g: group })).createSite.id;
    const token = await runRsp(['--url', t.gateway.url, '--token', t.adminToken, '--json', 'agent', 'token', 'create', 'remote-docker', '--ttl', '600'], {});
    agent = spawnRsp(['agent', '--gateway', t.gateway.url.replace(/^http/, 'ws'), '--token', JSON.parse(token.stdout).token, '--drivers', 'docker', '--instance', `t${randomBytes(4).toString('hex')}`, '--data-dir', mkdtempSync(join(tmpdir(), 'rsp-agent-'))], { LOG_LEVEL: 'info', LOG_FORMAT: 'json' });
    await agent.waitFor(/connected to the gateway/);
    const hostId = (await t.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: site, ownerGroupId: group, hostname: 'docker-box', agent: 'remote-docker' } })).createHost.id as string;
    await until('host UP', async () => ((await t.ok('query ($id: ID!) { host(id: $id) { state } }', { id: hostId })).host.state === 'UP' ? true : undefined), 30_000);
    const image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: group, name: 'busybox', version: '1', technology: 'docker' } })).registerImage.id;
    expect((await t.upload(image, await readFile(await buildBusyboxRootfs()))).status).toBe(200);
    const created = (await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: group, hostId, imageId: image, name: 'shell', network: 'none', command: ['sleep', '3600'] } })).createEnvironment;
    env = created.environment.id as string;
    expect((await t.gateway.services.operations.settled(created.operation.id)).state).toBe('SUCCEEDED');
    expect((await t.gateway.services.operations.settled((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: env })).startEnvironment.id)).state).toBe('SUCCEEDED');

    let stdout = '';
    let changed: () => void = () => undefined;
    const s = openExecSession(t.gateway.url, t.adminToken, { environment: env, command: ['sh'], tty: true, columns: 100, rows: 30 }, (b) => ((stdout += b.toString('utf8')), changed()), () => undefined);
    const after = (pattern: RegExp) => new Promise<void>((resolve, reject) => {
      changed = () => pattern.test(stdout) && resolve();
      changed();
      s.exit.catch(reject);
    });
    s.write('stty size; tty\r');
    await after(/30 100\r\n\/dev\/pts\/\d+\r\n/);
    s.resize(120, 40);
    s.write('stty size\r');
    await after(/40 120\r\n/);
    s.write('exit 7\r');
    expect(await s.exit).toBe(7);
    expect((await t.gateway.services.operations.settled((await t.ok('mutation ($id: ID!) { destroyEnvironment(id: $id) { id } }', { id: env })).destroyEnvironment.id)).state).toBe('SUCCEEDED');
    env = undefined;
    agent.child.kill('SIGTERM');
    expect((await agent.exited).code).toBe(0);
    agent = undefined;
  });
});
