import { randomBytes, randomUUID } from 'node:crypto';
import { ConfigError } from '../../gateway/config/config';
import { EnvironmentEntity, HostEntity, HostState, ReplicationPolicyEntity, ReplicationTargetKind } from '../../gateway/persistence/entities';
import { chooseTargetHost } from '../../gateway/placement/target-host';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { InteractiveProcess } from '../../drivers/contract';
import { createRootfsTar, FakeDriver } from '../../drivers/fake';
import { SESSION_CHUNK_BYTES, SESSION_WINDOW_BYTES } from '../../gateway/agent/stream-frames';
import { agentRegistry } from '../../gateway/agent/builtin-drivers';
import { InProcessAgent } from '../../gateway/agent/in-process-agent';
import type { AgentClient } from '../../gateway/agent/agent-client';
import { AgentDialer } from '../../gateway/agent/remote/agent-dialer';
import { openExecSession } from '../../gateway/cli/exec-client';
import { STREAM, type ExecStart } from '../../gateway/server/exec-protocol';
import { OUTPUT_BUFFER_BYTES } from '../../gateway/server/exec-socket';
import { busyWriter, counting, openExecSocket, pausedExecClient, serverExecSocket, stuckReader, tcpBufferMaxima } from '../helpers/busy-writer';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { describeWithEngine, REDIS_URL } from '../helpers/engines';
import { spawnRsp } from '../helpers/cli';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { runExecScript, type ExecScriptStep } from '../helpers/exec-script';
import { until } from '../helpers/until';

const OP = 'id state error { code message }';
const logger = pino({ level: process.env.LOG_LEVEL ?? 'silent' });

/**
 * Two gateway replicas on one PostgreSQL and one Redis, sharing the image store: a host agent
 * connected to replica B serves an environment created through replica A (its calls go through
 * the call relay), and its credential revoked through A drops its connection on B.
 */
describeWithEngine('redis', 'several gateway replicas (one PostgreSQL, Redis)', () => {
  let db: TestDatabase;
  let a: TestGateway;
  let b: TestGateway;
  const dialers: Array<{ dialer: AgentDialer; running: Promise<void> }> = [];
  // Agent ids unique to this run: other test files share the Redis.
  const agentId = (name: string) => `${name}-${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    const shared = { REDIS_URL, RSP_IMAGE_DIR: join(db.dataDir, 'images') };
    // A's in-process agent has the default id (from the installation's); B's is named.
    a = await startTestGateway(db, shared);
    // B's placement picture is checked in the background only every 10 minutes: what it learns of A's writes sooner came over Redis.
    b = await startTestGateway({ ...db, dataDir: mkdtempSync(join(tmpdir(), 'rsp-replica-b-')) }, { ...shared, RSP_LOCAL_AGENT_ID: agentId('gw-b'), RSP_PLACEMENT_SNAPSHOT_MS: '600000' });
  });
  afterAll(async () => {
    for (const d of dialers) d.dialer.stop();
    await Promise.allSettled(dialers.map((d) => d.running));
    await b?.close();
    await a?.close();
    await db?.drop();
  });

  /**
   * An `rsp agent` (in this process) with the fake driver, enrolled through `via` and dialling `to`;
   * with `enrolledIn`, the data directory of an agent enrolled before (its credential, no token).
   */
  async function agentOn(to: TestGateway, via: TestGateway, id: string, enrolledIn?: string) {
    const token = enrolledIn ? undefined : ((await via.ok('mutation ($a: String!) { createAgentJoinToken(agentId: $a) { token } }', { a: id })).createAgentJoinToken.token as string);
    const dataDir = enrolledIn ?? mkdtempSync(join(tmpdir(), 'rsp-replica-agent-'));
    const dialer = new AgentDialer({
      gateway: to.gateway.url,
      ...(token ? { token } : {}),
      dataDir,
      logger,
      backoff: { baseMs: 50, maxMs: 200 },
      makeAgent: async (agentName, upstream) => {
        const agent = new InProcessAgent(await agentRegistry(['fake'], dataDir), dataDir, logger, agentName, join(dataDir, 'artifacts'), upstream);
        await agent.probe();
        return agent;
      },
    });
    const running = dialer.run();
    running.catch(() => undefined);
    dialers.push({ dialer, running });
    await until(`agent ${id} connected to its replica`, () => to.gateway.agents.get(id), 20_000);
    return { dialer, running, dataDir };
  }

  /** Resolves when agent `id` joins (`true`) or leaves (`false`) `gateway`, with what `then` returns at that moment (in the same tick). */
  function whenAgent<T>(gateway: TestGateway, id: string, connected: boolean, then: () => T): Promise<T> {
    return new Promise((resolve) => {
      let done = false;
      gateway.gateway.agents.onChange((agent, now) => {
        if (done || agent !== id || now !== connected) return;
        done = true;
        resolve(then());
      });
    });
  }

  /** A host served by agent `agent`, as the agent link sees it (UP: not fenced). */
  const hostOf = (agent: string) => ({ id: `host-of-${agent}`, hostname: `${agent}-box`, agent, state: HostState.UP });

  test('a call through replica A for a host whose agent has just connected to replica B reaches it: A waits for B\'s announcement instead of answering UNAVAILABLE', async () => {
    const id = agentId('fresh');
    // The call is made through A in the very tick B records the agent: A cannot have heard of it yet.
    const answered = whenAgent(b, id, true, () => {
      const unknownToA = a.gateway.agents.reachable(id) === undefined;
      const hello = a.gateway.agents.forHost(hostOf(id)).then((agent) => agent.hello());
      hello.catch(() => undefined);
      return { unknownToA, hello };
    });
    await agentOn(b, a, id);
    const { unknownToA, hello } = await answered;
    expect(unknownToA).toBe(true);
    await expect(hello).resolves.toMatchObject({ agentId: id });
  });

  test('an agent that moves from replica A to replica B is reached through A as soon as it is connected to B; a host whose agent is connected nowhere answers UNAVAILABLE', async () => {
    const id = agentId('mover');
    const first = await agentOn(a, a, id);
    await expect(a.gateway.agents.forHost(hostOf(id)).then((agent) => agent.hello())).resolves.toMatchObject({ agentId: id });
    const left = whenAgent(a, id, false, () => undefined);
    first.dialer.stop();
    await first.running;
    await left;
    // Its connection to A is gone; it dials B with the credential it has, and A is asked for it the moment B has it.
    const answered = whenAgent(b, id, true, () => a.gateway.agents.forHost(hostOf(id)).then((agent) => agent.hello()));
    answered.catch(() => undefined);
    await agentOn(b, a, id, first.dataDir);
    await expect(answered).resolves.toMatchObject({ agentId: id });

    const nowhere = agentId('nowhere');
    // Connected nowhere: after a bounded wait (DEFAULT_AGENT_WAIT_MS) for an announcement that never comes.
    await expect(a.gateway.agents.forHost(hostOf(nowhere)).then((agent) => agent.hello())).rejects.toMatchObject({ category: 'UNAVAILABLE', message: expect.stringMatching(/No host agent "nowhere-/) });
    // Waited for in vain, it is known to be gone: the next call answers before the event loop's next turn (no second wait).
    expect(a.gateway.agents.presence(nowhere)).toBe('gone');
    const again = a.gateway.agents.forHost(hostOf(nowhere));
    const settled = await Promise.race([again.then(() => 'settled', () => 'settled'), new Promise((resolve) => setImmediate(() => resolve('waited')))]);
    expect(settled).toBe('settled');
    await expect(again).rejects.toMatchObject({ category: 'UNAVAILABLE' });
  });

  test('an environment created through replica A for a host whose agent is connected to replica B runs there', async () => {
    const id = agentId('far');
    await agentOn(b, a, id);
    await until(`agent ${id} in the directory of replica A`, () => a.gateway.agents.reachable(id), 20_000);
    expect(a.gateway.agents.get(id)).toBeUndefined();

    const group = (await a.ok('mutation { createGroup(input: { slug: "ops", name: "Ops" }) { id } }')).createGroup.id;
    const site = (await a.ok('mutation ($g: ID!) { createSite(input: { name: "far", ownerGroupId: $g }) { id } }', { g: group })).createSite.id;
    const host = (await a.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id drivers } }', { i: { siteId: site, ownerGroupId: group, hostname: 'far-box', agent: id } })).createHost;
    // UNKNOWN until the agent's next heartbeat, pushed to replica B.
    await until('host UP on its agent\'s heartbeat', async () => ((await a.ok('query ($id: ID!) { host(id: $id) { state } }', { id: host.id })).host.state === 'UP' ? true : undefined), 20_000);
    const image = (await a.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: group, name: 'app', version: '1', technology: 'fake' } })).registerImage.id;
    expect((await a.upload(image, createRootfsTar({ '/etc/os-release': 'ID=app\nVERSION=1\n' }))).status).toBe(200);

    const settle = async (opId: string) => {
      await a.gateway.services.operations.settled(opId);
      return (await a.ok(`query ($id: ID!) { operation(id: $id) { ${OP} } }`, { id: opId })).operation;
    };
    const created = await a.ok(`mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { ${OP} } } }`, { i: { groupId: group, hostId: host.id, imageId: image, name: 'web' } });
    expect(await settle(created.createEnvironment.operation.id)).toMatchObject({ state: 'SUCCEEDED' });
    const envId = created.createEnvironment.environment.id as string;
    const started = await a.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: envId });
    expect(await settle(started.startEnvironment.id)).toMatchObject({ state: 'SUCCEEDED' });
    const exec = await a.ok('mutation ($id: ID!, $c: [String!]!) { execEnvironment(id: $id, command: $c) { exitCode stdout } }', { id: envId, c: ['cat', '/etc/os-release'] });
    expect(exec.execEnvironment).toEqual({ exitCode: 0, stdout: 'ID=app\nVERSION=1\n' });

    // It runs on the agent connected to B: B reaches it directly and finds it running.
    const onB = await b.gateway.agents.get(id)!.inspectEnvironment({ driver: 'fake', environmentId: envId });
    expect(onB.state).toBe('running');
  });

  /** A running environment of the fake driver on a host whose agent (`slug`) is connected to replica B, made through replica A. */
  /** Watches both replicas' ends of the next session: B's, over its connection to the agent `onB`, and A's, the relayed one; until `restore`. */
  function watchSessionEnds(onB: AgentClient) {
    const ends: { onB?: InteractiveProcess; onA?: InteractiveProcess; restore: () => void } = { restore: () => undefined };
    const bOpen = onB.interactiveExec.bind(onB);
    const bSpy = jest.spyOn(onB, 'interactiveExec').mockImplementationOnce(async (params) => (ends.onB = await bOpen(params)));
    const aOpen = a.gateway.services.environments.interactiveExec.bind(a.gateway.services.environments);
    const aSpy = jest.spyOn(a.gateway.services.environments, 'interactiveExec').mockImplementationOnce(async (...args) => (ends.onA = await aOpen(...args)));
    ends.restore = () => {
      bSpy.mockRestore();
      aSpy.mockRestore();
    };
    return ends;
  }

  async function environmentOnB(slug: string) {
    const id = agentId(slug);
    const { dialer } = await agentOn(b, a, id);
    await until(`agent ${id} in the directory of replica A`, () => a.gateway.agents.reachable(id), 20_000);
    const group = (await a.ok('mutation ($s: String!) { createGroup(input: { slug: $s, name: $s }) { id } }', { s: slug })).createGroup.id;
    const site = (await a.ok('mutation ($g: ID!, $n: String!) { createSite(input: { name: $n, ownerGroupId: $g }) { id } }', { g: group, n: slug })).createSite.id;
    const host = (await a.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: site, ownerGroupId: group, hostname: `${slug}-box`, agent: id } })).createHost;
    await until('host UP on its agent\'s heartbeat', async () => ((await a.ok('query ($id: ID!) { host(id: $id) { state } }', { id: host.id })).host.state === 'UP' ? true : undefined), 20_000);
    const image = (await a.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: group, name: slug, version: '1', technology: 'fake' } })).registerImage.id;
    expect((await a.upload(image, createRootfsTar({ '/etc/greeting': 'far\n' }))).status).toBe(200);
    const settle = async (opId: string) => {
      await a.gateway.services.operations.settled(opId);
      return (await a.ok(`query ($id: ID!) { operation(id: $id) { ${OP} } }`, { id: opId })).operation;
    };
    const created = await a.ok(`mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { ${OP} } } }`, { i: { groupId: group, hostId: host.id, imageId: image, name: slug } });
    expect(await settle(created.createEnvironment.operation.id)).toMatchObject({ state: 'SUCCEEDED' });
    const env = created.createEnvironment.environment.id as string;
    expect(await settle((await a.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: env })).startEnvironment.id)).toMatchObject({ state: 'SUCCEEDED' });
    return { id, dialer, group, env };
  }

  test('right after an agent moves from replica A to replica B, A does not pass over its host: arriving, not gone, it is taken as a migration\'s target and as the keeper of a site\'s replicas', async () => {
    const { env } = await environmentOnB('placed');
    const envRow = await a.gateway.dataSource.getRepository(EnvironmentEntity).findOneByOrFail({ id: env });
    const source = await a.gateway.dataSource.getRepository(HostEntity).findOneByOrFail({ id: envRow.hostId });
    const id = agentId('moving');
    const first = await agentOn(a, a, id);
    const target = (await a.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: source.siteId, ownerGroupId: source.ownerGroupId, hostname: 'moving-box', agent: id } })).createHost.id as string;
    await until('host UP on its agent\'s heartbeat', async () => ((await a.ok('query ($id: ID!) { host(id: $id) { state } }', { id: target })).host.state === 'UP' ? true : undefined), 20_000);
    const left = whenAgent(a, id, false, () => undefined);
    first.dialer.stop();
    await first.running;
    await left;
    // Asked through A in the very tick B records it: A has not heard B's claim yet.
    const policy = { id: randomUUID(), targetKind: ReplicationTargetKind.SITE, targetId: source.siteId, storeHostId: null } as unknown as ReplicationPolicyEntity;
    const seen = whenAgent(b, id, true, () => {
      const presence = a.gateway.agents.presence(id);
      const moveTo = chooseTargetHost(a.gateway.dataSource, a.gateway.agents, envRow, source, target);
      const keeper = a.gateway.services.replication.stores.holderFor(policy, envRow);
      moveTo.catch(() => undefined);
      keeper.catch(() => undefined);
      return { presence, moveTo, keeper };
    });
    await agentOn(b, a, id, first.dataDir);
    const { presence, moveTo, keeper } = await seen;
    expect(presence).toBe('arriving');
    await expect(moveTo).resolves.toMatchObject({ id: target });
    await expect(keeper).resolves.toMatchObject({ id: target });
  });

  test('interactive sessions through replica A to an agent connected to replica B: echo, exit code, a TTY resized, the console, the CLI; a revoked token closes one; the agent link dropping ends one with UNAVAILABLE', async () => {
    const { id, dialer, group, env } = await environmentOnB('shells');
    // The agent is not on A: every session below goes through the relay to B.
    expect(a.gateway.agents.get(id)).toBeUndefined();
    const onB = b.gateway.agents.get(id) as AgentClient;

    /** A session through A as `token`: each input sent once the output so far matches the pattern before it; its output and exit code. */
    const session = (start: ExecStart, input: ExecScriptStep[], token = a.adminToken) => runExecScript(a.gateway.url, token, start, input, false);

    // Standard input in, stdout and stderr apart, the exit code.
    expect(await session({ environment: env, command: ['sh'] }, [[null, 'cat /etc/greeting\n'], [/far\n/, 'cat /missing\n'], [null, 'exit 3\n']])).toEqual({ stdout: 'far\n', stderr: expect.stringContaining('cat: ') as string, exitCode: 3 });
    // On a TTY of the asked size, resized: the agent's process sees both.
    const tty = await session({ environment: env, command: ['sh'], tty: true, columns: 100, rows: 30 }, [[null, 'stty size\r'], [/30 100\r\n/, (s) => s.resize(120, 40)], [null, 'stty size\r'], [/40 120\r\n/, 'exit 7\r']]);
    expect(tty).toEqual({ stdout: 'stty size\r\n30 100\r\nstty size\r\n40 120\r\nexit 7\r\n', stderr: '', exitCode: 7 });
    // The console of the fake driver: its line shell on a terminal.
    const console = await session({ environment: env, console: true }, [[null, 'echo on-console\r'], [/on-console\r\non-console\r\n/, 'exit\r']]);
    expect(console).toMatchObject({ stdout: expect.stringContaining('on-console\r\non-console\r\n') as string, exitCode: 0 });
    // rsp env exec -i through A.
    const cli = spawnRsp(['env', 'exec', '-i', env, '--', 'sh'], { RSP_URL: a.gateway.url, RSP_TOKEN: a.adminToken });
    cli.child.stdin.end('cat /etc/greeting\nexit 4\n');
    expect(await cli.exited).toMatchObject({ code: 4, stdout: 'far\n' });
    await until('no session left on the agent connection', () => onB.openSessions === 0, 20_000, 20);

    // A token revoked closes its session on A, and the close reaches the agent through B.
    const issued = (await a.ok('mutation ($i: CreateTokenInput!) { createToken(input: $i) { token { id } secret } }', { i: { groupId: group, role: 'MEMBER', name: 'shell' } })).createToken;
    let revokedOut = '';
    const revoked = openExecSession(a.gateway.url, issued.secret, { environment: env, command: ['sh'] }, (d) => (revokedOut += d.toString('utf8')), () => undefined);
    revoked.write('cat /etc/greeting\n');
    await until('the session answering', async () => revokedOut === 'far\n', 30_000, 50);
    expect(onB.openSessions).toBe(1);
    await a.ok('mutation ($id: ID!) { revokeToken(id: $id) { id } }', { id: issued.token.id });
    await expect(revoked.exit).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    await until('the revoked session closed on the agent connection', () => onB.openSessions === 0, 20_000, 20);

    // The agent's link to B dropping mid-session: the client on A gets UNAVAILABLE, nothing hangs.
    let stdout = '';
    const open = openExecSession(a.gateway.url, a.adminToken, { environment: env, command: ['sh'] }, (d) => (stdout += d.toString('utf8')), () => undefined);
    open.write('cat /etc/greeting\n');
    await until('the session answering', async () => stdout === 'far\n', 30_000, 50);
    dialer.stop();
    await expect(open.exit).rejects.toMatchObject({ code: 'UNAVAILABLE', message: expect.stringContaining(`Host agent ${id} went away during the session`) });
  }, 120_000);

  test('flow control holds across the relay: a client through A that does not read holds the process on the agent back, each replica keeping about a window of it; once read, every byte arrives in order before the exit', async () => {
    const { id, env } = await environmentOnB('flows');
    const onB = b.gateway.agents.get(id) as AgentClient;
    // More than the client's TCP connection could take in: without the windows, the writer would finish into the replicas' memory or Redis.
    const total = tcpBufferMaxima() + 16 * 1024 * 1024;
    const writer = busyWriter(total, 64 * 1024);
    const driverSpy = jest.spyOn(FakeDriver.prototype, 'interactiveExec').mockImplementationOnce(async () => writer.proc);
    const ends = watchSessionEnds(onB);
    const toClient = serverExecSocket('send');
    try {
      const client = await pausedExecClient(a.gateway.url, a.adminToken, { environment: env, command: ['produce'] });
      const { ws, received, controls, closed } = client;

      // Held back all the way: A paused its end (its socket holds more than OUTPUT_BUFFER_BYTES
      // unsent) and acknowledges no more, so B's relay paused its end of the agent's session and
      // acknowledges no more, so the agent paused the process's stdout, whose write waits.
      await until('the writer held back', () => writer.state.waiting && writer.proc.stdout.isPaused() && ends.onB?.stdout.isPaused() === true && ends.onA?.stdout.isPaused() === true, 120_000, 5);
      const onA = ends.onA!.stdout;
      const onBOut = ends.onB!.stdout;
      console.log(`held back through the relay: the writer wrote ${(writer.state.written / 1048576).toFixed(1)} of ${(total / 1048576).toFixed(0)} MiB; replica A holds ${toClient.socket!.bufferedAmount} bytes for the client and ${onA.readableLength} from B; replica B holds ${onBOut.readableLength} from the agent`);
      expect(client.receivedBytes).toBe(0);
      expect(writer.state.written).toBeLessThan(total);
      expect(toClient.socket!.bufferedAmount).toBeLessThanOrEqual(OUTPUT_BUFFER_BYTES + SESSION_CHUNK_BYTES + 16);
      expect(onA.readableLength).toBeLessThanOrEqual(onA.readableHighWaterMark + SESSION_WINDOW_BYTES + SESSION_CHUNK_BYTES);
      expect(onBOut.readableLength).toBeLessThanOrEqual(onBOut.readableHighWaterMark + SESSION_WINDOW_BYTES + SESSION_CHUNK_BYTES);

      // The client reads again: the rest flows through both replicas, all of it, in order, and only then the exit.
      ws.resume();
      expect(await closed).toBe(1000);
      expect(controls).toEqual([{ type: 'exit', exitCode: 0 }]);
      expect(client.bytesAtExit).toBe(total);
      const all = Buffer.concat(received);
      expect(all.length).toBe(total);
      expect(all.equals(counting(0, total))).toBe(true);
    } finally {
      driverSpy.mockRestore();
      ends.restore();
      toClient.restore();
    }
  }, 240_000);

  test('flow control holds across the relay the other way: a process on the agent that does not read stops replica A reading the client, each replica keeping about a window of input; once it reads, every byte arrives in order', async () => {
    const { id, env } = await environmentOnB('swallows');
    const onB = b.gateway.agents.get(id) as AgentClient;
    const total = tcpBufferMaxima() + 16 * 1024 * 1024;
    const frame = 64 * 1024;
    // The process's stdin: a pipe of 64 KiB nobody reads yet.
    const { proc, input, finish } = stuckReader();
    const driverSpy = jest.spyOn(FakeDriver.prototype, 'interactiveExec').mockImplementationOnce(async () => proc);
    const ends = watchSessionEnds(onB);
    const fromClient = serverExecSocket('pause');
    try {
      const { ws, closed } = await openExecSocket(a.gateway.url, a.adminToken);
      ws.send(JSON.stringify({ environment: env, command: ['swallow'] }));
      for (let at = 0; at < total; at += frame) ws.send(Buffer.concat([Buffer.from([STREAM.stdin]), counting(at, frame)]));

      // Held back all the way: the process's pipe is full, so the agent acknowledges no more input,
      // so B's relay waits for the window and acknowledges no more, so A's write waits for its
      // window, so A stops reading the client's socket.
      await until('replica A no longer reading the client', () => fromClient.socket?.isPaused === true && ends.onA?.stdin.writableNeedDrain === true && ends.onB?.stdin.writableNeedDrain === true, 120_000, 5);
      console.log(`held back through the relay: the client still holds ${(ws.bufferedAmount / 1048576).toFixed(1)} of ${(total / 1048576).toFixed(0)} MiB; replica A ${ends.onA!.stdin.writableLength} bytes, replica B ${ends.onB!.stdin.writableLength}`);
      expect(ws.bufferedAmount).toBeGreaterThan(0);
      expect(ends.onA!.stdin.writableLength).toBeLessThanOrEqual(ends.onA!.stdin.writableHighWaterMark + 4 * frame);
      expect(ends.onB!.stdin.writableLength).toBeLessThanOrEqual(ends.onB!.stdin.writableHighWaterMark + SESSION_WINDOW_BYTES + SESSION_CHUNK_BYTES);

      // The process reads: all of it arrives through both replicas, in order; its exit ends the session.
      const got: Buffer[] = [];
      let gotBytes = 0;
      await new Promise<void>((resolve) => input.on('data', (chunk: Buffer) => (got.push(chunk), (gotBytes += chunk.length) >= total && resolve())));
      expect(Buffer.concat(got).equals(counting(0, total))).toBe(true);
      finish(0);
      expect(await closed).toBe(1000);
    } finally {
      driverSpy.mockRestore();
      ends.restore();
      fromClient.restore();
    }
  }, 240_000);

  test("each replica's in-process agent has a stable id, claimed: a second gateway claiming it refuses to start; hosts on it are reached from the other replica", async () => {
    expect(a.gateway.agents.localId).toMatch(/^local-[0-9a-f]{12}$/);
    expect(b.gateway.agents.localId).toMatch(/^gw-b-/);
    const clash = await startTestGateway({ ...db, dataDir: mkdtempSync(join(tmpdir(), 'rsp-replica-c-')) }, { REDIS_URL, RSP_IMAGE_DIR: join(db.dataDir, 'images') }).catch((e: unknown) => e);
    expect(clash).toBeInstanceOf(ConfigError);
    expect((clash as ConfigError).message).toMatch(new RegExp(`RSP_LOCAL_AGENT_ID: another gateway on this database already serves the in-process agent "${a.gateway.agents.localId}"`));

    // A host registered through B with `agent: local` is B's own in-process agent; A reaches it through the relay.
    const group = (await b.ok('mutation { createGroup(input: { slug: "locals", name: "Locals" }) { id } }', {}, a.adminToken)).createGroup.id;
    const site = (await b.ok('mutation ($g: ID!) { createSite(input: { name: "b-site", ownerGroupId: $g }) { id } }', { g: group }, a.adminToken)).createSite.id;
    const host = (await b.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id agent } }', { i: { siteId: site, ownerGroupId: group, hostname: 'b-box', agent: 'local' } }, a.adminToken)).createHost;
    expect(host.agent).toBe(b.gateway.agents.localId);
    const relayed = await until('B\'s in-process agent in the directory of A', () => a.gateway.agents.reachable(b.gateway.agents.localId), 20_000);
    await expect(relayed.hello()).resolves.toMatchObject({ agentId: b.gateway.agents.localId });
  });

  test("inventory writes through replica A reach replica B's placement picture over Redis: host state and inventory", async () => {
    const group = (await a.ok('mutation { createGroup(input: { slug: "pictured", name: "Pictured" }) { id } }')).createGroup.id;
    const site = (await a.ok('mutation ($g: ID!) { createSite(input: { name: "pictured", ownerGroupId: $g }) { id } }', { g: group })).createSite.id;
    const host = (await a.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: site, ownerGroupId: group, hostname: 'pictured-box', agent: 'local' } })).createHost.id as string;
    await until('host UP', async () => ((await a.ok('query ($id: ID!) { host(id: $id) { state } }', { id: host })).host.state === 'UP' ? true : undefined), 20_000);
    const resource = (await a.ok('mutation ($i: CreateResourceInput!) { createResource(input: $i) { id } }', { i: { hostId: host, type: 'SLOT', unit: 'COUNT', total: 1 } })).createResource.id;
    const r = { groupId: group, resources: [{ type: 'SLOT', amount: 1, unit: 'COUNT' }], requiredProperties: [{ key: 'hostname', op: 'EQ', values: ['pictured-box'] }] };
    /** What B's picture says of the host: `candidate` or the reason it is rejected (a dry run: no catch-up). */
    const onB = async () => {
      const { placementCandidates: p } = await b.ok('query ($r: AllocationRequestInput!) { placementCandidates(request: $r) { candidates { hostname } rejected { hostname reason } } }', { r }, a.adminToken);
      return p.candidates.some((c: { hostname: string }) => c.hostname === 'pictured-box') ? 'candidate' : (p.rejected.find((x: { hostname: string }) => x.hostname === 'pictured-box')?.reason ?? 'absent');
    };
    const becomes = (expected: string) => until(`B's picture says "${expected}"`, async () => ((await onB()) === expected ? true : undefined), 15_000, 50);
    await becomes('candidate');
    await a.ok('mutation ($id: ID!) { setHostState(id: $id, state: MAINTENANCE) { state } }', { id: host });
    await becomes('host is MAINTENANCE, not UP');
    await a.ok('mutation ($id: ID!) { setHostState(id: $id, state: UP) { state } }', { id: host });
    await becomes('candidate');
    await a.ok('mutation ($i: UpdateInventoryInput!) { updateInventory(input: $i) { id } }', { i: { id: resource, total: 0 } });
    await becomes('SLOT: 1 wanted, 0 free (allocation ratio 1)');
  });

  test("an agent credential revoked through replica A drops the agent's connection on replica B", async () => {
    const id = agentId('revoked');
    const { running } = await agentOn(b, a, id);
    expect((await a.ok('mutation ($a: String!) { revokeAgentCredential(agentId: $a) }', { a: id })).revokeAgentCredential).toBe(1);
    await expect(running).rejects.toMatchObject({ category: 'UNAUTHENTICATED', message: expect.stringMatching(/revoked/) });
    await until(`agent ${id} gone from replica B`, () => b.gateway.agents.get(id) === undefined, 20_000);
    await until(`agent ${id} gone from the directory of replica A`, () => a.gateway.agents.reachable(id) === undefined, 20_000);
  });
});
