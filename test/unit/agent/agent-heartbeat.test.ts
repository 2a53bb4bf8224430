import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { HostAgent } from '../../../gateway/agent/host-agent';
import type { HeartbeatAnswer, HeartbeatRequest } from '../../../gateway/agent/protocol';
import { AgentHeartbeat } from '../../../gateway/agent/remote/agent-heartbeat';
import { AgentLease } from '../../../gateway/agent/remote/agent-lease';
import { SelfFence } from '../../../gateway/agent/remote/self-fence';

const logger = pino({ level: 'silent' });

/** A gateway that answers each beat with the next of `answers` (or fails when there is none). */
function gateway(answers: Array<Partial<HeartbeatAnswer>>) {
  const beats: HeartbeatRequest[] = [];
  return {
    beats,
    heartbeat: async (beat: HeartbeatRequest): Promise<HeartbeatAnswer> => {
      beats.push(beat);
      const next = answers.shift();
      if (!next) throw new Error('unreachable');
      return { leaseUntil: beat.sentAt + 1_000, heartbeatMs: 100, downAfterMs: 1_500, acknowledged: [], ...next } as HeartbeatAnswer;
    },
  };
}

describe('agent heartbeats and the self-fence scope', () => {
  test('each answer renews the lease and replaces the environments the fence covers; an unanswered beat keeps them', async () => {
    const lease = new AgentLease();
    const fence = new SelfFence({ id: 'a1' } as HostAgent, lease, mkdtempSync(join(tmpdir(), 'rsp-beat-')), logger, { leadMs: 100, checkMs: 10 });
    const sink = gateway([{ failover: ['e1', 'e2'] }, { failover: ['e2'] }]);
    const heartbeat = new AgentHeartbeat(sink, lease, fence, logger, 100);
    expect([...fence.scoped]).toEqual([]);

    expect(await heartbeat.beat()).toBe(true);
    expect(lease.until).toBeDefined();
    expect([...fence.scoped].sort()).toEqual(['e1', 'e2']);
    expect(await heartbeat.beat()).toBe(true);
    expect([...fence.scoped]).toEqual(['e2']);
    expect(await heartbeat.beat()).toBe(false);
    expect([...fence.scoped]).toEqual(['e2']);
    expect(sink.beats).toHaveLength(3);
  });
});
