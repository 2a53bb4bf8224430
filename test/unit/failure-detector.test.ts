import { ConfigError, loadConfig } from '../../gateway/config/config';
import { HostState } from '../../gateway/persistence/entities';
import { isSilent, missedBeatsAllowed, silenceCutoff } from '../../gateway/services/failure-detector';
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
