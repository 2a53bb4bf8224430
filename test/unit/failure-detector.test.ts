import { ConfigError, loadConfig } from '../../gateway/config/config';
import { HostState } from '../../gateway/persistence/entities';
import { DEFAULT_BACKOFF } from '../../gateway/agent/remote/reconnect-backoff';
import { leaseUntil } from '../../gateway/agent/remote/agent-lease';
import { defaultRestartGraceMs, isSilent, judgedSince, missedBeatsAllowed, restartGraceMs, silenceCutoff } from '../../gateway/services/failure-detector';
import { containerName, isOurs, LABEL_INSTANCE, LABEL_OWNER, ofInstance, ofOwner, ownedFilter } from '../../drivers/docker/labels';
import { namePrefixOf } from '../../drivers/host/name-prefix';

const settings = { heartbeatMs: 1000, downAfterMs: 3000 };
const now = Date.parse('2026-11-25T12:00:00Z');
const beatAgo = (ms: number) => new Date(now - ms);

describe('failure detector thresholds', () => {
  test('an UP host is silent only strictly past the threshold', () => {
    expect(isSilent({ state: HostState.UP, lastHeartbeatAt: beatAgo(2999) }, now, settings)).toBe(false);
    expect(isSilent({ state: HostState.UP, lastHeartbeatAt: beatAgo(3000) }, now, settings)).toBe(false);
    expect(isSilent({ state: HostState.UP, lastHeartbeatAt: beatAgo(3001) }, now, settings)).toBe(true);
  });

  test('a host that never beat, and hosts not UP, are not judged', () => {
    expect(isSilent({ state: HostState.UP, lastHeartbeatAt: null }, now, settings)).toBe(false);
    for (const state of [HostState.DOWN, HostState.MAINTENANCE, HostState.UNKNOWN]) expect(isSilent({ state, lastHeartbeatAt: beatAgo(60_000) }, now, settings)).toBe(false);
  });

  test('the cutoff is the threshold before now, and says how many beats may be missed', () => {
    expect(silenceCutoff(now, settings).toISOString()).toBe('2026-11-25T11:59:57.000Z');
    expect(missedBeatsAllowed(settings)).toBe(3);
    expect(missedBeatsAllowed({ heartbeatMs: 200, downAfterMs: 1000 })).toBe(5);
  });

  test('config: defaults 1 s / 3 s; a threshold not longer than the interval is refused', () => {
    const config = loadConfig({});
    expect([config.heartbeatMs, config.hostDownAfterMs]).toEqual([1000, 3000]);
    expect(() => loadConfig({ RSP_HEARTBEAT_MS: '1000', RSP_HOST_DOWN_AFTER_MS: '1000' })).toThrow(/RSP_HOST_DOWN_AFTER_MS: must be longer than RSP_HEARTBEAT_MS/);
    expect(() => loadConfig({ RSP_HEARTBEAT_MS: '10' })).toThrow(ConfigError);
  });
});

describe('restart grace', () => {
  const started = now;
  /** Whether a host last heard at `heardAt` is judged at `at` by a gateway started at `started` (as `detect` reads it). */
  const judged = (heardAt: number, at: number, s: typeof settings & { restartGraceMs?: number } = settings) => heardAt >= judgedSince(at, started, s).getTime();

  test("the default covers down-after, the agents' longest wait between dials and a margin: 44 s with the defaults", () => {
    expect(defaultRestartGraceMs(settings)).toBe(settings.downAfterMs + DEFAULT_BACKOFF.maxMs + settings.heartbeatMs + 10_000);
    expect(restartGraceMs(settings)).toBe(44_000);
    expect(restartGraceMs({ ...settings, restartGraceMs: 120_000 })).toBe(120_000);
  });

  test('a host last heard before the start is not judged until the grace ends; one heard since is judged at once', () => {
    const grace = restartGraceMs(settings);
    // Heard 5 s before the start: silent past down-after from the start on, yet not judged during the grace.
    for (const at of [started, started + settings.downAfterMs + 1, started + DEFAULT_BACKOFF.maxMs, started + grace - 1]) expect(judged(started - 5000, at)).toBe(false);
    expect(judged(started - 5000, started + grace)).toBe(true);
    // Heard at the start or after it: judged at any time (then by the usual silence rule).
    for (const at of [started + 1, started + settings.downAfterMs + 1, started + grace - 1, started + grace]) {
      expect(judged(started, at)).toBe(true);
      expect(judged(started + 1, at)).toBe(true);
    }
    // A configured grace replaces the default.
    expect(judged(started - 5000, started + 10_000, { ...settings, restartGraceMs: 10_000 })).toBe(true);
    expect(judged(started - 5000, started + 9_999, { ...settings, restartGraceMs: 10_000 })).toBe(false);
  });

  test("an agent's lease ends before its host may be marked DOWN, grace or not: it has fenced before failover may start", () => {
    for (const s of [settings, { heartbeatMs: 200, downAfterMs: 1000 }, { heartbeatMs: 100, downAfterMs: 600, restartGraceMs: 600 }]) {
      // A beat heard when it was sent, before the start or after it; at the lease's end (both rules only let more through later) the host is not yet DOWN.
      for (const sentAt of [started - 60_000, started - 5000, started - 1, started, started + 1]) {
        const end = leaseUntil(sentAt, s);
        const down = isSilent({ state: HostState.UP, lastHeartbeatAt: new Date(sentAt) }, end, s) && judged(sentAt, end, s);
        expect(down).toBe(false);
      }
    }
  });

  test('config: RSP_HOST_RESTART_GRACE_MS is optional (the default then) and at least RSP_HOST_DOWN_AFTER_MS', () => {
    expect(loadConfig({}).hostRestartGraceMs).toBeUndefined();
    expect(loadConfig({ RSP_HOST_RESTART_GRACE_MS: '300000' }).hostRestartGraceMs).toBe(300_000);
    expect(() => loadConfig({ RSP_HOST_DOWN_AFTER_MS: '5000', RSP_HOST_RESTART_GRACE_MS: '4999' })).toThrow(/RSP_HOST_RESTART_GRACE_MS: must be at least RSP_HOST_DOWN_AFTER_MS/);
    expect(() => loadConfig({ RSP_HOST_RESTART_GRACE_MS: 'soon' })).toThrow(ConfigError);
  });
});

describe('extra agents (RSP_AGENTS)', () => {
  test('ids with optional data directories; the default is under the data directory', () => {
    const config = loadConfig({ RSP_DATA_DIR: '/srv/rsp', RSP_AGENTS: 'b, c=/data/c' });
    expect(config.agents).toEqual([
      { id: 'b', dataDir: '/srv/rsp/agents/b' },
      { id: 'c', dataDir: '/data/c' },
    ]);
    expect(loadConfig({}).agents).toEqual([]);
  });

  test('a bad or reserved id is refused naming the variable', () => {
    expect(() => loadConfig({ RSP_AGENTS: 'B_2' })).toThrow(/RSP_AGENTS: "B_2" is not an agent id/);
    expect(() => loadConfig({ RSP_AGENTS: 'local' })).toThrow(/RSP_AGENTS: "local" is not an agent id/);
  });
});

describe('engine-side names of driver instances', () => {
  test('docker: the default instance keeps rsp-<id> and sees only unlabelled containers', () => {
    expect(containerName('e1')).toBe('rsp-e1');
    expect(containerName('e1', 'b')).toBe('rsp-b-e1');
    expect(ownedFilter('e1', 'b')).toEqual({ label: ['rsp.environment=e1', `${LABEL_INSTANCE}=b`] });
    expect(ownedFilter()).toEqual({ label: ['rsp.environment'] });
    expect(ofInstance({ 'rsp.environment': 'e1' }, undefined)).toBe(true);
    expect(ofInstance({ 'rsp.environment': 'e1', [LABEL_INSTANCE]: 'b' }, undefined)).toBe(false);
    expect(ofInstance({ 'rsp.environment': 'e1', [LABEL_INSTANCE]: 'b' }, 'b')).toBe(true);
    expect(ofInstance({ 'rsp.environment': 'e1' }, 'b')).toBe(false);
    expect(ofOwner({ 'rsp.environment': 'e1', [LABEL_OWNER]: 'x' }, 'x')).toBe(true);
    expect(ofOwner({ 'rsp.environment': 'e1', [LABEL_OWNER]: 'x' }, 'y')).toBe(false);
    expect(ofOwner({ 'rsp.environment': 'e1', [LABEL_OWNER]: 'x' }, undefined)).toBe(false);
    expect(ofOwner({ 'rsp.environment': 'e1' }, 'y')).toBe(true);
    expect(isOurs({ 'rsp.environment': 'e1', [LABEL_INSTANCE]: 'b', [LABEL_OWNER]: 'x' }, { instance: 'b', owner: 'x' })).toBe(true);
    expect(isOurs({ 'rsp.environment': 'e1', [LABEL_OWNER]: 'x' }, { instance: 'b', owner: 'x' })).toBe(false);
  });

  test('lxc, libvirt, vserver: a name prefix, rsp- by default, checked', () => {
    expect(namePrefixOf(undefined)).toBe('rsp-');
    expect(namePrefixOf('rsp-b-')).toBe('rsp-b-');
    expect(() => namePrefixOf('rsp b')).toThrow(/name prefix "rsp b" is not one/);
    expect(() => namePrefixOf('rsp')).toThrow(/ending with -/);
  });
});
