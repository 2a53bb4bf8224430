import { randomInt } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import WebSocket from 'ws';
import type { InteractiveProcess } from '../../drivers/contract';
import { openExecSession } from '../../gateway/cli/exec-client';
import { createRootfsTar, FakeDriver } from '../../drivers/fake';
import { SESSION_CHUNK_BYTES, SESSION_WINDOW_BYTES } from '../../gateway/agent/stream-frames';
import { STREAM, type ExecStart } from '../../gateway/server/exec-protocol';
import { OUTPUT_BUFFER_BYTES } from '../../gateway/server/exec-socket';
import { spawnRsp } from '../helpers/cli';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { describeWithEngine } from '../helpers/engines';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { NamedEnvironments } from '../helpers/named-environments';
import { buildWorld, World } from '../helpers/scenario';
import { busyWriter, counting, openExecSocket, pausedExecClient, serverExecSocket, stuckReader, tcpBufferMaxima } from '../helpers/busy-writer';
import { runExecScript } from '../helpers/exec-script';
import { until } from '../helpers/until';
import { buildBusyboxRootfs } from '../fixtures/busybox-rootfs';

/** The code a refused session ended with. */
async function refusal(t: TestGateway, token: string | undefined, start: ExecStart): Promise<string | undefined> {
  return runExecScript(t.gateway.url, token, start, []).then(
    () => 'not refused',
    (e: unknown) => (e as { code?: string }).code,
  );
}

/** The shared cases of both engines, over a running environment `env()` of group A. */
function commonCases(ctx: () => { t: TestGateway; w: World; env: string }) {
  test('the session is refused without a token, with a bad one, and to another group', async () => {
    const { t, w, env } = ctx();
    const start = { environment: env, command: ['sh'] };
    expect(await refusal(t, undefined, start)).toBe('UNAUTHENTICATED');
    expect(await refusal(t, 'rsp_not-a-token', start)).toBe('UNAUTHENTICATED');
    expect(await refusal(t, w.tokens.memberB, start)).toMatch(/^(NOT_FOUND|FORBIDDEN)$/);
    expect(await refusal(t, w.tokens.viewerA, start)).toBe('FORBIDDEN');
    expect(await refusal(t, w.tokens.memberA, { ...start, command: [] })).toBe('BAD_USER_INPUT');
  }, 60_000);

  test('a bare socket must offer the exec protocol and start with a JSON frame', async () => {
    const { t, w } = ctx();
    const ws = new WebSocket(`${t.gateway.url.replace(/^http/, 'ws')}/exec`, ['rsp.exec.v1'], { headers: { authorization: `Bearer ${w.tokens.memberA}` } });
    const frames: string[] = [];
    ws.on('open', () => ws.send(Buffer.from([0, 1, 2])));
    ws.on('message', (d: Buffer) => frames.push(d.toString('utf8')));
    const code = await new Promise<number>((resolve) => ws.on('close', resolve));
    expect(code).toBe(4400);
    expect(JSON.parse(frames[0]!)).toMatchObject({ type: 'error', code: 'BAD_USER_INPUT' });
  }, 30_000);
}

/** A gateway on the fake driver (with `settings`) and a running environment `shell` of group A. */
async function startFakeShell(settings: Record<string, string> = {}): Promise<{ db: TestDatabase; t: TestGateway; w: World; env: string }> {
  const db = await createTestDatabase('pglite');
  const t = await startTestGateway(db, settings);
  const w = await buildWorld(t);
  const image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: 'fake', version: '1', technology: 'fake' } })).registerImage.id;
  expect((await t.upload(image, createRootfsTar({ '/etc/hostname': 'x' }))).status).toBe(200);
  const created = (await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: w.groupA, hostId: w.host1, imageId: image, name: 'shell' } })).createEnvironment;
  const env = created.environment.id as string;
  await t.gateway.services.operations.settled(created.operation.id);
  await t.gateway.services.operations.settled((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: env })).startEnvironment.id);
  return { db, t, w, env };
}

describe('interactive exec over /exec (fake driver)', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;
  let env: string;

  beforeAll(async () => {
    ({ db, t, w, env } = await startFakeShell());
  }, 120_000);

  afterAll(async () => {
    await t?.close();
    await db?.drop();
  }, 60_000);

  commonCases(() => ({ t, w, env }));

  test('echo round trip: each line is answered before the next is sent, and exit N is the exit code', async () => {
    const r = await runExecScript(t.gateway.url, w.tokens.memberA, { environment: env, command: ['sh'] }, [[null, 'echo hello\n'], [/hello\n/, 'cat /missing\n'], [null, 'exit 3\n']], false);
    expect(r).toEqual({ stdout: 'hello\n', stderr: expect.stringContaining('cat: ') as string, exitCode: 3 });
  }, 30_000);

  test('a command other than sh reads the whole standard input', async () => {
    expect(await runExecScript(t.gateway.url, w.tokens.memberA, { environment: env, command: ['cat'] }, [[null, 'a'], [null, 'bc']])).toEqual({ stdout: 'abc', stderr: '', exitCode: 0 });
  }, 30_000);

  test('with a TTY the input is echoed and lines end in CRLF', async () => {
    const r = await runExecScript(t.gateway.url, w.tokens.memberA, { environment: env, command: ['sh'], tty: true, columns: 100, rows: 30 }, [[null, 'echo hi\r'], [/hi\r\nhi\r\n/, 'exit\r']], false);
    expect(r).toEqual({ stdout: 'echo hi\r\nhi\r\nexit\r\n', stderr: '', exitCode: 0 });
  }, 30_000);

  test('revoking the token closes its open session', async () => {
    const issued = (await t.ok('mutation ($i: CreateTokenInput!) { createToken(input: $i) { token { id } secret } }', { i: { groupId: w.groupA, role: 'MEMBER', name: 'shell' } })).createToken;
    let stdout = '';
    const session = openExecSession(t.gateway.url, issued.secret, { environment: env, command: ['sh'] }, (b) => (stdout += b.toString('utf8')), () => undefined);
    session.write('echo up\n');
    await until('the session answering', async () => stdout === 'up\n', 30_000, 50);
    await t.ok('mutation ($id: ID!) { revokeToken(id: $id) { id } }', { id: issued.token.id });
    await expect(session.exit).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
  }, 60_000);

  test('revoking the token that made its token closes the session too', async () => {
    const mint = async (maker: string | undefined, name: string, role: string) => (await t.ok('mutation ($i: CreateTokenInput!) { createToken(input: $i) { token { id } secret } }', { i: { groupId: w.groupA, role, name } }, maker)).createToken as { token: { id: string }; secret: string };
    const maker = await mint(undefined, 'maker', 'ADMIN');
    const made = await mint(maker.secret, 'made', 'MEMBER');
    let stdout = '';
    const session = openExecSession(t.gateway.url, made.secret, { environment: env, command: ['sh'] }, (b) => (stdout += b.toString('utf8')), () => undefined);
    session.write('echo up\n');
    await until('the session answering', async () => stdout === 'up\n', 30_000, 50);
    await t.ok('mutation ($id: ID!) { revokeToken(id: $id) { id } }', { id: maker.token.id });
    await expect(session.exit).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
  }, 60_000);

  test('a session ends once its environment is stopped or destroyed, with the reason', async () => {
    const image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: 'lost', version: '1', technology: 'fake' } })).registerImage.id as string;
    expect((await t.upload(image, createRootfsTar({ '/etc/hostname': 'x' }))).status).toBe(200);
    const running = async (name: string) => {
      const created = (await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: w.groupA, hostId: w.host1, imageId: image, name } })).createEnvironment;
      await t.gateway.services.operations.settled(created.operation.id);
      await t.gateway.services.operations.settled((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: created.environment.id })).startEnvironment.id);
      return created.environment.id as string;
    };
    const open = async (environment: string) => {
      let stdout = '';
      const session = openExecSession(t.gateway.url, w.tokens.memberA, { environment, command: ['sh'] }, (b) => (stdout += b.toString('utf8')), () => undefined);
      session.write('echo up\n');
      await until('the session answering', async () => stdout === 'up\n', 30_000, 50);
      return session;
    };
    const stopped = await running('lost-stopped');
    const first = await open(stopped);
    await t.gateway.services.operations.settled((await t.ok('mutation ($id: ID!) { stopEnvironment(id: $id) { id } }', { id: stopped })).stopEnvironment.id);
    await expect(first.exit).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('not RUNNING: the session was closed') });

    const destroyed = await running('lost-destroyed');
    const second = await open(destroyed);
    await t.gateway.services.operations.settled((await t.ok('mutation ($id: ID!) { destroyEnvironment(id: $id) { id } }', { id: destroyed })).destroyEnvironment.id);
    await expect(second.exit).rejects.toMatchObject({ code: expect.stringMatching(/^(NOT_FOUND|CONFLICT)$/) });
  }, 120_000);

  test('rsp env exec -i streams standard input and exits with the command\'s code', async () => {
    const p = spawnRsp(['env', 'exec', '-i', env, '--', 'sh'], { RSP_URL: t.gateway.url, RSP_TOKEN: w.tokens.memberA });
    p.child.stdin.end('echo from-cli\nexit 4\n');
    const r = await p.exited;
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 4, stdout: 'from-cli\n' });
    const refused = spawnRsp(['env', 'exec', '-i', env, '--', 'sh'], { RSP_URL: t.gateway.url, RSP_TOKEN: w.tokens.memberB });
    refused.child.stdin.end();
    expect((await refused.exited).code).toBe(4);
  }, 60_000);
});

describe('console sessions over /exec (fake driver)', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;
  let env: string;

  beforeAll(async () => {
    ({ db, t, w, env } = await startFakeShell());
  }, 120_000);

  afterAll(async () => {
    await t?.close();
    await db?.drop();
  }, 60_000);

  test('a member attaches, types and reads; one session at a time; a viewer, another group or a command is refused', async () => {
    const start = { environment: env, console: true };
    expect(await refusal(t, w.tokens.viewerA, start)).toBe('FORBIDDEN');
    expect(await refusal(t, w.tokens.memberB, start)).toMatch(/^(NOT_FOUND|FORBIDDEN)$/);
    expect(await refusal(t, w.tokens.memberA, { ...start, command: ['sh'] })).toBe('BAD_USER_INPUT');
    let stdout = '';
    const session = openExecSession(t.gateway.url, w.tokens.memberA, start, (b) => (stdout += b.toString('utf8')), () => undefined);
    session.write('echo on-console\r');
    await until('the console answering', async () => stdout.includes('on-console\r\non-console\r\n'), 30_000, 50);
    expect(await refusal(t, w.tokens.memberA, start)).toBe('CONFLICT');
    session.close();
    await session.exit.catch(() => undefined);
    // Detaching freed the console: the next session attaches.
    const r = await runExecScript(t.gateway.url, w.tokens.memberA, start, [[null, 'echo again\r'], [/again\r\nagain\r\n/, 'exit\r']], false);
    expect(r.exitCode).toBe(0);
  }, 60_000);

  test('revoking the token closes its console session', async () => {
    const issued = (await t.ok('mutation ($i: CreateTokenInput!) { createToken(input: $i) { token { id } secret } }', { i: { groupId: w.groupA, role: 'MEMBER', name: 'console' } })).createToken;
    let stdout = '';
    const session = openExecSession(t.gateway.url, issued.secret, { environment: env, console: true }, (b) => (stdout += b.toString('utf8')), () => undefined);
    session.write('echo up\r');
    await until('the console answering', async () => stdout.includes('up\r\nup\r\n'), 30_000, 50);
    await t.ok('mutation ($id: ID!) { revokeToken(id: $id) { id } }', { id: issued.token.id });
    await expect(session.exit).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
  }, 60_000);

  test('rsp env console forwards what is typed and detaches on Ctrl-] with exit code 0', async () => {
    const p = spawnRsp(['env', 'console', env], { RSP_URL: t.gateway.url, RSP_TOKEN: w.tokens.memberA });
    p.child.stdin.write('echo from-cli\r');
    await p.waitFor(/from-cli\r\nfrom-cli\r\n/);
    p.child.stdin.write(Buffer.from([0x1d]));
    expect((await p.exited).code).toBe(0);
    const refused = spawnRsp(['env', 'console', env], { RSP_URL: t.gateway.url, RSP_TOKEN: w.tokens.viewerA });
    expect((await refused.exited).code).toBe(4);
  }, 60_000);

  test('rsp env console with its input ended at once (a script, </dev/null): a refusal is still told, with its exit code; a running console detaches with 0', async () => {
    const run = async (id: string, token: string) => {
      const p = spawnRsp(['env', 'console', id], { RSP_URL: t.gateway.url, RSP_TOKEN: token });
      p.child.stdin.end();
      return p.exited;
    };
    const unknown = await run('00000000-0000-0000-0000-000000000000', w.tokens.memberA);
    expect({ code: unknown.code, stderr: unknown.stderr }).toEqual({ code: 4, stderr: expect.stringMatching(/was not found \[NOT_FOUND\]/) });
    const notAnId = await run('web', w.tokens.memberA);
    expect({ code: notAnId.code, stderr: notAnId.stderr }).toEqual({ code: 2, stderr: 'rsp: Not an id: "web" (ids are UUIDs) [BAD_USER_INPUT]\n' });
    expect((await run(env, w.tokens.viewerA)).code).toBe(4);
    expect(await run(env, w.tokens.memberA)).toMatchObject({ code: 0, stderr: '' });
    const { environment } = await t.ok('query ($id: ID!) { environment(id: $id) { status } }', { id: env });
    expect(environment.status).toBe('RUNNING');
  }, 60_000);
});

describe('interactive exec of an environment behind the agent protocol', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;
  let env: string;

  beforeAll(async () => {
    ({ db, t, w, env } = await startFakeShell({ RSP_AGENT_TRANSPORT: 'loopback' }));
  }, 120_000);

  afterAll(async () => {
    await t?.close();
    await db?.drop();
  }, 60_000);

  test('works as a session over the agent connection: echo, exit code, a TTY resized, a console', async () => {
    const r = await runExecScript(t.gateway.url, w.tokens.memberA, { environment: env, command: ['sh'] }, [[null, 'echo hello\n'], [/hello\n/, 'cat /missing\n'], [null, 'exit 3\n']], false);
    expect(r).toEqual({ stdout: 'hello\n', stderr: expect.stringContaining('cat: ') as string, exitCode: 3 });
    const tty = await runExecScript(t.gateway.url, w.tokens.memberA, { environment: env, command: ['sh'], tty: true, columns: 100, rows: 30 }, [[null, 'stty size\r'], [/30 100\r\n/, (s) => s.resize(120, 40)], [null, 'stty size\r'], [/40 120\r\n/, 'exit 7\r']], false);
    expect(tty.exitCode).toBe(7);
    const console = await runExecScript(t.gateway.url, w.tokens.memberA, { environment: env, console: true }, [[null, 'echo on-console\r'], [/on-console\r\non-console\r\n/, 'exit\r']], false);
    expect(console.exitCode).toBe(0);
  }, 30_000);

  test("a client that does not read holds the process back: its writes block, the gateway keeps about OUTPUT_BUFFER_BYTES of it; once read, every byte arrives in order before the exit", async () => {
    // More than this machine's TCP buffers could take in: without the pause, the writer would finish into the gateway's memory.
    const total = Math.max(64 * 1024 * 1024, 2 * tcpBufferMaxima());
    const writer = busyWriter(total, 64 * 1024);
    // The fake driver's process is the busy writer; the gateway's end of it (over the agent protocol) and its socket to the client are watched.
    const driverSpy = jest.spyOn(FakeDriver.prototype, 'interactiveExec').mockImplementationOnce(async () => writer.proc);
    const original = t.gateway.services.environments.interactiveExec.bind(t.gateway.services.environments);
    let gatewaySide: InteractiveProcess | undefined;
    const serviceSpy = jest.spyOn(t.gateway.services.environments, 'interactiveExec').mockImplementationOnce(async (...args) => (gatewaySide = await original(...args)));
    const toClient = serverExecSocket('send');
    try {
      // The client stops reading its socket, then starts the session.
      const client = await pausedExecClient(t.gateway.url, w.tokens.memberA, { environment: env, command: ['produce'] });
      const { ws, received, controls, closed } = client;

      // Held back all the way: the gateway paused the session's output (its socket to the client
      // holds more than OUTPUT_BUFFER_BYTES unsent), so it acknowledges no more of it, so the agent
      // paused the process's stdout, so the process's write found its pipe full and waits.
      await until('the writer held back', () => writer.state.waiting && writer.proc.stdout.isPaused() && gatewaySide?.stdout.isPaused() === true, 60_000, 5);
      const stdout = gatewaySide!.stdout;
      console.log(`held back: the writer wrote ${(writer.state.written / 1048576).toFixed(1)} of ${(total / 1048576).toFixed(0)} MiB; the gateway holds ${toClient.socket!.bufferedAmount} bytes for the client and ${stdout.readableLength} from the agent`);
      expect(client.receivedBytes).toBe(0);
      // What the writer got out fits in the TCP buffers and the windows: the rest waits in the writer.
      expect(writer.state.written).toBeLessThanOrEqual(tcpBufferMaxima() + 4 * 1024 * 1024);
      // What the gateway holds for this session: at most one frame past OUTPUT_BUFFER_BYTES unsent,
      // and what the agent's window lets arrive unread.
      expect(toClient.socket!.bufferedAmount).toBeLessThanOrEqual(OUTPUT_BUFFER_BYTES + SESSION_CHUNK_BYTES + 16);
      expect(stdout.readableLength).toBeLessThanOrEqual(stdout.readableHighWaterMark + SESSION_WINDOW_BYTES + SESSION_CHUNK_BYTES);

      // The client reads again: the rest flows, all of it, in order, and only then the exit.
      ws.resume();
      expect(await closed).toBe(1000);
      expect(controls).toEqual([{ type: 'exit', exitCode: 0 }]);
      expect(client.bytesAtExit).toBe(total);
      const all = Buffer.concat(received);
      expect(all.length).toBe(total);
      expect(all.equals(counting(0, total))).toBe(true);
    } finally {
      driverSpy.mockRestore();
      serviceSpy.mockRestore();
      toClient.restore();
    }
  }, 120_000);

  test('a process that does not read its input stops the gateway reading the client: the client\'s sends wait; once the process reads, every byte arrives in order', async () => {
    const total = Math.max(64 * 1024 * 1024, 2 * tcpBufferMaxima());
    const frame = 64 * 1024;
    // The process's stdin: a pipe of 64 KiB nobody reads yet.
    const { proc, input, finish } = stuckReader();
    const driverSpy = jest.spyOn(FakeDriver.prototype, 'interactiveExec').mockImplementationOnce(async () => proc);
    const original = t.gateway.services.environments.interactiveExec.bind(t.gateway.services.environments);
    let gatewaySide: InteractiveProcess | undefined;
    const serviceSpy = jest.spyOn(t.gateway.services.environments, 'interactiveExec').mockImplementationOnce(async (...args) => (gatewaySide = await original(...args)));
    const fromClient = serverExecSocket('pause');
    try {
      const { ws, closed } = await openExecSocket(t.gateway.url, w.tokens.memberA);
      ws.send(JSON.stringify({ environment: env, command: ['swallow'] }));
      for (let at = 0; at < total; at += frame) ws.send(Buffer.concat([Buffer.from([STREAM.stdin]), counting(at, frame)]));

      // Held back all the way: the process's pipe is full, so the agent acknowledges no more input,
      // so the gateway's write waits for the window, so the gateway stops reading the client's socket.
      await until('the gateway no longer reading the client', () => fromClient.socket?.isPaused === true && gatewaySide?.stdin.writableNeedDrain === true, 60_000, 5);
      console.log(`held back: the client still holds ${(ws.bufferedAmount / 1048576).toFixed(1)} of ${(total / 1048576).toFixed(0)} MiB; the gateway ${gatewaySide!.stdin.writableLength} bytes`);
      // What left the client fits in the TCP buffers and the windows: the rest waits in the client.
      expect(total - ws.bufferedAmount).toBeLessThanOrEqual(tcpBufferMaxima() + 4 * 1024 * 1024);
      // The gateway holds the write that waits, and the few frames its socket had read before it paused.
      expect(gatewaySide!.stdin.writableLength).toBeLessThanOrEqual(gatewaySide!.stdin.writableHighWaterMark + 4 * frame);

      // The process reads: all of it arrives, in order; its exit ends the session.
      const got: Buffer[] = [];
      let gotBytes = 0;
      await new Promise<void>((resolve) => input.on('data', (chunk: Buffer) => (got.push(chunk), (gotBytes += chunk.length) >= total && resolve())));
      expect(Buffer.concat(got).equals(counting(0, total))).toBe(true);
      finish(0);
      expect(await closed).toBe(1000);
    } finally {
      driverSpy.mockRestore();
      serviceSpy.mockRestore();
      fromClient.restore();
    }
  }, 120_000);
});

describeWithEngine('docker', 'interactive exec over /exec (docker)', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;
  let env: string;

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db, { RSP_DRIVERS: 'docker' });
    w = await buildWorld(t);
    const image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: 'busybox', version: '1', technology: 'docker' } })).registerImage.id;
    expect((await t.upload(image, await readFile(await buildBusyboxRootfs()))).status).toBe(200);
    const input = { groupId: w.groupA, hostId: w.host1, imageId: image, name: 'shell', network: 'none', command: ['sleep', '3600'] };
    const created = (await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: input })).createEnvironment;
    env = created.environment.id;
    expect((await t.gateway.services.operations.settled(created.operation.id)).state).toBe('SUCCEEDED');
    expect((await t.gateway.services.operations.settled((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: env })).startEnvironment.id)).state).toBe('SUCCEEDED');
  }, 180_000);

  afterAll(async () => {
    if (env) await t.gateway.services.operations.settled((await t.gql('mutation ($id: ID!) { destroyEnvironment(id: $id) { id } }', { id: env })).data?.destroyEnvironment?.id ?? '').catch(() => undefined);
    await t?.close();
    await db?.drop();
  }, 120_000);

  commonCases(() => ({ t, w, env }));

  test('echo round trip through a real shell, stderr apart, exit code', async () => {
    const r = await runExecScript(t.gateway.url, w.tokens.memberA, { environment: env, command: ['sh'] }, [[null, 'echo hello\n'], [/hello\n/, 'echo oops >&2\n'], [null, 'exit 3\n']], false);
    expect(r).toEqual({ stdout: 'hello\n', stderr: 'oops\n', exitCode: 3 });
  }, 60_000);

  test('the end of standard input reaches the process', async () => {
    expect(await runExecScript(t.gateway.url, w.tokens.memberA, { environment: env, command: ['sh', '-c', 'cat; exit 5'] }, [[null, 'abc']])).toEqual({ stdout: 'abc', stderr: '', exitCode: 5 });
  }, 60_000);

  test('a process on a terminal ends when its client goes', async () => {
    let stdout = '';
    const session = openExecSession(t.gateway.url, w.tokens.memberA, { environment: env, command: ['sh', '-c', 'echo started; exec sleep 4321'], tty: true }, (b) => (stdout += b.toString('utf8')), () => undefined);
    await until('the process started', async () => stdout.includes('started'), 30_000, 50);
    const ps = async () => (await t.ok('mutation ($id: ID!, $c: [String!]!) { execEnvironment(id: $id, command: $c) { stdout } }', { id: env, c: ['ps'] })).execEnvironment.stdout as string;
    expect(await ps()).toContain('sleep 4321');
    session.close();
    await session.exit.catch(() => undefined);
    expect(await until('the sleep gone', async () => !(await ps()).includes('sleep 4321'), 30_000, 250)).toBe(true);
  }, 60_000);

  test('a TTY of the asked size, resized, on a pseudo-terminal', async () => {
    const r = await runExecScript(t.gateway.url, w.tokens.memberA, { environment: env, command: ['sh'], tty: true, columns: 100, rows: 30 }, [[null, 'stty size; tty\r'], [/30 100\r\n\/dev\/pts\//, (s) => s.resize(120, 40)], [null, 'stty size\r'], [/40 120\r\n/, 'exit 7\r']], false);
    expect(r.stdout).toMatch(/30 100\r\n\/dev\/pts\/\d+\r\n/);
    expect(r.stdout).toMatch(/40 120\r\n/);
    expect(r.exitCode).toBe(7);
  }, 60_000);
});

describeWithEngine('lxc', 'interactive exec over /exec (lxc)', () => {
  let n: NamedEnvironments;
  let env: string;

  beforeAll(async () => {
    n = await NamedEnvironments.start('lxc', `10.137.${randomInt(256)}.0/29`);
    env = await n.running('shell');
  }, 180_000);
  afterAll(() => n?.close(), 120_000);

  commonCases(() => ({ t: n.t, w: n.w, env }));

  test('echo round trip through lxc-attach, stderr apart, exit code; the end of input reaches the process', async () => {
    const r = await runExecScript(n.t.gateway.url, n.w.tokens.memberA, { environment: env, command: ['sh'] }, [[null, 'echo hello\n'], [/hello\n/, 'echo oops >&2\n'], [null, 'exit 3\n']], false);
    expect(r).toEqual({ stdout: 'hello\n', stderr: 'oops\n', exitCode: 3 });
    expect(await runExecScript(n.t.gateway.url, n.w.tokens.memberA, { environment: env, command: ['sh', '-c', 'cat; exit 5'] }, [[null, 'abc']])).toEqual({ stdout: 'abc', stderr: '', exitCode: 5 });
  }, 60_000);

  test('a TTY of the asked size, resized, on a pseudo-terminal of the container; input echoed; exit code', async () => {
    const r = await runExecScript(n.t.gateway.url, n.w.tokens.memberA, { environment: env, command: ['sh'], tty: true, columns: 100, rows: 30 }, [[null, 'stty size; tty\r'], [/30 100\r\n\/dev\/pts\/\d+\r\n/, (s) => s.resize(120, 40)], [null, 'stty size; echo typed-$((6*7))\r'], [/40 120\r\ntyped-42\r\n/, 'exit 7\r']], false);
    expect(r.stdout).toMatch(/30 100\r\n\/dev\/pts\/\d+\r\n/);
    // The shell's line editor echoes what is typed; after a resize it may redraw the line in
    // pieces (cursor queries, erase-to-end), so the echo is found, not its exact rendering.
    expect(r.stdout).toMatch(/echo typed-\$\(\(6\*7\)\)/);
    expect(r.stdout).toMatch(/40 120\r\ntyped-42\r\n/);
    expect(r).toMatchObject({ stderr: '', exitCode: 7 });
  }, 60_000);

  test('a process on a terminal ends when its client goes', async () => {
    let stdout = '';
    const session = openExecSession(n.t.gateway.url, n.w.tokens.memberA, { environment: env, command: ['sh', '-c', 'echo started; exec sleep 4322'], tty: true }, (b) => (stdout += b.toString('utf8')), () => undefined);
    await until('the process started', async () => stdout.includes('started'), 30_000, 50);
    const ps = async () => (await n.exec(env, ['ps'])).stdout;
    expect(await ps()).toContain('sleep 4322');
    session.close();
    await session.exit.catch(() => undefined);
    expect(await until('the sleep gone', async () => !(await ps()).includes('sleep 4322'), 30_000, 250)).toBe(true);
  }, 60_000);
});

/**
 * The console of a container whose main process is a shell (`sh`, reading its console): a member
 * attaches, types a command and reads its answer; a second session is CONFLICT; detaching leaves
 * the container running and its shell listening (the next session is answered); revoking the
 * token closes a session.
 */
function containerConsoleCases(ctx: () => { n: NamedEnvironments; env: string }) {
  /** Attaches as `token`, collecting stdout and stderr together (a console without a TTY keeps them apart). */
  const attach = (n: NamedEnvironments, token: string, env: string) => {
    let out = '';
    const session = openExecSession(n.t.gateway.url, token, { environment: env, console: true }, (b) => (out += b.toString('utf8')), (b) => (out += b.toString('utf8')));
    return { session, out: () => out };
  };

  test('attach, type a command and read its answer; a second session is CONFLICT; a detach leaves the container and its shell running', async () => {
    const { n, env } = ctx();
    const first = attach(n, n.w.tokens.memberA, env);
    // The answer, not an echo of what was typed: $((6*7)) is expanded by the shell.
    first.session.write('echo con-$((6*7))\n');
    await until('the answer on the console', async () => first.out().includes('con-42'), 30_000, 50);
    expect(await refusal(n.t, n.w.tokens.memberA, { environment: env, console: true })).toBe('CONFLICT');
    first.session.close();
    await first.session.exit.catch(() => undefined);
    expect(await n.exec(env, ['echo', 'still-running'])).toMatchObject({ exitCode: 0, stdout: 'still-running\n' });
    // The same shell answers the next session: the detach closed neither it nor its input.
    const second = attach(n, n.w.tokens.memberA, env);
    second.session.write('echo again-$((2+3))\n');
    await until('the second session answered', async () => second.out().includes('again-5'), 30_000, 50);
    second.session.close();
    await second.session.exit.catch(() => undefined);
    expect((await n.exec(env, ['echo', 'still-running'])).exitCode).toBe(0);
  }, 90_000);

  test('revoking the token closes its console session', async () => {
    const { n, env } = ctx();
    const issued = (await n.t.ok('mutation ($i: CreateTokenInput!) { createToken(input: $i) { token { id } secret } }', { i: { groupId: n.w.groupA, role: 'MEMBER', name: 'console' } })).createToken;
    const s = attach(n, issued.secret, env);
    s.session.write('echo up-$((1+1))\n');
    await until('the console answering', async () => s.out().includes('up-2'), 30_000, 50);
    await n.t.ok('mutation ($id: ID!) { revokeToken(id: $id) { id } }', { id: issued.token.id });
    await expect(s.session.exit).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
  }, 60_000);
}

describeWithEngine('docker', 'console sessions over /exec (docker: the main process)', () => {
  let n: NamedEnvironments;
  let env: string;

  beforeAll(async () => {
    n = await NamedEnvironments.start('docker', `10.138.${randomInt(256)}.0/29`);
    env = await n.running('console', { network: 'none', command: ['sh'] });
  }, 180_000);
  afterAll(() => n?.close(), 120_000);

  containerConsoleCases(() => ({ n, env }));
});

describeWithEngine('lxc', 'console sessions over /exec (lxc: /dev/console)', () => {
  let n: NamedEnvironments;
  let env: string;

  beforeAll(async () => {
    n = await NamedEnvironments.start('lxc', `10.139.${randomInt(256)}.0/29`);
    env = await n.running('console', { network: 'none', command: ['sh'] });
  }, 180_000);
  afterAll(() => n?.close(), 120_000);

  containerConsoleCases(() => ({ n, env }));

  test('what is typed reaches the console as typed: Ctrl-a q (lxc-console\'s escape) does not detach, and its banner is not shown', async () => {
    let out = '';
    let ended = false;
    // The last test's session, cut by the gateway when its token was revoked, holds the console until its lxc-console has
    // exited (a busy machine takes a while): a session refused CONFLICT meanwhile is opened again once the refusal came.
    const session = await until('a console session of its own', async () => {
      out = '';
      ended = false;
      let refused = false;
      const attempt = openExecSession(n.t.gateway.url, n.w.tokens.memberA, { environment: env, console: true }, (b) => (out += b.toString('utf8')), (b) => (out += b.toString('utf8')));
      void attempt.exit
        .catch((e: { code?: string }) => void (refused = e?.code === 'CONFLICT'))
        .finally(() => (ended = true));
      attempt.write('\x01q\n');
      attempt.write('echo after-$((3+4))\n');
      await until('the answer after Ctrl-a q, or the session gone', async () => out.includes('after-7') || ended, 30_000, 50);
      return refused ? undefined : attempt;
    }, 60_000, 200);
    expect({ ended, answered: out.includes('after-7') }).toEqual({ ended: false, answered: true });
    expect(out).not.toContain('Connected to tty');
    session.close();
    await session.exit.catch(() => undefined);
  }, 120_000);
});
