import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { CallOptions, Driver } from '../../../drivers/contract';
import { DriverRegistry } from '../../../drivers/registry';
import { AgentClient } from '../../../gateway/agent/agent-client';
import { AgentDispatcher } from '../../../gateway/agent/agent-dispatcher';
import { callContext } from '../../../gateway/agent/call-context';
import type { HostAgent } from '../../../gateway/agent/host-agent';
import { InProcessAgent } from '../../../gateway/agent/in-process-agent';
import { loopbackPair, throughLoopback } from '../../../gateway/agent/loopback-channel';
import { AGENT_PROTOCOL_VERSION, OLDEST_AGENT_PROTOCOL_VERSION } from '../../../gateway/agent/protocol';
import type { AgentFrame } from '../../../gateway/agent/protocol';
import { NotFoundError, TimeoutError, UnsupportedOperationError } from '../../../gateway/errors';
import { until } from '../../helpers/until';

/** A driver whose `start` runs until its signal aborts, recording why. */
function slowDriver(aborts: unknown[]): Driver {
  return {
    name: 'slow',
    technology: 'fake',
    probe: async () => ({ available: true, version: '1' }),
    capabilities: () => ({ operations: [], limits: [] }),
    create: async () => {
      throw new Error('not used');
    },
    start: (_id: string, options?: CallOptions) =>
      new Promise<void>((_, reject) => {
        options?.signal?.addEventListener('abort', () => {
          aborts.push(options.signal!.reason);
          reject(options.signal!.reason);
        });
      }),
    stop: async () => undefined,
    destroy: async () => undefined,
    inspect: async (id: string) => {
      throw new NotFoundError('Environment', id, { driver: 'slow' });
    },
    list: async () => [],
    stats: async () => ({ at: new Date(), cpuSeconds: 0, memoryBytes: 0, diskReadBytes: 0, diskWriteBytes: 0, networkRxBytes: 0, networkTxBytes: 0 }),
  };
}

/** Sends raw text into a dispatcher of `agent` and resolves with the first frame it answers. */
function rawAnswer(agent: HostAgent, text: string): Promise<AgentFrame> {
  const pair = loopbackPair();
  new AgentDispatcher(agent, pair.agentEnd);
  return new Promise((resolve) => {
    pair.gatewayEnd.onFrame((frame) => resolve(JSON.parse(frame) as AgentFrame));
    pair.gatewayEnd.send(text);
  });
}

describe('the host-agent protocol through the loopback (client ↔ dispatcher)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rsp-agent-protocol-'));
  const aborts: unknown[] = [];
  const registry = new DriverRegistry();
  registry.register(slowDriver(aborts));
  const agent = new InProcessAgent(registry, dir, pino({ level: 'silent' }), 'local');
  const client = throughLoopback(agent);
  afterAll(() => rm(dir, { recursive: true, force: true }));
  beforeEach(() => {
    aborts.length = 0;
  });

  test('the handshake reports the agent and its protocol version', async () => {
    expect(await client.connect()).toEqual({ agentId: 'local', protocol: AGENT_PROTOCOL_VERSION, software: expect.any(String), features: ['sessions'] });
  });

  test('answers are plain data: driver reports and dates cross as JSON (dates as ISO strings)', async () => {
    const [report] = await client.drivers();
    expect(report).toMatchObject({ name: 'slow', available: true, version: '1' });
    const stats = await client.environmentStats({ driver: 'slow', environmentId: 'e1' });
    expect(typeof stats.at).toBe('string');
    expect(new Date(stats.at).toISOString()).toBe(stats.at);
  });

  test('errors keep their category, message and details, and are raised as the RspError subclass', async () => {
    const missing = await client.inspectEnvironment({ driver: 'slow', environmentId: 'nope' }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(NotFoundError);
    expect(missing).toMatchObject({ category: 'NOT_FOUND', message: 'Environment nope was not found', details: { kind: 'Environment', id: 'nope', driver: 'slow' } });
    const unsupported = await client.exec({ driver: 'slow', environmentId: 'e1', command: ['true'] }).catch((e: unknown) => e);
    expect(unsupported).toBeInstanceOf(UnsupportedOperationError);
    expect(unsupported).toMatchObject({ category: 'UNSUPPORTED_OPERATION', operation: 'exec', by: 'driver slow' });
    const noDriver = await client.startEnvironment({ driver: 'absent', environmentId: 'e1' }).catch((e: unknown) => e);
    expect(noDriver).toMatchObject({ category: 'NOT_FOUND', details: { registered: ['slow'] } });
  });

  test('a call past its deadline fails with TIMEOUT, and the driver sees its signal abort', async () => {
    const started = Date.now();
    const late = await client.startEnvironment({ driver: 'slow', environmentId: 'e1' }, { operationId: 'op-deadline', deadline: new Date(Date.now() + 150).toISOString() }).catch((e: unknown) => e);
    expect(late).toBeInstanceOf(TimeoutError);
    expect(late).toMatchObject({ category: 'TIMEOUT', details: { operationId: 'op-deadline' } });
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    // The caller's TIMEOUT and the agent's abort race: the abort is waited for, not read at once.
    await until('the driver sees its signal abort', () => aborts.length > 0, 10_000, 20);
    expect(aborts).toEqual([expect.objectContaining({ category: 'TIMEOUT' })]);
    const past = await client.startEnvironment({ driver: 'slow', environmentId: 'e1' }, { operationId: 'op-past', deadline: new Date(Date.now() - 1).toISOString() }).catch((e: unknown) => e);
    expect(past).toMatchObject({ category: 'TIMEOUT' });
  });

  test('cancel(operationId) aborts the running calls of that operation; a later call of it fails at once', async () => {
    const running = client.startEnvironment({ driver: 'slow', environmentId: 'e1' }, { operationId: 'op-cancel' }).catch((e: unknown) => e);
    // The call is running on the agent once the driver's start has been entered: wait for that through the answer of cancel.
    let answer = { cancelled: 0 };
    for (let i = 0; i < 50 && answer.cancelled === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
      answer = await client.cancel({ operationId: 'op-cancel' });
    }
    expect(answer).toEqual({ cancelled: 1 });
    expect(await running).toMatchObject({ category: 'CONFLICT', message: 'Operation op-cancel was cancelled' });
    expect(aborts).toHaveLength(1);
    expect(await client.startEnvironment({ driver: 'slow', environmentId: 'e1' }, { operationId: 'op-cancel' }).catch((e: unknown) => e)).toMatchObject({ category: 'CONFLICT' });
  });

  test('an AbortSignal on the gateway side becomes a cancel of the call context', async () => {
    const controller = new AbortController();
    const context = callContext(client, { signal: controller.signal });
    const running = client.startEnvironment({ driver: 'slow', environmentId: 'e1' }, context).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 50));
    controller.abort(new Error('stop it'));
    expect(await running).toMatchObject({ category: 'CONFLICT', message: `Operation ${context.operationId} was cancelled` });
    expect(() => callContext(client, { signal: controller.signal })).toThrow('stop it');
  });

  test('an unknown method, another protocol version and a malformed frame are refused with a clear error', async () => {
    const context = { operationId: 'op-raw' };
    const unknown = await rawAnswer(agent, JSON.stringify({ type: 'request', id: '1', protocol: AGENT_PROTOCOL_VERSION, method: 'formatDisk', params: {}, context }));
    expect(unknown).toMatchObject({ type: 'error', id: '1', error: { category: 'UNSUPPORTED_OPERATION' } });
    expect((unknown as { error: { message: string } }).error.message).toContain('the call "formatDisk"');
    const older = await rawAnswer(agent, JSON.stringify({ type: 'request', id: '2', protocol: AGENT_PROTOCOL_VERSION + 1, method: 'hello', params: {}, context }));
    expect(older).toMatchObject({ type: 'error', id: '2', error: { category: 'UNSUPPORTED_OPERATION' } });
    expect((older as { error: { message: string } }).error.message).toContain(`it speaks protocol ${OLDEST_AGENT_PROTOCOL_VERSION}–${AGENT_PROTOCOL_VERSION}`);
    expect(await rawAnswer(agent, '{not json')).toMatchObject({ type: 'error', id: null, error: { category: 'BAD_USER_INPUT' } });
    expect(await rawAnswer(agent, JSON.stringify({ type: 'request', id: '3', protocol: AGENT_PROTOCOL_VERSION, method: 'hello', params: {} }))).toMatchObject({ type: 'error', id: '3', error: { category: 'BAD_USER_INPUT', message: expect.stringContaining('operationId') } });
  });

  test('the client refuses an agent whose hello says another version than the connection\'s', async () => {
    const pair = loopbackPair();
    const other = { id: 'local', hello: async () => ({ agentId: 'local', protocol: AGENT_PROTOCOL_VERSION - 1, software: 'older' }) } as unknown as HostAgent;
    new AgentDispatcher(other, pair.agentEnd);
    const refused = await new AgentClient('local', pair.gatewayEnd).connect().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(UnsupportedOperationError);
    expect((refused as Error).message).toContain(`it speaks protocol ${AGENT_PROTOCOL_VERSION - 1}`);
  });

  test('nothing unserialisable crosses: a Date in an answer or a Buffer in params is refused', async () => {
    const leaky = { id: 'leaky', hello: async () => ({ agentId: 'leaky', protocol: AGENT_PROTOCOL_VERSION, software: 'x', at: new Date() }) } as unknown as HostAgent;
    const answer = await throughLoopback(leaky).hello().catch((e: unknown) => e);
    expect(answer).toMatchObject({ category: 'INTERNAL', message: expect.stringContaining('Not plain data at $.result.at: an instance of Date') });
    const sent = await client.putChunks({ chunks: [{ id: 'a'.repeat(64), data: Buffer.from('x') as unknown as string }] }).catch((e: unknown) => e);
    expect(sent).toMatchObject({ category: 'INTERNAL', message: expect.stringContaining('$.params.chunks[0].data: an instance of Buffer') });
  });

  test('a closed channel fails the calls in flight with UNAVAILABLE', async () => {
    const pair = loopbackPair();
    new AgentDispatcher(agent, pair.agentEnd);
    const remote = new AgentClient('local', pair.gatewayEnd);
    const running = remote.startEnvironment({ driver: 'slow', environmentId: 'e1' }, { operationId: 'op-close' }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 20));
    pair.close(new Error('the network went away'));
    expect(await running).toMatchObject({ category: 'UNAVAILABLE', message: expect.stringContaining('the network went away') });
    expect(await remote.hello().catch((e: unknown) => e)).toMatchObject({ category: 'UNAVAILABLE' });
    await agent.cancel({ operationId: 'op-close' });
  });
});
