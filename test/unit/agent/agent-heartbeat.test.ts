import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { HostAgent } from '../../../gateway/agent/host-agent';
import type { HeartbeatAnswer, HeartbeatRequest } from '../../../gateway/agent/protocol';
import { AgentHeartbeat, nextBeatDelay } from '../../../gateway/agent/remote/agent-heartbeat';
import { BEAT_BURST, BEAT_BURSTS, beatPhase } from '../../../gateway/agent/remote/beat-phase';
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

describe('beat phases', () => {
  test('the gateway puts its agents in bursts of BEAT_BURST, a tenth of an interval apart, shared past BEAT_BURSTS', () => {
    expect(beatPhase(0, 1000)).toBe(0);
    expect(beatPhase(BEAT_BURST - 1, 1000)).toBe(0);
    expect(beatPhase(BEAT_BURST, 1000)).toBe(100);
    expect(beatPhase(BEAT_BURST * (BEAT_BURSTS - 1), 1000)).toBe(900);
    expect(beatPhase(BEAT_BURST * BEAT_BURSTS, 1000)).toBe(0);
    for (let i = 0; i < BEAT_BURST * BEAT_BURSTS * 2; i += 97) expect(beatPhase(i, 250)).toBeLessThan(250);
  });

  test('the next beat is at the phase: never two in one interval, never an interval without one', () => {
    // From the start: the next phase time strictly after now.
    expect(nextBeatDelay(10_000, 1000, 300, false)).toBe(300);
    expect(nextBeatDelay(10_300, 1000, 300, false)).toBe(1000);
    expect(nextBeatDelay(10_301, 1000, 300, false)).toBe(999);
    // After a beat whose timer fired on time, late or a little early: the phase time after the one it stood for.
    expect(nextBeatDelay(10_300, 1000, 300, true)).toBe(1000);
    expect(nextBeatDelay(10_340, 1000, 300, true)).toBe(960);
    expect(nextBeatDelay(10_299, 1000, 300, true)).toBe(1001);
    for (let now = 0; now < 3000; now += 7) {
      const d = nextBeatDelay(now, 1000, 250, false);
      expect(d).toBeGreaterThan(0);
      expect(d).toBeLessThanOrEqual(1000);
      expect((now + d - 250) % 1000).toBe(0);
    }
  });

  test('an agent given a phase keeps beating, aligned again to a new one, until stopped', async () => {
    const lease = new AgentLease();
    const fence = new SelfFence({ id: 'a1' } as HostAgent, lease, mkdtempSync(join(tmpdir(), 'rsp-beat-')), logger, { leadMs: 100, checkMs: 10 });
    const sink = gateway(Array.from({ length: 100 }, () => ({ failover: [] })));
    const heartbeat = new AgentHeartbeat(sink, lease, fence, logger, 100, 40);
    const beats = async (n: number) => {
      while (sink.beats.length < n) await new Promise((r) => setTimeout(r, 5));
    };
    heartbeat.start();
    try {
      await beats(3);
      heartbeat.align(90);
      await beats(6);
    } finally {
      heartbeat.stop();
    }
    // The phase decides when, not whether: each beat is answered and renews the lease.
    expect(lease.until).toBeGreaterThanOrEqual(sink.beats[5]!.sentAt + 1_000);
  });
});
