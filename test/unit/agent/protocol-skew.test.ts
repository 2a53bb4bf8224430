import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import WebSocket, { WebSocketServer } from 'ws';
import { AgentClient } from '../../../gateway/agent/agent-client';
import { AgentDispatcher } from '../../../gateway/agent/agent-dispatcher';
import { AGENT_METHODS } from '../../../gateway/agent/host-agent';
import type { HostAgent } from '../../../gateway/agent/host-agent';
import { loopbackPair } from '../../../gateway/agent/loopback-channel';
import { AGENT_METHOD_SINCE, AGENT_PROTOCOL_VERSION, negotiateProtocol, OLDEST_AGENT_PROTOCOL_VERSION, SPOKEN_PROTOCOLS } from '../../../gateway/agent/protocol';
import { AgentDialer } from '../../../gateway/agent/remote/agent-dialer';
import type { AgentHandshake } from '../../../gateway/agent/remote/handshake';
import { until } from '../../helpers/until';
import { SESSIONS_MIN_PROTOCOL } from '../../../gateway/agent/stream-frames';

const N = AGENT_PROTOCOL_VERSION;
const logger = pino({ level: 'silent' });
const software = { gateway: '2.0.0', agent: '1.0.0' };
const context = { operationId: 'op' };

/** An agent whose every call answers; `hello` says this code's newest version, as `InProcessAgent` does. */
function answeringAgent(id: string): HostAgent {
  const calls: Record<string, unknown> = { hello: async () => ({ agentId: id, protocol: N, software: 'test' }), environmentLog: async () => ({ lines: [], cursor: 'c' }), drivers: async () => [] };
  return { id, ...calls } as unknown as HostAgent;
}

/** Frames `send` puts on `pair.gatewayEnd`, parsed. */
function recordSent(pair: ReturnType<typeof loopbackPair>): Array<{ protocol: number; method: string }> {
  const sent: Array<{ protocol: number; method: string }> = [];
  const send = pair.gatewayEnd.send.bind(pair.gatewayEnd);
  pair.gatewayEnd.send = (frame: string) => {
    sent.push(JSON.parse(frame) as { protocol: number; method: string });
    send(frame);
  };
  return sent;
}

describe('agent protocol versions: N and N−1 work together, N−2 and N+2 are refused', () => {
  test('the table: N−1 is this code minus the calls that came in N; every call has a version', () => {
    expect(OLDEST_AGENT_PROTOCOL_VERSION).toBe(N - 1);
    expect(SPOKEN_PROTOCOLS).toEqual({ oldest: N - 1, newest: N });
    expect(Object.keys(AGENT_METHOD_SINCE).sort()).toEqual([...AGENT_METHODS].sort());
    expect(Object.values(AGENT_METHOD_SINCE).every((v) => v <= N)).toBe(true);
    expect(AGENT_METHODS.filter((m) => AGENT_METHOD_SINCE[m] === N).sort()).toEqual(['checkChunks', 'deleteSnapshot', 'environmentLog', 'environmentSnapshots', 'resizeEnvironment', 'rollbackSnapshot', 'scrubArtifact', 'snapshotEnvironment']);
  });

  test('the handshake takes the highest version both speak, and refuses more than one version of skew naming the side to upgrade', () => {
    const gateway = { oldest: N - 1, newest: N };
    expect(negotiateProtocol(gateway, { oldest: N - 1, newest: N }, software)).toEqual({ version: N });
    expect(negotiateProtocol(gateway, { oldest: N - 1, newest: N - 1 }, software)).toEqual({ version: N - 1 });
    expect(negotiateProtocol(gateway, { oldest: N, newest: N + 1 }, software)).toEqual({ version: N });
    expect(negotiateProtocol({ oldest: N - 2, newest: N - 1 }, { oldest: N - 1, newest: N }, software)).toEqual({ version: N - 1 });
    expect(negotiateProtocol(gateway, { oldest: N - 2, newest: N - 2 }, software)).toEqual({
      upgrade: 'agent',
      refusal: `protocol mismatch: the gateway speaks ${N - 1}–${N}, the agent ${N - 2}; upgrade the agent (to RSP 2.0.0)`,
    });
    expect(negotiateProtocol(gateway, { oldest: N + 1, newest: N + 2 }, software)).toEqual({
      upgrade: 'gateway',
      refusal: `protocol mismatch: the gateway speaks ${N - 1}–${N}, the agent ${N + 1}–${N + 2}; upgrade the gateway (to RSP 1.0.0)`,
    });
  });

  test('on a connection of N−1: frames carry N−1, hello says N−1, a call of N is refused before it is sent', async () => {
    const pair = loopbackPair();
    const sent = recordSent(pair);
    new AgentDispatcher(answeringAgent('old'), pair.agentEnd, logger, N - 1);
    const client = new AgentClient('old', pair.gatewayEnd, { protocol: N - 1 });
    expect(await client.connect(context)).toMatchObject({ agentId: 'old', protocol: N - 1 });
    await client.drivers({}, context);
    const refused = await client.environmentLog({ driver: 'fake', environmentId: 'e1', tail: 5 }, context).catch((e: unknown) => e);
    expect(refused).toMatchObject({ category: 'UNSUPPORTED_OPERATION', message: expect.stringContaining(`host agent old does not support environmentLog: it speaks agent protocol ${N - 1} and environmentLog came in protocol ${N}: upgrade the agent`) });
    expect(sent.map((f) => [f.method, f.protocol])).toEqual([
      ['hello', N - 1],
      ['drivers', N - 1],
    ]);
  });

  test('the agent end of a connection of N−1 refuses a frame of N, a frame of N−2, and a call of N in a frame of N−1', async () => {
    const pair = loopbackPair();
    new AgentDispatcher(answeringAgent('old'), pair.agentEnd, logger, N - 1);
    const answers: Array<{ id: string; error?: { category: string; message: string } }> = [];
    pair.gatewayEnd.onFrame((f) => answers.push(JSON.parse(f)));
    const frame = (id: string, protocol: number, method: string) => pair.gatewayEnd.send(JSON.stringify({ type: 'request', id, protocol, method, params: {}, context }));
    frame('newer', N, 'drivers');
    frame('older', N - 2, 'drivers');
    frame('late', N - 1, 'environmentLog');
    frame('fine', N - 1, 'drivers');
    await until('four answers', () => answers.length === 4, 5_000, 5);
    const by = Object.fromEntries(answers.map((a) => [a.id, a.error]));
    expect(by.newer).toMatchObject({ category: 'UNSUPPORTED_OPERATION', message: `host agent old does not support agent protocol ${N}: it speaks protocol ${N - 1} on this connection; upgrade the receiver` });
    expect(by.older).toMatchObject({ category: 'UNSUPPORTED_OPERATION', message: `host agent old does not support agent protocol ${N - 2}: it speaks protocol ${N - 1} on this connection; upgrade the caller` });
    expect(by.late).toMatchObject({ category: 'UNSUPPORTED_OPERATION', message: `host agent old does not support environmentLog: environmentLog came in agent protocol ${N}, the call is of protocol ${N - 1}` });
    expect(by.fine).toBeUndefined();
  });

  test('between gateway replicas (no handshake) each frame carries the oldest version that has its call', async () => {
    const pair = loopbackPair();
    const sent = recordSent(pair);
    new AgentDispatcher(answeringAgent('far'), pair.agentEnd, logger);
    const client = new AgentClient('far', pair.gatewayEnd, { protocol: 'per-call' });
    await client.drivers({}, context);
    await client.environmentLog({ driver: 'fake', environmentId: 'e1' }, context);
    expect(sent.map((f) => [f.method, f.protocol])).toEqual([
      ['drivers', N - 1],
      ['environmentLog', N],
    ]);
  });

  test('between a replica of N−1 and one of N: the older one refuses a call of N before sending it, and a frame of N it is sent', async () => {
    const pair = loopbackPair();
    const sent = recordSent(pair);
    new AgentDispatcher(answeringAgent('far'), pair.agentEnd, logger, N - 1);
    const older = new AgentClient('far', pair.gatewayEnd, { protocol: 'per-call', newestProtocol: N - 1 });
    expect(await older.drivers({}, context)).toEqual([]);
    const refused = (await older.environmentLog({ driver: 'fake', environmentId: 'e1' }, context).catch((e: unknown) => e)) as { category: string; message: string };
    expect([refused.category, refused.message]).toEqual(['UNSUPPORTED_OPERATION', expect.stringMatching(`^this gateway replica does not support environmentLog: it speaks agent protocol ${N - 1} and environmentLog came in protocol ${N}`)]);
    const newer = new AgentClient('far', pair.gatewayEnd, { protocol: 'per-call' });
    const taken = (await newer.environmentLog({ driver: 'fake', environmentId: 'e1' }, context).catch((e: unknown) => e)) as { category: string; message: string };
    expect([taken.category, taken.message]).toEqual(['UNSUPPORTED_OPERATION', expect.stringContaining(`it speaks protocol ${N - 1} on this connection; upgrade the receiver`)]);
    expect(sent.map((f) => [f.method, f.protocol])).toEqual([
      ['drivers', N - 1],
      ['environmentLog', N],
    ]);
    // Sessions through the relay came in protocol 5: the older replica refuses to open one, and refuses one it is sent.
    const session = { driver: 'fake', environmentId: 'e1', command: ['sh'] };
    const notOpened = (await older.interactiveExec(session).catch((e: unknown) => e)) as { category: string; message: string };
    expect([notOpened.category, notOpened.message]).toEqual(['UNSUPPORTED_OPERATION', expect.stringMatching(`^this gateway replica does not support interactive exec: it speaks agent protocol ${N - 1} and sessions came in protocol ${SESSIONS_MIN_PROTOCOL}`)]);
    const notServed = (await newer.interactiveExec(session).catch((e: unknown) => e)) as { category: string; message: string };
    expect([notServed.category, notServed.message]).toEqual(['UNSUPPORTED_OPERATION', expect.stringContaining(`it speaks protocol ${N - 1} on this connection; upgrade the receiver`)]);
    expect(newer.openSessions).toBe(0);
  });

  describe('an agent of N against a gateway of N−1 (a stand-in gateway over WebSocket)', () => {
    let wss: WebSocketServer;
    let url: string;
    let welcomeProtocol = N - 1;
    const handshakes: AgentHandshake[] = [];
    const frames: Array<{ type: string; id: string; protocol?: number; method?: string; result?: { protocol?: number } }> = [];
    let socket: WebSocket | undefined;

    beforeAll(async () => {
      wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/agent' });
      await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
      url = `http://127.0.0.1:${(wss.address() as AddressInfo).port}`;
      wss.on('connection', (ws) => {
        socket = ws;
        ws.once('message', (data) => {
          handshakes.push(JSON.parse(data.toString()) as AgentHandshake);
          ws.send(JSON.stringify({ type: 'welcome', protocol: welcomeProtocol, agentId: 'a1', heartbeatMs: 60_000 }));
          ws.on('message', (more) => frames.push(JSON.parse(more.toString())));
        });
      });
    });
    afterAll(() => new Promise<void>((r) => wss.close(() => r())));

    test('it announces N−1 to N, takes the welcome of N−1, answers hello with N−1 and calls the gateway with frames of N−1', async () => {
      const dialer = new AgentDialer({ gateway: url, token: 'rspj_x', dataDir: mkdtempSync(join(tmpdir(), 'rsp-skew-')), logger, backoff: { baseMs: 10, maxMs: 50 }, facts: { everyMs: 0 }, makeAgent: async () => answeringAgent('a1') });
      const running = dialer.run();
      await until('the agent serves calls', () => frames.some((f) => f.type === 'request' && f.method === 'heartbeat'), 10_000, 10);
      expect(handshakes[0]).toMatchObject({ protocol: N - 1, newestProtocol: N });
      socket!.send(JSON.stringify({ type: 'request', id: 'h', protocol: N - 1, method: 'hello', params: {}, context }));
      await until('the hello answer', () => frames.find((f) => f.id === 'h'), 10_000, 10);
      expect(frames.find((f) => f.id === 'h')).toMatchObject({ type: 'result', result: { agentId: 'a1', protocol: N - 1 } });
      expect(frames.filter((f) => f.type === 'request').every((f) => f.protocol === N - 1)).toBe(true);
      dialer.stop();
      await running;
    });

    test('a welcome of N−2 ends the agent with a clear error that names both versions', async () => {
      welcomeProtocol = N - 2;
      const dialer = new AgentDialer({ gateway: url, token: 'rspj_x', dataDir: mkdtempSync(join(tmpdir(), 'rsp-skew-')), logger, backoff: { baseMs: 10, maxMs: 50 }, facts: { everyMs: 0 }, makeAgent: async () => answeringAgent('a1') });
      await expect(dialer.run()).rejects.toMatchObject({
        category: 'UNSUPPORTED_OPERATION',
        message: expect.stringContaining(`protocol mismatch: the gateway chose ${N - 2}, the agent speaks ${N - 1}–${N}; upgrade the gateway`),
      });
    });
  });
});
