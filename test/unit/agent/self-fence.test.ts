import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { HostAgent } from '../../../gateway/agent/host-agent';
import { AgentLease } from '../../../gateway/agent/remote/agent-lease';
import { FENCED_FILE, SelfFence } from '../../../gateway/agent/remote/self-fence';

const logger = pino({ level: 'silent' });

/** An agent with one driver whose environments are a map of states; stopping records the call. */
function engine(states: Record<string, 'running' | 'stopped' | 'paused'>) {
  const stops: Array<{ environmentId: string; graceSeconds?: number }> = [];
  const agent = {
    id: 'a1',
    drivers: async () => [{ name: 'fake', available: true }, { name: 'absent', available: false }],
    listEnvironments: async ({ driver }: { driver: string }) => (driver === 'fake' ? Object.entries(states).map(([id, state]) => ({ id, state })) : []),
    stopEnvironment: async ({ environmentId, graceSeconds }: { environmentId: string; graceSeconds?: number }) => {
      stops.push({ environmentId, graceSeconds });
      states[environmentId] = 'stopped';
    },
  } as unknown as HostAgent;
  return { agent, stops, states };
}

describe('self-fencing of an agent that cannot renew its lease', () => {
  test('nothing happens without a lease, or while the lease has more than leadMs left', async () => {
    const { agent, stops } = engine({ e1: 'running' });
    const lease = new AgentLease();
    const fence = new SelfFence(agent, lease, mkdtempSync(join(tmpdir(), 'rsp-fence-')), logger, { leadMs: 100, checkMs: 10 });
    await fence.check(1_000);
    lease.renew(2_000);
    await fence.check(1_899);
    expect(stops).toEqual([]);
  });

  test('before the lease ends it kills every running environment the gateway would fail over (no grace), once, and remembers them on disk until acknowledged', async () => {
    const { agent, stops, states } = engine({ e1: 'running', e2: 'stopped', e3: 'paused' });
    const lease = new AgentLease();
    const dir = mkdtempSync(join(tmpdir(), 'rsp-fence-'));
    const fence = new SelfFence(agent, lease, dir, logger, { leadMs: 100, checkMs: 10 });
    fence.scope(['e1', 'e2', 'e3']);
    lease.renew(2_000);
    await fence.check(1_900);
    expect(stops).toEqual([{ environmentId: 'e1', graceSeconds: 0 }, { environmentId: 'e3', graceSeconds: 0 }]);
    expect(states).toEqual({ e1: 'stopped', e2: 'stopped', e3: 'stopped' });
    expect((await fence.pending()).map((f) => [f.id, f.driver])).toEqual([['e1', 'fake'], ['e3', 'fake']]);
    // The same lost lease is not fenced twice.
    states.e1 = 'running';
    await fence.check(2_500);
    expect(stops).toHaveLength(2);

    // A restarted agent reads the list back from its data directory.
    const again = new SelfFence(agent, new AgentLease(), dir, logger, { leadMs: 100, checkMs: 10 });
    expect((await again.pending()).map((f) => f.id)).toEqual(['e1', 'e3']);
    await again.acknowledge(['e1']);
    expect((JSON.parse(readFileSync(join(dir, FENCED_FILE), 'utf8')) as Array<{ id: string }>).map((f) => f.id)).toEqual(['e3']);
  });

  test('a renewed lease, lost again, fences again', async () => {
    const { agent, stops, states } = engine({ e1: 'running' });
    const lease = new AgentLease();
    const fence = new SelfFence(agent, lease, mkdtempSync(join(tmpdir(), 'rsp-fence-')), logger, { leadMs: 50, checkMs: 10 });
    fence.scope(['e1']);
    lease.renew(1_000);
    await fence.check(1_000);
    states.e1 = 'running';
    lease.renew(3_000);
    await fence.check(2_000);
    expect(stops).toHaveLength(1);
    await fence.check(2_960);
    expect(stops).toHaveLength(2);
  });

  test('through a lost lease a non-failover environment keeps running; a failover one is killed', async () => {
    const { agent, stops, states } = engine({ ha: 'running', plain: 'running' });
    const lease = new AgentLease();
    const fence = new SelfFence(agent, lease, mkdtempSync(join(tmpdir(), 'rsp-fence-')), logger, { leadMs: 100, checkMs: 10 });
    fence.scope(['ha', 'gone-elsewhere']);
    lease.renew(2_000);
    await fence.check(1_950);
    expect(stops).toEqual([{ environmentId: 'ha', graceSeconds: 0 }]);
    expect(states).toEqual({ ha: 'stopped', plain: 'running' });
    expect((await fence.pending()).map((f) => f.id)).toEqual(['ha']);
  });

  test('an agent never told which environments fail over fences nothing; a later answer replaces the set', async () => {
    const { agent, stops, states } = engine({ e1: 'running', e2: 'running' });
    const lease = new AgentLease();
    const fence = new SelfFence(agent, lease, mkdtempSync(join(tmpdir(), 'rsp-fence-')), logger, { leadMs: 100, checkMs: 10 });
    lease.renew(1_000);
    await fence.check(1_000);
    expect(stops).toEqual([]);
    fence.scope(['e1']);
    fence.scope(['e2']);
    expect([...fence.scoped]).toEqual(['e2']);
    lease.renew(3_000);
    await fence.check(3_000);
    expect(states).toEqual({ e1: 'running', e2: 'stopped' });
  });
});
