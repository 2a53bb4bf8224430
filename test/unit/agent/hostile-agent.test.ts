import pino from 'pino';
import WebSocket from 'ws';
import { AgentClient } from '../../../gateway/agent/agent-client';
import type { FrameChannel } from '../../../gateway/agent/frame-channel';
import { PendingCalls } from '../../../gateway/agent/pending-calls';
import { decodeStreamFrame, SESSION_CHUNK_BYTES, SESSION_OVERRUN_BYTES, SESSIONS_FEATURE, type StreamFrame } from '../../../gateway/agent/stream-frames';
import { SessionClient } from '../../../gateway/agent/stream-sessions';
import { AGENT_PROTOCOL_VERSION } from '../../../gateway/agent/protocol';
import type { AgentServerDeps } from '../../../gateway/agent/remote/agent-server';
import { CLOSE_CODES } from '../../../gateway/agent/remote/handshake';
import { fromWireError } from '../../../gateway/agent/wire-error';
import { serveAgentServer } from './served-agent-server';
import { AGENT_ANSWER_BOUNDS, agentFrameRefusal, answerBound, answerOverBound, BULK_ANSWER_METHODS, CONTROL_ANSWER_BYTES, MAX_AGENT_ANSWER_BYTES, MAX_AGENT_FRAME_BYTES } from '../../../gateway/agent/remote/frame-limits';
import { AgentDispatcher } from '../../../gateway/agent/agent-dispatcher';
import type { HostAgent } from '../../../gateway/agent/host-agent';
import { MAX_UPSTREAM_IDS, UpstreamDispatcher } from '../../../gateway/agent/remote/upstream-dispatcher';
import { until } from '../../helpers/until';
import type { WireError } from '../../../gateway/agent/protocol';

/**
 * A host agent is a machine the gateway does not control: one whose credential an attacker holds
 * (a compromised host) may send anything a frame can carry. None of it may end the gateway.
 */
describe('a hostile host agent', () => {
  test('an error whose category is a name every object inherits is INTERNAL, not a throw', () => {
    for (const category of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf']) {
      const e = fromWireError({ category, message: 'boom', details: {} } as unknown as WireError);
      expect(e).toMatchObject({ category: 'INTERNAL', message: 'boom' });
      expect(e).toBeInstanceOf(Error);
    }
    const calls = new PendingCalls();
    const rejected: unknown[] = [];
    calls.add('1', { method: 'hello', resolve: () => undefined, reject: (e) => rejected.push(e) });
    expect(() => calls.receive(JSON.stringify({ type: 'error', id: '1', error: { category: '__proto__', message: 'x' } }))).not.toThrow();
    expect(rejected).toEqual([expect.objectContaining({ category: 'INTERNAL', message: 'x' })]);
  });

  describe('over a real connection', () => {
    let served: Awaited<ReturnType<typeof serveAgentServer>>;
    let url = '';

    beforeAll(async () => {
      // The credential check admits anyone as agent "evil"; the agent's opening calls fail before anything else is used.
      const deps = {
        logger: pino({ level: 'silent' }),
        credentials: { onRevoked: () => undefined, authenticate: async () => ({ agentId: 'evil' }) },
        agents: { add: () => undefined, remove: () => undefined },
        hostFacts: { recordFacts: async () => undefined },
        heartbeats: {},
        upstream: {},
        heartbeatMs: 60_000,
        silenceMs: 120_000,
      } as unknown as AgentServerDeps;
      served = await serveAgentServer(deps);
      url = served.url;
    });
    afterAll(async () => {
      await served.close();
    });

    /** An agent that answers the gateway's first call with `answer(id)`; resolves with the close code and reason the gateway closes with. */
    const hostileAgent = (answer: (id: string) => unknown) =>
      new Promise<{ code: number; reason: string }>((resolve, reject) => {
        const ws = new WebSocket(url);
        ws.once('error', reject);
        ws.once('open', () => ws.send(JSON.stringify({ type: 'handshake', protocol: AGENT_PROTOCOL_VERSION, secret: 'rspa_whatever', software: 'evil-1' })));
        ws.on('message', (data: Buffer) => {
          const frame = JSON.parse(data.toString()) as { type: string; id?: string };
          if (frame.type === 'request') ws.send(JSON.stringify(answer(frame.id!)));
        });
        ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() }));
      });

    test('answering its opening call with an error of category "__proto__" closes its connection (MALFORMED), the gateway goes on', async () => {
      const closed = await hostileAgent((id) => ({ type: 'error', id, error: { category: '__proto__', message: 'boom' } }));
      expect(closed).toEqual({ code: CLOSE_CODES.MALFORMED, reason: expect.stringMatching(/^opening calls failed: boom/) });
      // Still serving: the next one is refused the same way, by a live server.
      const again = await hostileAgent((id) => ({ type: 'error', id, error: { category: 'constructor', message: 'again' } }));
      expect(again).toEqual({ code: CLOSE_CODES.MALFORMED, reason: expect.stringMatching(/^opening calls failed: again/) });
    });

    test('an answer over its call\'s bound (hello: 1 MiB) is dropped unread and fails that call with AGENT_ANSWER_TOO_LARGE, naming the method and the agent', async () => {
      const pad = 'x'.repeat(CONTROL_ANSWER_BYTES + 1);
      const closed = await hostileAgent((id) => ({ type: 'result', id, result: { pad } }));
      expect(closed).toEqual({ code: CLOSE_CODES.MALFORMED, reason: expect.stringMatching(/^opening calls failed: The answer of host agent evil to hello is \d+ bytes, over its bound of 1048576/) });
    });

    /**
     * The first `payload` bytes of a text frame declaring `declared` bytes (masked with a zero key, as
     * a client must): the rest never comes, so only a judgement from the header ends what it started.
     */
    const partialFrame = (declared: number, payload: string): Buffer => {
      const header = Buffer.alloc(14);
      header[0] = 0x81;
      header[1] = 0x80 | 127;
      header.writeBigUInt64BE(BigInt(declared), 2);
      return Buffer.concat([header, Buffer.from(payload)]);
    };
    /** An agent that starts its answer to the gateway's first call (or its first frame, with `beforeHandshake`) as `partialFrame`, and sends no more. */
    const stalledAgent = (frame: (id: string) => Buffer, beforeHandshake = false) =>
      new Promise<{ code: number; reason: string }>((resolve, reject) => {
        const ws = new WebSocket(url);
        const raw = () => (ws as unknown as { _socket: { write(b: Buffer): void } })._socket;
        ws.once('error', reject);
        ws.once('open', () => (beforeHandshake ? raw().write(frame('')) : ws.send(JSON.stringify({ type: 'handshake', protocol: AGENT_PROTOCOL_VERSION, secret: 'rspa_whatever', software: 'evil-1' }))));
        ws.on('message', (data: Buffer) => {
          const f = JSON.parse(data.toString()) as { type: string; id?: string };
          if (f.type === 'request') raw().write(frame(f.id!));
        });
        ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() }));
      });

    test('an answer declaring more than its call\'s bound fails that call from its frame\'s header, before the rest comes (the gateway buffers none of it)', async () => {
      // 3 MiB declared for hello (bound 1 MiB; the socket takes messages of up to 256 MiB): a few bytes of it are sent.
      const closed = await stalledAgent((id) => partialFrame(3 * 1024 * 1024, `{"type":"result","id":"${id}","result":{"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx`));
      expect(closed).toEqual({ code: CLOSE_CODES.MALFORMED, reason: expect.stringMatching(/^opening calls failed: The answer of host agent evil to hello is 3145728 bytes, over its bound of 1048576/) });
    });

    test('any other message declaring more than 4 MiB closes the connection from its header; before the welcome, more than 64 KiB cuts it', async () => {
      const other = await stalledAgent(() => partialFrame(64 * 1024 * 1024, `{"type":"request","id":"1","method":"reportFacts","params":{"pad":"xxxxxxxxxxxxxxxx`));
      expect(other).toEqual({ code: CLOSE_CODES.MALFORMED, reason: expect.stringMatching(/^frame of 67108864 bytes over 4194304, not the answer to a bulk call in flight/) });
      const early = await stalledAgent(() => partialFrame(1024 * 1024, '{"type":"handshake","secret":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'), true);
      // Cut as a connection sending more than 64 KiB before its welcome is (1006: no close frame), without the rest of it.
      expect(early).toEqual({ code: 1006, reason: '' });
    });

    test('a frame over 4 MiB that is not the answer to a bulk call in flight closes its connection (MALFORMED) unread, saying why', async () => {
      const pad = 'x'.repeat(MAX_AGENT_FRAME_BYTES);
      // The answer to its opening call (hello: no bulk data), then a call of its own, each over the limit.
      const answered = await hostileAgent((id) => ({ type: 'result', id, result: { pad } }));
      expect(answered).toEqual({ code: CLOSE_CODES.MALFORMED, reason: expect.stringMatching(/^frame of \d+ bytes over 4194304, not the answer to a bulk call in flight/) });
      const asked = await hostileAgent(() => ({ type: 'request', id: '1', protocol: AGENT_PROTOCOL_VERSION, method: 'reportFacts', params: { pad }, context: { operationId: 'x' } }));
      expect(asked).toEqual({ code: CLOSE_CODES.MALFORMED, reason: expect.stringMatching(/^frame of \d+ bytes over 4194304/) });
    });
  });

  test('each call has its answer bound: small for control calls, larger only for bulk data; an answer over it is found from the frame\'s head', () => {
    expect(answerBound('hello')).toBe(CONTROL_ANSWER_BYTES);
    expect(answerBound('startEnvironment')).toBe(CONTROL_ANSWER_BYTES);
    expect(answerBound('getChunks')).toBe(16 * 1024 * 1024);
    expect(MAX_AGENT_ANSWER_BYTES).toBe(Math.max(...Object.values(AGENT_ANSWER_BOUNDS)));
    expect(BULK_ANSWER_METHODS.has('getChunks')).toBe(true);
    expect(BULK_ANSWER_METHODS.has('hostSample')).toBe(false);
    const frame = (id: string, bytes: number) => Buffer.from(`{"type":"result","id":"${id}","result":"${'x'.repeat(bytes)}"}`);
    const inFlight = new Map([['7', 'getChunks'], ['8', 'hostSample']]);
    const methodOf = (id: string) => inFlight.get(id);
    expect(answerOverBound(frame('8', CONTROL_ANSWER_BYTES), methodOf)).toEqual({ id: '8', method: 'hostSample' });
    expect(answerOverBound(frame('8', CONTROL_ANSWER_BYTES - 100), methodOf)).toBeUndefined();
    expect(answerOverBound(frame('7', 8 * 1024 * 1024), methodOf)).toBeUndefined();
    // Not a call in flight: left to agentFrameRefusal.
    expect(answerOverBound(frame('9', CONTROL_ANSWER_BYTES), methodOf)).toBeUndefined();
  });

  test('an agent answers AGENT_ANSWER_TOO_LARGE instead of sending a result over its call\'s bound; one within it goes as it is', async () => {
    const sent: Array<{ id: string; type: string; result?: unknown; error?: WireError }> = [];
    let bothSent: () => void;
    const both = new Promise<void>((resolve) => (bothSent = resolve));
    const frames: Array<(text: string) => void> = [];
    const channel: FrameChannel = { send: (text) => void (sent.push(JSON.parse(text)) === 2 && bothSent()), onFrame: (h) => void frames.push(h), onClose: () => undefined };
    const agent = {
      id: 'big',
      hostSample: async () => ({ pad: 'x'.repeat(CONTROL_ANSWER_BYTES) }),
      getChunks: async ({ ids }: { ids: string[] }) => ids.map((id) => ({ id, data: 'y'.repeat(2 * CONTROL_ANSWER_BYTES) })),
    } as unknown as HostAgent;
    new AgentDispatcher(agent, channel);
    const request = (id: string, method: string, params: unknown) => frames[0]!(JSON.stringify({ type: 'request', id, protocol: AGENT_PROTOCOL_VERSION, method, params, context: { operationId: 'op' } }));
    request('1', 'hostSample', {});
    request('2', 'getChunks', { ids: ['c1', 'c2'] });
    await both;
    const byId = new Map(sent.map((f) => [f.id, f]));
    expect(byId.get('1')).toMatchObject({ type: 'error', error: { category: 'BAD_USER_INPUT', message: expect.stringMatching(/host agent big to hostSample is \d+ bytes, over its bound of 1048576 bytes \(AGENT_ANSWER_TOO_LARGE\)/), details: { reason: 'AGENT_ANSWER_TOO_LARGE', agent: 'big', method: 'hostSample', bound: CONTROL_ANSWER_BYTES } } });
    expect(byId.get('2')).toMatchObject({ type: 'result', result: [{ id: 'c1' }, { id: 'c2' }] });
  });

  test("only the answer to a call in flight whose answer carries bulk data (exec, getChunks…) may be over 4 MiB, read from the frame's head", () => {
    const big = (head: string) => Buffer.from(`${head}"result":"${'x'.repeat(MAX_AGENT_FRAME_BYTES)}"}`);
    const inFlight = new Map([['7', 'getChunks'], ['8', 'hostSample']]);
    const bulk = (id: string) => BULK_ANSWER_METHODS.has(inFlight.get(id) as never);
    expect(agentFrameRefusal(big('{"type":"result","id":"7",'), bulk)).toBeUndefined();
    expect(agentFrameRefusal(big('{"type":"error","id":"7",'), bulk)).toBeUndefined();
    // Another call's answer, a call not in flight, another order of keys, another kind of frame: refused.
    for (const head of ['{"type":"result","id":"8",', '{"type":"result","id":"9",', '{"id":"7","type":"result",', '{"type":"request","id":"7",', '{"type":"stream","session":"7",']) {
      expect(agentFrameRefusal(big(head), bulk)).toMatch(/^frame of \d+ bytes over 4194304/);
    }
    // Anything within the limit is read as before.
    expect(agentFrameRefusal(Buffer.from(JSON.stringify({ type: 'request', id: '1', method: 'heartbeat', params: { fenced: [] } })), () => false)).toBeUndefined();
  });

  test('an agent asks the image store for at most 4096 chunk ids and 32 MiB of chunks at once: more is refused, not read', async () => {
    const frames: Array<(text: string) => void> = [];
    const sent: Array<{ id: string; type: string; error?: { message: string } }> = [];
    const channel: FrameChannel = { send: (text) => void sent.push(JSON.parse(text)), onFrame: (h) => void frames.push(h), onClose: () => undefined };
    let read = 0;
    const chunk = 'a'.repeat(1024 * 1024);
    const source = { getChunks: async (ids: string[]) => ids.map((id) => (read++, { id, data: chunk })) };
    new UpstreamDispatcher({} as never, source as never, channel, 'evil', pino({ level: 'silent' }), {} as never);
    const ask = async (id: string, ids: string[]) => {
      frames.forEach((h) => h(JSON.stringify({ type: 'request', id, protocol: AGENT_PROTOCOL_VERSION, method: 'getChunks', params: { ids }, context: { operationId: 'x' } })));
      return until(`answer ${id}`, async () => sent.find((f) => f.id === id), 10_000);
    };
    const ids = (n: number) => Array.from({ length: n }, (_, i) => i.toString(16).padStart(64, '0'));
    expect((await ask('1', ids(MAX_UPSTREAM_IDS + 1))).error?.message).toMatch(/at most 4096 chunk ids/);
    expect(read).toBe(0);
    expect((await ask('2', ids(100))).error?.message).toMatch(/more than 33554432 bytes \(base64\) of chunks at once/);
    expect(read).toBeLessThanOrEqual(48);
    expect(await ask('3', ids(8))).toMatchObject({ type: 'result' });
  });

  describe('in an interactive session', () => {
    const WINDOW = 64 * 1024;
    const chunk = Buffer.alloc(SESSION_CHUNK_BYTES, 7).toString('base64');

    test('output past the window (and its overrun) ends the session with UNAVAILABLE and a close to the agent: the gateway holds no more of it', async () => {
      const sent: StreamFrame[] = [];
      const client = new SessionClient((text) => sent.push(JSON.parse(text) as StreamFrame), WINDOW);
      const p = await client.open({ driver: 'fake', environmentId: 'e1', command: ['yes'] }, async () => ({}));
      p.stdin.write('x');
      const id = sent[0]!.session;
      // Nobody reads stdout, so the gateway acks nothing; the agent sends on regardless.
      let total = 0;
      while (total < 4 * (WINDOW + SESSION_OVERRUN_BYTES)) {
        client.receive({ type: 'stream', session: id, event: 'data', stream: 'stdout', data: chunk });
        total += SESSION_CHUNK_BYTES;
      }
      expect(client.size).toBe(0);
      // What it holds: the window and its overrun unacknowledged, and what it acknowledged while its buffer had room.
      expect(p.stdout.readableLength).toBeLessThanOrEqual(WINDOW + SESSION_OVERRUN_BYTES + p.stdout.readableHighWaterMark);
      expect(sent.filter((f) => f.event === 'close')).toEqual([{ type: 'stream', session: id, event: 'close' }]);
      await expect(p.exit).rejects.toMatchObject({ category: 'UNAVAILABLE', message: expect.stringMatching(/broke the session protocol: it sent \d+ bytes of output unacknowledged, past the window of 65536/) });
    });

    test('an ack of more input than was sent ends the session (it would let input past the window)', async () => {
      const sent: StreamFrame[] = [];
      const client = new SessionClient((text) => sent.push(JSON.parse(text) as StreamFrame), WINDOW);
      const p = await client.open({ driver: 'fake', environmentId: 'e1', command: ['cat'] }, async () => ({}));
      p.stdin.write('abc');
      const id = sent[0]!.session;
      client.receive({ type: 'stream', session: id, event: 'ack', bytes: 3 });
      expect(client.size).toBe(1);
      client.receive({ type: 'stream', session: id, event: 'ack', bytes: 10 * WINDOW });
      expect(client.size).toBe(0);
      await expect(p.exit).rejects.toMatchObject({ category: 'UNAVAILABLE', message: expect.stringContaining('it acknowledged 655360 bytes of input when 0 were unacknowledged') });
    });

    test('a data frame over the chunk size ends the session it names; frames naming no open session change nothing', async () => {
      const frames: Array<(text: string) => void> = [];
      const sent: Array<{ type: string; id?: string; method?: string; session?: string; event?: string }> = [];
      const channel: FrameChannel = {
        send: (text) => {
          const frame = JSON.parse(text) as (typeof sent)[number];
          sent.push(frame);
          const answer = (result: unknown) => setImmediate(() => frames.forEach((h) => h(JSON.stringify({ type: 'result', id: frame.id, result }))));
          if (frame.method === 'hello') answer({ agentId: 'evil', protocol: AGENT_PROTOCOL_VERSION, software: 'evil-1', features: [SESSIONS_FEATURE] });
          else if (frame.method === 'openSession') answer({});
        },
        onFrame: (h) => void frames.push(h),
        onClose: () => undefined,
      };
      const deliver = (frame: unknown) => frames.forEach((h) => h(JSON.stringify(frame)));
      const client = new AgentClient('evil', channel);
      await client.connect();
      const p = await client.interactiveExec({ driver: 'fake', environmentId: 'e1', command: ['sh'] });
      const session = (sent.find((f) => f.method === 'openSession') as { params?: { session: string } }).params!.session;
      deliver({ type: 'stream', session: 'not-a-session', event: 'data', stream: 'stdout', data: 'a'.repeat(1_000_000) });
      deliver({ type: 'stream', session: 'not-a-session', event: 'boom' });
      expect(client.openSessions).toBe(1);
      deliver({ type: 'stream', session, event: 'data', stream: 'stdout', data: Buffer.alloc(SESSION_CHUNK_BYTES + 1).toString('base64') });
      expect(client.openSessions).toBe(0);
      await expect(p.exit).rejects.toMatchObject({ category: 'UNAVAILABLE', message: expect.stringContaining(`a malformed frame (Malformed stream frame: data carries at most ${SESSION_CHUNK_BYTES} bytes a frame)`) });
      expect(sent.filter((f) => f.event === 'close').map((f) => f.session)).toEqual([session]);
      // An exit code is what a process can exit with (a CLI sets its own from it).
      expect(() => decodeStreamFrame({ type: 'stream', session, event: 'exit', exitCode: 1e300 })).toThrow(/an exit needs an integer exit code \(32 bits\)/);
    });
  });
});
