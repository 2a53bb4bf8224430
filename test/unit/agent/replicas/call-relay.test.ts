import { PassThrough } from 'node:stream';
import pino from 'pino';
import type { InteractiveProcess } from '../../../../drivers/contract';
import { AgentLink } from '../../../../gateway/agent/agent-link';
import { HostState } from '../../../../gateway/persistence/entities';
import { callContext } from '../../../../gateway/agent/call-context';
import type { HostAgent } from '../../../../gateway/agent/host-agent';
import { AGENT_PROTOCOL_VERSION } from '../../../../gateway/agent/protocol';
import type { CallContext } from '../../../../gateway/agent/protocol';
import { AGENT_NOT_HERE, CallRelay } from '../../../../gateway/agent/replicas/call-relay';
import { joinReplicas, type GatewayReplicas } from '../../../../gateway/agent/replicas/gateway-replicas';
import { BUS_NAMES } from '../../../../gateway/agent/replicas/relay-transport';
import { until } from '../../../helpers/until';
import { FakeReplicaNetwork } from './fake-replica-bus';

const logger = pino({ level: 'silent' });

/** An agent whose `startEnvironment` runs until its operation is cancelled; it records the cancels and the contexts it got. */
function stubAgent(id: string) {
  const cancelled: string[] = [];
  const contexts: CallContext[] = [];
  const waiting = new Map<string, (e: Error) => void>();
  const agent = {
    id,
    hello: async () => ({ agentId: id, protocol: AGENT_PROTOCOL_VERSION, software: 'test' }),
    cancel: async ({ operationId }: { operationId: string }) => {
      cancelled.push(operationId);
      waiting.get(operationId)?.(new Error('cancelled'));
      return { cancelled: 1 };
    },
    startEnvironment: (_params: unknown, context: CallContext) =>
      new Promise<void>((_resolve, reject) => {
        contexts.push(context);
        waiting.set(context.operationId, reject);
      }),
    getChunks: async ({ ids }: { ids: string[] }) => ids.map((chunkId) => ({ id: chunkId, data: 'x'.repeat(4096) })),
    putChunks: async () => undefined,
  } as unknown as HostAgent;
  return { agent, cancelled, contexts };
}

/** Two relays (replicas A and B) on a fake network; B holds `b1`. */
function twoRelays(options: { maxFrameBytes?: number; callTimeoutMs?: number } = {}) {
  const network = new FakeReplicaNetwork();
  const b1 = stubAgent('b1');
  const a = new CallRelay({ replicaId: 'A', bus: network.bus(), localAgent: () => undefined, logger, deadlineGraceMs: 20, ...options });
  const bBus = network.bus();
  const b = new CallRelay({ replicaId: 'B', bus: bBus, localAgent: (id) => (id === 'b1' ? b1.agent : undefined), logger, ...options });
  return { network, a, b, b1, bBus };
}

describe('the call relay between gateway replicas (fake bus)', () => {
  test('a call reaches the agent held by the other replica, with its context, and answers', async () => {
    const { a, b, b1 } = twoRelays();
    await Promise.all([a.start(), b.start()]);
    const agent = a.agentAt('B', 'b1');
    await expect(agent.hello()).resolves.toEqual({ agentId: 'b1', protocol: AGENT_PROTOCOL_VERSION, software: 'test' });
    const context = { operationId: 'op-1', deadline: new Date(Date.now() + 60_000).toISOString() };
    void agent.startEnvironment({ driver: 'fake', environmentId: 'e1' }, context).catch(() => undefined);
    await until('the call on B', () => b1.contexts.length > 0, 5000, 5);
    expect(b1.contexts[0]).toEqual(context);
    await Promise.all([a.stop(), b.stop()]);
  });

  test('a call past its deadline fails with TIMEOUT and its operation is cancelled on the other replica', async () => {
    const { a, b, b1 } = twoRelays();
    await Promise.all([a.start(), b.start()]);
    const agent = a.agentAt('B', 'b1');
    const context = callContext(agent, { timeoutMs: 30 });
    await expect(agent.startEnvironment({ driver: 'fake', environmentId: 'e1' }, context)).rejects.toMatchObject({ category: 'TIMEOUT' });
    await until('the cancel on B', () => b1.cancelled.includes(context.operationId), 5000, 5);
    await Promise.all([a.stop(), b.stop()]);
  });

  test('an abort of the caller cancels the operation on the agent of the other replica', async () => {
    const { a, b, b1 } = twoRelays();
    await Promise.all([a.start(), b.start()]);
    const agent = a.agentAt('B', 'b1');
    const abort = new AbortController();
    const context = callContext(agent, { signal: abort.signal });
    const call = agent.startEnvironment({ driver: 'fake', environmentId: 'e1' }, context);
    await until('the call on B', () => b1.contexts.length > 0, 5000, 5);
    abort.abort();
    await expect(call).rejects.toThrow('cancelled');
    expect(b1.cancelled).toEqual([context.operationId]);
    await Promise.all([a.stop(), b.stop()]);
  });

  test('a lost answer fails the call at its deadline instead of hanging', async () => {
    const { network, a, b } = twoRelays();
    await Promise.all([a.start(), b.start()]);
    network.drops.push((channel) => channel === BUS_NAMES.replies('A'));
    const agent = a.agentAt('B', 'b1');
    await expect(agent.hello({}, callContext(agent, { timeoutMs: 20 }))).rejects.toMatchObject({ category: 'TIMEOUT' });
    await Promise.all([a.stop(), b.stop()]);
  });

  test('a call made without a deadline gets the relay\'s default one: a lost answer ends it with TIMEOUT and a cancel', async () => {
    const { network, a, b, b1 } = twoRelays({ callTimeoutMs: 1000 });
    await Promise.all([a.start(), b.start()]);
    network.drops.push((channel) => channel === BUS_NAMES.replies('A'));
    const agent = a.agentAt('B', 'b1');
    const call = agent.startEnvironment({ driver: 'fake', environmentId: 'e1' }, { operationId: 'op-no-deadline' });
    await until('the call on B', () => b1.contexts.length > 0, 5000, 5);
    expect(b1.contexts[0]).toMatchObject({ operationId: 'op-no-deadline', deadline: expect.any(String) });
    await expect(call).rejects.toMatchObject({ category: 'TIMEOUT' });
    await until('the cancel on B', () => b1.cancelled.includes('op-no-deadline'), 5000, 5);
    await Promise.all([a.stop(), b.stop()]);
  });

  test('a frame over the cap is refused with a clear error, a call and an answer alike', async () => {
    const { a, b } = twoRelays({ maxFrameBytes: 2048 });
    await Promise.all([a.start(), b.start()]);
    const agent = a.agentAt('B', 'b1');
    const tooBig = agent.putChunks({ chunks: [{ id: 'c', data: 'y'.repeat(4096) } as never] });
    await expect(tooBig).rejects.toMatchObject({ category: 'BAD_USER_INPUT', details: { maxBytes: 2048 } });
    await expect(tooBig).rejects.toThrow(/over the 2048-byte frame cap of the relay/);
    const bigAnswer = agent.getChunks({ ids: ['c1'] });
    await expect(bigAnswer).rejects.toMatchObject({ category: 'BAD_USER_INPUT' });
    await expect(bigAnswer).rejects.toThrow(/frame cap/);
    // The line still works after both refusals.
    await expect(agent.hello()).resolves.toMatchObject({ agentId: 'b1' });
    await Promise.all([a.stop(), b.stop()]);
  });

  test('a call for an agent the other replica does not hold fails with UNAVAILABLE', async () => {
    const { a, b } = twoRelays();
    await Promise.all([a.start(), b.start()]);
    await expect(a.agentAt('B', 'elsewhere').hello()).rejects.toMatchObject({ category: 'UNAVAILABLE', message: expect.stringMatching(/not connected to gateway replica B/) });
    await Promise.all([a.stop(), b.stop()]);
  });
});

describe('the agent directory and relay together (fake bus)', () => {
  const started: GatewayReplicas[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((r) => r.close()));
  });

  async function replica(network: FakeReplicaNetwork, id: string, link: AgentLink, bus = network.bus(), agentWaitMs?: number, ttlMs = 300) {
    const r = await joinReplicas({ bus, agents: link, logger, replicaId: id, ttlMs, ...(agentWaitMs !== undefined ? { agentWaitMs } : {}) });
    started.push(r);
    return r;
  }

  /** A host served by `agent`, as the agent link sees it. */
  const hostOf = (agent: string, state = HostState.UP) => ({ id: `host-of-${agent}`, hostname: `${agent}-box`, agent, state });

  /** 'settled' when `promise` settles before the event loop's next turn (it waited on no timer and no message), else 'waited'. */
  const settlesAtOnce = (promise: Promise<unknown>) =>
    Promise.race([promise.then(() => 'settled', () => 'settled'), new Promise((resolve) => setImmediate(() => resolve('waited')))]);

  test('an agent whose disconnect was announced is arriving for a TTL (a call waits for its claim elsewhere and reaches it there), then gone: a call answers UNAVAILABLE at once', async () => {
    const network = new FakeReplicaNetwork();
    const [linkA, linkB, linkC] = [new AgentLink(), new AgentLink(), new AgentLink()];
    const a = await replica(network, 'A', linkA, network.bus(), 60_000);
    await replica(network, 'B', linkB);
    await replica(network, 'C', linkC);
    const m1 = stubAgent('m1');
    linkB.add(m1.agent);
    await until('m1 in the directory of A', () => linkA.reachable('m1'), 5000, 5);
    expect(linkA.presence('m1')).toBe('connected');
    linkB.remove('m1', m1.agent);
    await until('the release heard by A', () => (linkA.reachable('m1') === undefined ? true : undefined), 5000, 5);
    // Just left B: probably redialling, so a call waits for its next replica's claim.
    expect(linkA.presence('m1')).toBe('arriving');
    const call = linkA.forHost(hostOf('m1')).then((agent) => agent.hello());
    linkC.add(m1.agent);
    await expect(call).resolves.toMatchObject({ agentId: 'm1' });
    // It leaves C and connects nowhere: gone once a TTL has passed since; a call then answers at once.
    linkC.remove('m1', m1.agent);
    await until('m1 gone for A', () => (linkA.presence('m1') === 'gone' ? true : undefined), 5000, 5);
    const refused = linkA.forHost(hostOf('m1'));
    expect(await settlesAtOnce(refused)).toBe('settled');
    await expect(refused).rejects.toMatchObject({ category: 'UNAVAILABLE', message: expect.stringMatching(/No host agent "m1" is connected/) });
    expect(a.directory.presence('m1')).toBe('gone');
  });

  test('an agent waited for in vain is gone (the next call answers at once) until a replica announces it; one whose replica went silent is gone at once', async () => {
    const network = new FakeReplicaNetwork();
    const linkA = new AgentLink();
    const linkB = new AgentLink();
    const busB = network.bus();
    await replica(network, 'A', linkA, network.bus(), 50);
    await replica(network, 'B', linkB, busB);
    // Never heard of: a first connection may be on its way, so the first call waits (agentWaitMs), in vain.
    expect(linkA.presence('nobody')).toBe('arriving');
    await expect(linkA.forHost(hostOf('nobody'))).rejects.toMatchObject({ category: 'UNAVAILABLE' });
    expect(linkA.presence('nobody')).toBe('gone');
    const again = linkA.forHost(hostOf('nobody'));
    expect(await settlesAtOnce(again)).toBe('settled');
    await expect(again).rejects.toMatchObject({ category: 'UNAVAILABLE' });
    // It connects to B: B's claim makes it reachable again.
    const late = stubAgent('nobody');
    linkB.add(late.agent);
    await until('nobody in the directory of A', () => linkA.reachable('nobody'), 5000, 5);
    expect(linkA.presence('nobody')).toBe('connected');
    // B dies without a word: once A has swept it (no beat for a TTL), its agents are gone, not arriving.
    const gone = new Promise<void>((resolve) => started[0]!.directory.onReplicaGone(() => resolve()));
    busB.die();
    await gone;
    expect(linkA.presence('nobody')).toBe('gone');
    expect(await settlesAtOnce(linkA.forHost(hostOf('nobody')).catch(() => undefined))).toBe('settled');
  });

  test("a call through A for a host whose agent has just connected to B waits for B's claim and reaches it; a DOWN host is refused, and one whose agent is connected nowhere answers UNAVAILABLE once the wait is over", async () => {
    const network = new FakeReplicaNetwork();
    const linkA = new AgentLink();
    const linkB = new AgentLink();
    await replica(network, 'A', linkA);
    await replica(network, 'B', linkB);
    const b1 = stubAgent('b1');
    linkB.add(b1.agent);
    // B's claim is still on its way: A does not know b1 yet.
    expect(linkA.reachable('b1')).toBeUndefined();
    const call = linkA.forHost(hostOf('b1')).then((agent) => agent.startEnvironment({ driver: 'fake', environmentId: 'e1' }, { operationId: 'op-fresh' }));
    call.catch(() => undefined);
    await until('the call on B', () => b1.contexts.length > 0, 5000, 5);
    expect(b1.contexts.map((c) => c.operationId)).toEqual(['op-fresh']);
    await expect(linkA.forHost(hostOf('b1', HostState.DOWN))).rejects.toMatchObject({ category: 'UNAVAILABLE', message: expect.stringMatching(/DOWN \(fenced\)/) });
    await expect(linkA.forHost(hostOf('nobody'))).rejects.toMatchObject({ category: 'UNAVAILABLE', message: expect.stringMatching(/No host agent "nobody" is connected/) });
  });

  test("a call through A for an agent whose claim on B was lost is reached on B's next beat", async () => {
    const network = new FakeReplicaNetwork();
    const linkA = new AgentLink();
    const linkB = new AgentLink();
    await replica(network, 'A', linkA, network.bus(), 60_000);
    await replica(network, 'B', linkB);
    network.drops.push((channel, message) => channel === BUS_NAMES.directory && message.includes('"claimed"'));
    const b1 = stubAgent('b1');
    linkB.add(b1.agent);
    await expect(linkA.forHost(hostOf('b1')).then((agent) => agent.hello())).resolves.toMatchObject({ agentId: 'b1' });
  });

  test('a call relayed to a replica the agent has just left (its release not heard yet) is made once more where the agent is now, and reaches it once', async () => {
    const network = new FakeReplicaNetwork();
    const [linkA, linkB, linkC] = [new AgentLink(), new AgentLink(), new AgentLink()];
    // Long TTLs: no beat or sweep corrects C's picture during the test; only what is said below does.
    await replica(network, 'A', linkA, network.bus(), 60_000, 60_000);
    await replica(network, 'B', linkB, network.bus(), 60_000, 60_000);
    const cBus = network.bus();
    await replica(network, 'C', linkC, cBus, 60_000, 60_000);
    // Tells when A's answer that it does not hold m1 reaches C.
    const replies = cBus.handlers.get(BUS_NAMES.replies('C'))!;
    const notHere = new Promise<void>((resolve) =>
      cBus.handlers.set(BUS_NAMES.replies('C'), (message) => {
        replies(message);
        if (message.includes(AGENT_NOT_HERE)) resolve();
      }),
    );
    const m1 = stubAgent('m1');
    linkA.add(m1.agent);
    await until('m1 in the directory of C', () => linkC.reachable('m1'), 5000, 5);
    // m1 leaves A, and C does not hear it: C still sends its calls for m1 to A.
    network.drops.push((channel, message) => channel === BUS_NAMES.directory && message.includes('"released"'));
    linkA.remove('m1', m1.agent);
    const call = linkC.forHost(hostOf('m1')).then((agent) => agent.startEnvironment({ driver: 'fake', environmentId: 'e1' }, { operationId: 'op-moved' }));
    call.catch(() => undefined);
    // Only then does m1 connect to B (were B's claim heard first, C would fail the call in flight to A: it may have reached m1 there).
    await notHere;
    linkB.add(m1.agent);
    await until('the call on B', () => m1.contexts.length > 0, 5000, 5);
    expect(m1.contexts.map((c) => c.operationId)).toEqual(['op-moved']);
    expect(linkC.reachable('m1')).toBeDefined();
  });

  test("a call waiting for an agent's announcement answers UNAVAILABLE when its replica leaves the others", async () => {
    const network = new FakeReplicaNetwork();
    const linkA = new AgentLink();
    const a = await replica(network, 'A', linkA, network.bus(), 60_000);
    const waiting = linkA.forHost(hostOf('late'));
    waiting.catch(() => undefined);
    await a.close();
    await expect(waiting).rejects.toMatchObject({ category: 'UNAVAILABLE', message: expect.stringMatching(/No host agent "late" is connected/) });
  });

  test('an agent connected to B is reachable from A while it stays, and not after it leaves', async () => {
    const network = new FakeReplicaNetwork();
    const linkA = new AgentLink();
    const linkB = new AgentLink();
    await replica(network, 'A', linkA);
    await replica(network, 'B', linkB);
    const b1 = stubAgent('b1');
    linkB.add(b1.agent);
    const relayed = await until('b1 in the directory of A', () => linkA.reachable('b1'), 5000, 5);
    await expect(relayed.hello()).resolves.toMatchObject({ agentId: 'b1' });
    expect(network.keys.get(BUS_NAMES.agentKey('b1'))?.value).toBe('B');
    // Still there after several TTLs: B refreshes its entry while b1 stays connected.
    await new Promise((r) => setTimeout(r, 700));
    expect(linkA.reachable('b1')).toBeDefined();
    linkB.remove('b1', b1.agent);
    await until('b1 gone from the directory of A', () => linkA.reachable('b1') === undefined, 5000, 5);
    expect(network.keys.has(BUS_NAMES.agentKey('b1'))).toBe(false);
  });

  test('an agent that connects to another replica is let go by the one holding its older connection', async () => {
    const network = new FakeReplicaNetwork();
    const linkA = new AgentLink();
    const linkB = new AgentLink();
    await replica(network, 'A', linkA);
    await replica(network, 'B', linkB);
    const older = stubAgent('b1');
    linkB.add(older.agent);
    await until('b1 in the directory of A', () => linkA.reachable('b1'), 5000, 5);
    // A call relayed from A to B is lost when b1 connects to A: it fails rather than wait for B's answer.
    const lost = linkA.reachable('b1')!.startEnvironment({ driver: 'fake', environmentId: 'e1' }, { operationId: 'op-moved' });
    await until('the call on B', () => older.contexts.length > 0, 5000, 5);
    const newer = stubAgent('b1');
    linkA.add(newer.agent);
    await expect(lost).rejects.toMatchObject({ category: 'UNAVAILABLE', message: expect.stringMatching(/left gateway replica B/) });
    await until('B let b1 go', () => linkB.get('b1') === undefined, 5000, 5);
    expect(linkA.reachable('b1')).toBe(newer.agent);
    expect(network.keys.get(BUS_NAMES.agentKey('b1'))?.value).toBe('A');
    // B reaches it through the relay now.
    await expect(until('b1 through A from B', () => linkB.reachable('b1'), 5000, 5).then((a) => a.hello())).resolves.toMatchObject({ agentId: 'b1' });
  });

  test('a call in flight to a replica that dies fails with UNAVAILABLE once its entries expire', async () => {
    const network = new FakeReplicaNetwork();
    const linkA = new AgentLink();
    const linkB = new AgentLink();
    const busB = network.bus();
    await replica(network, 'A', linkA);
    await replica(network, 'B', linkB, busB);
    const b1 = stubAgent('b1');
    linkB.add(b1.agent);
    const relayed = await until('b1 in the directory of A', () => linkA.reachable('b1'), 5000, 5);
    const call = relayed.startEnvironment({ driver: 'fake', environmentId: 'e1' }, { operationId: 'op-lost' });
    await until('the call on B', () => b1.contexts.length > 0, 5000, 5);
    busB.die();
    await expect(call).rejects.toMatchObject({ category: 'UNAVAILABLE', message: expect.stringMatching(/replica B is gone/) });
    expect(linkA.reachable('b1')).toBeUndefined();
  });

  test('a session through the relay: stdin reaches the process on B, its output comes back; the replica gone on either side ends it (UNAVAILABLE for the caller, the process killed on B)', async () => {
    const { a, b, b1 } = twoRelays();
    await Promise.all([a.start(), b.start()]);
    const killed: string[] = [];
    const served = b1.agent as unknown as Record<string, unknown>;
    served.inspectEnvironment = async () => ({ state: 'running' });
    served.interactiveExec = async ({ environmentId }: { environmentId: string }) => {
      const stdin = new PassThrough();
      const stdout = new PassThrough();
      let end!: (code: number) => void;
      const exit = new Promise<number>((resolve) => (end = resolve));
      stdin.on('data', (d: Buffer) => stdout.write(d));
      return { stdin, stdout, stderr: new PassThrough(), exit, resize: async () => undefined, kill: () => (killed.push(environmentId), end(-1)) } satisfies InteractiveProcess;
    };
    const agent = a.agentAt('B', 'b1');
    const proc = await agent.interactiveExec!({ driver: 'fake', environmentId: 'e1', command: ['cat'] });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    proc.stdin.write('hello\n');
    await until('the echo back through the relay', () => out === 'hello\n', 5000, 5);
    // The replica holding the agent is gone: the caller's session ends with UNAVAILABLE.
    a.replicaGone('B', 'test');
    await expect(proc.exit).rejects.toMatchObject({ category: 'UNAVAILABLE' });

    // The caller replica gone: the replica holding the agent kills the session's process.
    const again = await a.agentAt('B', 'b1').interactiveExec!({ driver: 'fake', environmentId: 'e2', command: ['cat'] });
    again.exit.catch(() => undefined);
    b.replicaGone('A', 'test');
    await until('the process killed on B', () => killed.includes('e2'), 5000, 5);
    await Promise.all([a.stop(), b.stop()]);
  });

  test('the bus interrupted (Redis lost the subscription\'s connection) ends the relayed calls and sessions in flight with UNAVAILABLE on both sides; later calls go through', async () => {
    const network = new FakeReplicaNetwork();
    const b1 = stubAgent('b1');
    const aBus = network.bus();
    const bBus = network.bus();
    const a = new CallRelay({ replicaId: 'A', bus: aBus, localAgent: () => undefined, logger });
    const b = new CallRelay({ replicaId: 'B', bus: bBus, localAgent: (id) => (id === 'b1' ? b1.agent : undefined), logger });
    await Promise.all([a.start(), b.start()]);
    const killed: string[] = [];
    const served = b1.agent as unknown as Record<string, unknown>;
    served.inspectEnvironment = async () => ({ state: 'running' });
    served.interactiveExec = async ({ environmentId }: { environmentId: string }) => {
      let end!: (code: number) => void;
      const exit = new Promise<number>((resolve) => (end = resolve));
      return { stdin: new PassThrough(), stdout: new PassThrough(), stderr: new PassThrough(), exit, resize: async () => undefined, kill: () => (killed.push(environmentId), end(-1)) } satisfies InteractiveProcess;
    };
    // A's subscription dropped: what B sent meanwhile may be gone, so A's side ends.
    const proc = await a.agentAt('B', 'b1').interactiveExec!({ driver: 'fake', environmentId: 'e1', command: ['cat'] });
    aBus.interrupt();
    await expect(proc.exit).rejects.toMatchObject({ category: 'UNAVAILABLE', message: expect.stringContaining('interrupted') as string });
    // B's subscription dropped: B ends what it serves, and the process is killed.
    const other = await a.agentAt('B', 'b1').interactiveExec!({ driver: 'fake', environmentId: 'e2', command: ['cat'] });
    other.exit.catch(() => undefined);
    bBus.interrupt();
    await until('the process killed on B', () => killed.includes('e2'), 5000, 5);
    // The bus is back: a new call goes through.
    await expect(a.agentAt('B', 'b1').hello({})).resolves.toMatchObject({ agentId: 'b1' });
    await Promise.all([a.stop(), b.stop()]);
  });

  test('a replica that stops says so: calls in flight to it fail at once', async () => {
    const network = new FakeReplicaNetwork();
    const linkA = new AgentLink();
    const linkB = new AgentLink();
    await replica(network, 'A', linkA);
    const b = await joinReplicas({ bus: network.bus(), agents: linkB, logger, replicaId: 'B', ttlMs: 60_000 });
    const b1 = stubAgent('b1');
    linkB.add(b1.agent);
    const relayed = await until('b1 in the directory of A', () => linkA.reachable('b1'), 5000, 5);
    const call = relayed.startEnvironment({ driver: 'fake', environmentId: 'e1' }, { operationId: 'op-stop' });
    await until('the call on B', () => b1.contexts.length > 0, 5000, 5);
    await b.close();
    await expect(call).rejects.toMatchObject({ category: 'UNAVAILABLE' });
  });
});
