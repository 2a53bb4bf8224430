import { PassThrough, Readable } from 'node:stream';
import pino from 'pino';
import { FakeFilesystem } from '../../../packages/sdk/src/fake/filesystem';
import { startInteractive } from '../../../packages/sdk/src/fake/interactive';
import type { InteractiveProcess } from '../../../drivers/contract';
import { AgentClient } from '../../../gateway/agent/agent-client';
import { AgentDispatcher } from '../../../gateway/agent/agent-dispatcher';
import type { HostAgent } from '../../../gateway/agent/host-agent';
import { loopbackPair } from '../../../gateway/agent/loopback-channel';
import { AGENT_PROTOCOL_VERSION } from '../../../gateway/agent/protocol';
import { decodeStreamFrame, encodeStreamFrame, openSessionParams, SESSION_CHUNK_BYTES } from '../../../gateway/agent/stream-frames';
import type { StreamFrame } from '../../../gateway/agent/stream-frames';
import { SessionClient, SessionServer } from '../../../gateway/agent/stream-sessions';
import { NotFoundError } from '../../../gateway/errors';

const logger = pino({ level: 'silent' });

/** An agent with one running environment `e1` of driver `fake` whose processes are `make`'s. */
function sessionAgent(id: string, make: (command: string[], options: { tty?: boolean; columns?: number; rows?: number }) => InteractiveProcess): HostAgent & { killed: number } {
  const agent = {
    id,
    killed: 0,
    hello: async () => ({ agentId: id, protocol: AGENT_PROTOCOL_VERSION, software: 'test-1.2.3' }),
    inspectEnvironment: async ({ environmentId }: { environmentId: string }) => {
      if (environmentId !== 'e1') throw new NotFoundError('Environment', environmentId);
      return { id: environmentId, state: 'running' };
    },
    interactiveExec: async ({ command, tty, columns, rows }: { command: string[]; tty?: boolean; columns?: number; rows?: number }) => {
      const proc = make(command, { tty, columns, rows });
      const kill = proc.kill.bind(proc);
      return { ...proc, kill: () => (agent.killed++, kill()) };
    },
    console: async () => make(['sh'], { tty: true }),
  };
  return agent as unknown as HostAgent & { killed: number };
}

const fakeShell = (command: string[], options: { tty?: boolean; columns?: number; rows?: number }) => startInteractive(command, { fs: new FakeFilesystem(new Map(), []), hostname: 'box', env: {}, onIo: () => undefined }, options);

/** A client and a dispatcher of `agent` over a loopback (the agent's connection, JSON each way). */
async function connected(agent: HostAgent, protocol = AGENT_PROTOCOL_VERSION) {
  const pair = loopbackPair();
  new AgentDispatcher(agent, pair.agentEnd, logger, protocol);
  const client = new AgentClient(agent.id, pair.gatewayEnd, { protocol });
  await client.connect();
  return { pair, client };
}

/** Reads `stream` until `pattern` matches what came so far. */
function readUntil(stream: Readable, pattern: RegExp): Promise<string> {
  let text = '';
  return new Promise((resolve, reject) => {
    const check = (chunk?: Buffer) => {
      if (chunk) text += chunk.toString('utf8');
      if (pattern.test(text)) {
        stream.off('data', check);
        resolve(text);
      }
    };
    stream.on('data', check);
    stream.once('end', () => (pattern.test(text) ? resolve(text) : reject(new Error(`ended before ${pattern}: ${JSON.stringify(text)}`))));
  });
}

describe('interactive sessions over the agent connection', () => {
  test('stdin reaches the process, its stdout and stderr come back apart, and its exit code ends the session', async () => {
    const { client } = await connected(sessionAgent('a1', fakeShell));
    const p = await client.interactiveExec!({ driver: 'fake', environmentId: 'e1', command: ['sh'] });
    p.stdin.write('echo hello\n');
    expect(await readUntil(p.stdout, /hello\n/)).toBe('hello\n');
    p.stdin.write('cat /missing\n');
    expect(await readUntil(p.stderr, /cat: /)).toMatch(/^cat: /);
    p.stdin.write('exit 3\n');
    expect(await p.exit).toBe(3);
    expect(client.openSessions).toBe(0);
  });

  test('a TTY of the asked size, resized; the end of stdin reaches the process', async () => {
    const { client } = await connected(sessionAgent('a1', fakeShell));
    const p = await client.interactiveExec!({ driver: 'fake', environmentId: 'e1', command: ['sh'], tty: true, columns: 100, rows: 30 });
    p.stdin.write('stty size\r');
    expect(await readUntil(p.stdout, /30 100\r\n/)).toContain('30 100\r\n');
    await p.resize(120, 40);
    p.stdin.write('stty size\r');
    expect(await readUntil(p.stdout, /40 120\r\n/)).toContain('40 120\r\n');
    p.stdin.end();
    expect(await p.exit).toBe(0);
    const cat = await client.interactiveExec!({ driver: 'fake', environmentId: 'e1', command: ['cat'] });
    const out = readUntil(cat.stdout, /abc/);
    cat.stdin.end('abc');
    expect([await out, await cat.exit]).toEqual(['abc', 0]);
  });

  test('a console session; an environment the agent does not have is NOT_FOUND; bad params are refused', async () => {
    const { client } = await connected(sessionAgent('a1', fakeShell));
    const c = await client.console!({ driver: 'fake', environmentId: 'e1' });
    c.stdin.write('echo on-console\r');
    expect(await readUntil(c.stdout, /on-console\r\non-console\r\n/)).toContain('on-console');
    c.kill();
    expect(await c.exit).toBe(-1);
    await expect(client.interactiveExec!({ driver: 'fake', environmentId: 'elsewhere', command: ['sh'] })).rejects.toMatchObject({ category: 'NOT_FOUND', message: 'Environment elsewhere was not found' });
    await expect(client.interactiveExec!({ driver: 'fake', environmentId: 'e1', command: [] })).rejects.toMatchObject({ category: 'BAD_USER_INPUT' });
    expect(client.openSessions).toBe(0);
  });

  test('closing the session on the gateway kills the process on the agent', async () => {
    const agent = sessionAgent('a1', fakeShell);
    const { client } = await connected(agent);
    const p = await client.interactiveExec!({ driver: 'fake', environmentId: 'e1', command: ['sh'] });
    p.stdin.write('echo up\n');
    await readUntil(p.stdout, /up\n/);
    p.kill();
    expect(await p.exit).toBe(-1);
    // A round trip after the close: the agent took the close before it answered this call.
    await client.hello();
    expect(agent.killed).toBe(1);
  });

  test('the connection dropping ends the session with UNAVAILABLE and kills the process on the agent', async () => {
    const agent = sessionAgent('a1', fakeShell);
    const { pair, client } = await connected(agent);
    const p = await client.interactiveExec!({ driver: 'fake', environmentId: 'e1', command: ['sh'] });
    p.stdin.write('echo up\n');
    await readUntil(p.stdout, /up\n/);
    pair.close(new Error('cut'));
    await expect(p.exit).rejects.toMatchObject({ category: 'UNAVAILABLE', message: expect.stringContaining('Host agent a1 went away during the session') });
    expect(agent.killed).toBe(1);
    await expect(client.interactiveExec!({ driver: 'fake', environmentId: 'e1', command: ['sh'] })).rejects.toMatchObject({ category: 'UNAVAILABLE' });
  });

  test('an agent of a release without sessions (a connection of protocol 4) is refused naming its version', async () => {
    const { client } = await connected(sessionAgent('old', fakeShell), 4);
    await expect(client.interactiveExec!({ driver: 'fake', environmentId: 'e1', command: ['sh'] })).rejects.toMatchObject({
      category: 'UNSUPPORTED_OPERATION',
      message: expect.stringMatching(/^host agent old does not support interactive exec: it runs RSP test-1\.2\.3 \(agent protocol 4\), which does not carry interactive sessions: upgrade the agent to RSP /),
    });
    await expect(client.console!({ driver: 'fake', environmentId: 'e1' })).rejects.toMatchObject({ category: 'UNSUPPORTED_OPERATION' });
  });
});

describe('session flow control', () => {
  const WINDOW = 64 * 1024;

  test('the agent stops reading output past the window until the gateway acknowledges it', async () => {
    const sent: StreamFrame[] = [];
    let produced = 0;
    const stdout = new Readable({
      read() {
        produced += SESSION_CHUNK_BYTES;
        this.push(Buffer.alloc(SESSION_CHUNK_BYTES, 1));
      },
    });
    const proc: InteractiveProcess = { stdin: new PassThrough(), stdout, stderr: new PassThrough(), exit: new Promise(() => undefined), resize: async () => undefined, kill: () => undefined };
    const server = new SessionServer(sessionAgent('a1', () => proc), (text) => sent.push(JSON.parse(text) as StreamFrame), logger, WINDOW);
    const start = await server.open({ session: 's1', driver: 'fake', environmentId: 'e1', command: ['yes'] });
    const paused = new Promise((resolve) => stdout.once('pause', resolve));
    start();
    await paused;
    const bytes = () => sent.reduce((n, f) => n + (f.event === 'data' ? Buffer.from(f.data, 'base64').length : 0), 0);
    const before = bytes();
    expect(before).toBeGreaterThanOrEqual(WINDOW);
    expect(before).toBeLessThan(WINDOW + SESSION_CHUNK_BYTES);
    expect(sent.every((f) => f.event === 'data' && Buffer.from(f.data, 'base64').length <= SESSION_CHUNK_BYTES)).toBe(true);
    // What the paused stream holds is bounded by its buffer, whatever the producer could make.
    expect(produced - before).toBeLessThanOrEqual(stdout.readableHighWaterMark + SESSION_CHUNK_BYTES);
    // The ack lets it go on, up to the window again.
    const again = new Promise((resolve) => stdout.once('resume', () => stdout.once('pause', resolve)));
    server.receive(decodeStreamFrame(JSON.parse(encodeStreamFrame('s1', { event: 'ack', bytes: before }))));
    await again;
    expect(bytes()).toBeGreaterThanOrEqual(before + WINDOW);
    server.receive({ type: 'stream', session: 's1', event: 'close' });
    expect(server.size).toBe(0);
  });

  test('the gateway acknowledges output only while its reader keeps up, and holds stdin writes past the window', async () => {
    const sent: StreamFrame[] = [];
    const client = new SessionClient((text) => sent.push(JSON.parse(text) as StreamFrame), WINDOW);
    const p = await client.open({ driver: 'fake', environmentId: 'e1', command: ['sh'] }, async () => ({}));
    const session = () => (sent.find((f) => f.session) ?? { session: '' }).session;
    p.stdin.write('x');
    const id = session();
    // The agent sends while it has less than the window unacknowledged. Nobody reads stdout: once
    // its buffer is full the gateway acks no more, and the agent stops.
    const acked = () => sent.reduce((n, f) => n + (f.event === 'ack' ? f.bytes : 0), 0);
    let total = 0;
    while (total - acked() < WINDOW && total < 100 * WINDOW) {
      client.receive({ type: 'stream', session: id, event: 'data', stream: 'stdout', data: Buffer.alloc(SESSION_CHUNK_BYTES, 2).toString('base64') });
      total += SESSION_CHUNK_BYTES;
    }
    expect(total).toBeLessThanOrEqual(p.stdout.readableHighWaterMark + WINDOW + SESSION_CHUNK_BYTES);
    expect(p.stdout.readableLength).toBe(total);
    // Reading it all acknowledges it (but for less than half a window): the agent may go on.
    let read = 0;
    await new Promise<void>((resolve) => p.stdout.on('data', (chunk: Buffer) => (read += chunk.length) >= total && resolve()));
    expect(acked()).toBeGreaterThan(total - WINDOW / 2);

    // Stdin: a write that fills the window waits for the agent's ack.
    let drained = false;
    p.stdin.on('drain', () => (drained = true));
    const more = Buffer.alloc(WINDOW, 3);
    expect(p.stdin.write(more)).toBe(false);
    await new Promise((resolve) => setImmediate(resolve));
    expect(drained).toBe(false);
    const stdinFrames = sent.filter((f) => f.event === 'data' && f.stream === 'stdin');
    expect(stdinFrames.length).toBe(1 + WINDOW / SESSION_CHUNK_BYTES);
    const drain = new Promise((resolve) => p.stdin.once('drain', resolve));
    client.receive({ type: 'stream', session: id, event: 'ack', bytes: WINDOW });
    await drain;
    client.receive({ type: 'stream', session: id, event: 'exit', exitCode: 9 });
    expect(await p.exit).toBe(9);
    expect(client.size).toBe(0);
  });

  test('the exit settles once the output being read was read to the end: a reader that holds back gets the output before it', async () => {
    const sent: StreamFrame[] = [];
    const client = new SessionClient((text) => sent.push(JSON.parse(text) as StreamFrame), WINDOW);
    const p = await client.open({ driver: 'fake', environmentId: 'e1', command: ['sh'] }, async () => ({}));
    p.stdin.write('x');
    const id = sent.find((f) => f.session)!.session;
    let read = '';
    p.stdout.on('data', (chunk: Buffer) => (read += chunk.toString('utf8')));
    p.stdout.pause();
    client.receive({ type: 'stream', session: id, event: 'data', stream: 'stdout', data: Buffer.from('the tail').toString('base64') });
    client.receive({ type: 'stream', session: id, event: 'exit', exitCode: 4 });
    let settled = false;
    void p.exit.then(() => (settled = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    p.stdout.resume();
    expect(await p.exit).toBe(4);
    expect(read).toBe('the tail');
  });
});

describe('stream frames', () => {
  test('malformed frames and open params are refused with what is wrong', () => {
    expect(() => decodeStreamFrame({ type: 'stream', event: 'eof' })).toThrow(/a stream frame needs a session id/);
    expect(() => decodeStreamFrame({ type: 'stream', session: 's', event: 'data', stream: 'stdio', data: '' })).toThrow(/data needs a stream/);
    expect(() => decodeStreamFrame({ type: 'stream', session: 's', event: 'resize', columns: 0, rows: 10 })).toThrow(/columns and rows/);
    expect(() => decodeStreamFrame({ type: 'stream', session: 's', event: 'ack', bytes: -1 })).toThrow(/byte count/);
    expect(() => decodeStreamFrame({ type: 'stream', session: 's', event: 'boom' })).toThrow(/unknown event "boom"/);
    expect(decodeStreamFrame(JSON.parse(encodeStreamFrame('s', { event: 'exit', exitCode: 2 })))).toEqual({ type: 'stream', session: 's', event: 'exit', exitCode: 2 });
    expect(() => openSessionParams({ session: 's', driver: 'fake', environmentId: 'e', console: true, command: ['sh'] })).toThrow(/a console session takes no command/);
    expect(() => openSessionParams({ session: 's', driver: 'fake', environmentId: 'e', command: ['sh'], rows: 10_001 })).toThrow(/columns and rows/);
    expect(openSessionParams({ session: 's', driver: 'fake', environmentId: 'e', console: true })).toMatchObject({ console: true });
  });
});
