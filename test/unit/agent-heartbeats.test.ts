import { AgentHeartbeats } from '../../gateway/services/agent-heartbeats';
import { heardWriteEveryMs, staleCutoff } from '../../gateway/services/failure-detector';

const settings = { heartbeatMs: 1000, downAfterMs: 3000 };
const t0 = Date.parse('2026-12-03T08:00:00Z');

describe('agent liveness in memory, hosts written heard every few beats', () => {
  test('the first beat here is written, then one every heardWriteEveryMs', () => {
    const beats = new AgentHeartbeats(settings, () => true);
    beats.record('a', t0);
    expect(beats.dueWrite('a', t0)).toBe(true);
    beats.wrote('a', t0);
    expect(heardWriteEveryMs(settings)).toBe(10_000);
    expect(beats.dueWrite('a', t0 + 9_999)).toBe(false);
    expect(beats.dueWrite('a', t0 + 10_000)).toBe(true);
  });

  test('an agent that leaves is not live, its next connection is written at once, and it is silent here once past the cutoff', () => {
    const beats = new AgentHeartbeats(settings, () => true);
    beats.record('a', t0);
    beats.wrote('a', t0);
    beats.record('b', t0 + 2_000);
    beats.forget('a');
    expect(beats.isLive('a', t0 + 1)).toBe(false);
    expect(beats.lastHeard('a')).toBeUndefined();
    // A write noted after it left (its beat was in a batch) does not count for its next connection.
    beats.wrote('a', t0 + 500);
    beats.record('a', t0 + 5_000);
    expect(beats.dueWrite('a', t0 + 5_000)).toBe(true);
    beats.forget('a');
    expect(beats.silentSince(t0 + 5_000)).toEqual(['b']);
    expect(beats.silentSince(t0 + 5_001).sort()).toEqual(['a', 'b']);
    // Heard again: no longer among those that left.
    beats.record('a', t0 + 9_000);
    expect(beats.silentSince(t0 + 6_000)).toEqual(['b']);
  });

  test('a host registered UNKNOWN makes the next beat of its agent a first write', () => {
    const beats = new AgentHeartbeats(settings, () => true);
    beats.record('a', t0);
    expect(beats.firstWrite('a')).toBe(true);
    beats.wrote('a', t0);
    expect(beats.firstWrite('a')).toBe(false);
    expect(beats.dueWrite('a', t0 + 1_000)).toBe(false);
    beats.rewrite('a');
    expect(beats.firstWrite('a')).toBe(true);
    expect(beats.dueWrite('a', t0 + 1_000)).toBe(true);
  });

  test('an agent heard but not in the agent link yet (a remote one before its opening calls are done) is not live; its beats still count against silence', () => {
    const inLink = new Set<string>();
    const beats = new AgentHeartbeats(settings, (agentId) => inLink.has(agentId));
    beats.record('a', t0);
    expect(beats.isLive('a', t0 + 1)).toBe(false);
    expect(beats.usable('a')).toBe(false);
    expect(beats.lastHeard('a')).toBe(t0);
    expect(beats.silentSince(t0 + 1)).toEqual(['a']);
    expect(beats.silentSince(t0)).toEqual([]);
    inLink.add('a');
    expect(beats.isLive('a', t0 + 1)).toBe(true);
    expect(beats.usable('a')).toBe(true);
    expect(beats.isLive('a', t0 + settings.downAfterMs + 1)).toBe(false);
  });

  test('a gateway that did not hear an agent allows the write interval and the gathering of a batch on top of the threshold', () => {
    expect(staleCutoff(t0, settings).toISOString()).toBe('2026-12-03T07:59:46.000Z');
  });
});
