import type { EnvironmentSpec } from '../../drivers/contract';
import { addressesFromConfig, limitsFromConfig, parseConfig, renderConfig } from '../../drivers/lxc/lxc-config';
import { createLxcDriver } from '../../drivers/lxc';
import { createVserverDriver } from '../../drivers/vserver';
import { validateSpec } from '../../drivers/host/validate';
import { isCategory } from '../../gateway/errors/rsp-error';

const spec: EnvironmentSpec = {
  id: 'web',
  image: { ref: '/images/busybox.tar' },
  limits: { cpuWeight: 50, cpuQuota: 1.5, memoryBytes: 128 * 1024 * 1024, pids: 100 },
  volumes: [{ name: 'data', kind: 'data', hostPath: '/srv/rsp/web/data', mountPath: '/var/lib/data', readOnly: true }],
  iface: { hostname: 'web', network: { mode: 'bridge', ipv4: '10.0.3.9/24', gateway: '10.0.3.1' }, config: { A: 'b c' } },
};

describe('LXC config', () => {
  test.each([1, 2] as const)('cgroup v%d: limits written as lxc.cgroup keys read back unchanged', (cgroup) => {
    const text = renderConfig({ spec, name: 'rsp-web', containerDir: '/var/lib/lxc/rsp-web', cgroup, bridge: 'lxcbr0' });
    expect(text.split('\n')[0]).toContain('rsp.environment = web');
    const pairs = parseConfig(text);
    expect(limitsFromConfig(pairs)).toEqual(spec.limits);
    const keys = pairs.map(([k]) => k);
    expect(keys.some((k) => k.startsWith(cgroup === 1 ? 'lxc.cgroup.' : 'lxc.cgroup2.'))).toBe(true);
    expect(pairs).toContainEqual(['lxc.mount.entry', '/srv/rsp/web/data var/lib/data none bind,create=dir,ro 0 0']);
    expect(pairs).toContainEqual(['lxc.environment', 'A=b c']);
    expect(pairs).toContainEqual(['lxc.net.0.link', 'lxcbr0']);
    expect(pairs).toContainEqual(['lxc.net.0.ipv4.gateway', '10.0.3.1']);
  });

  test('an IPv6 side: the address with its /64 and the default route on eth0, read back with the IPv4 one', () => {
    expect(addressesFromConfig(parseConfig(renderConfig({ spec, name: 'rsp-web', containerDir: '/var/lib/lxc/rsp-web', cgroup: 2, bridge: 'lxcbr0' })))).toEqual(['10.0.3.9']);
    const pairs = parseConfig(renderConfig({ spec: { ...spec, iface: { ...spec.iface, network: { ...spec.iface.network!, ipv6: 'fd12:3456:789a::9/64', gateway6: 'fd12:3456:789a::1' } } }, name: 'rsp-web', containerDir: '/var/lib/lxc/rsp-web', cgroup: 2, bridge: 'lxcbr0' }));
    expect(pairs).toContainEqual(['lxc.net.0.ipv6.address', 'fd12:3456:789a::9/64']);
    expect(pairs).toContainEqual(['lxc.net.0.ipv6.gateway', 'fd12:3456:789a::1']);
    expect(addressesFromConfig(pairs)).toEqual(['10.0.3.9', 'fd12:3456:789a::9']);
  });

  test('a read-only root: the rootfs mounted ro, a tmpfs on /tmp and /run; none of it otherwise', () => {
    const pairs = parseConfig(renderConfig({ spec: { ...spec, iface: { ...spec.iface, readOnlyRoot: true } }, name: 'rsp-web', containerDir: '/var/lib/lxc/rsp-web', cgroup: 2, bridge: 'lxcbr0' }));
    expect(pairs).toContainEqual(['lxc.rootfs.options', 'ro']);
    expect(pairs).toContainEqual(['lxc.mount.entry', 'tmpfs tmp tmpfs rw,nosuid,nodev,mode=1777 0 0']);
    expect(pairs).toContainEqual(['lxc.mount.entry', 'tmpfs run tmpfs rw,nosuid,nodev,mode=755 0 0']);
    const writable = parseConfig(renderConfig({ spec, name: 'rsp-web', containerDir: '/var/lib/lxc/rsp-web', cgroup: 2, bridge: 'lxcbr0' }));
    expect(writable.filter(([k, v]) => k === 'lxc.rootfs.options' || v.startsWith('tmpfs '))).toEqual([]);
  });

  test('network none is loopback only (type empty, never the host network)', () => {
    const pairs = parseConfig(renderConfig({ spec: { ...spec, iface: { hostname: 'x' } }, name: 'rsp-web', containerDir: '/d', cgroup: 1 }));
    expect(pairs).toContainEqual(['lxc.net.0.type', 'empty']);
  });
});

describe('spec validation shared by the LXC and vserver drivers', () => {
  const bad: Array<[string, Partial<EnvironmentSpec>]> = [
    ['path separator in id', { id: 'a/b' }],
    ['metacharacter in id', { id: 'a;b' }],
    ['hostname with a space', { iface: { hostname: 'a b' } }],
    ['volume path with ..', { volumes: [{ name: 'v', kind: 'data', hostPath: '/srv/../etc', mountPath: '/x' }] }],
    ['volume path with whitespace', { volumes: [{ name: 'v', kind: 'data', hostPath: '/srv/a b', mountPath: '/x' }] }],
    ['bad config key', { iface: { hostname: 'x', config: { 'A-B': '1' } } }],
    ['newline in a config value', { iface: { hostname: 'x', config: { A: '1\nlxc.init.cmd = /bin/evil' } } }],
    ['bad ipv4', { iface: { hostname: 'x', network: { mode: 'bridge', ipv4: '10.0.3.300/24' } } }],
    ['bridge name with a slash', { iface: { hostname: 'x', network: { mode: 'bridge', bridge: '../br' } } }],
    ['negative limit', { limits: { memoryBytes: -1 } }],
  ];
  test.each(bad)('%s → BAD_USER_INPUT', (_, change) => {
    for (const driver of [createLxcDriver({ lxcPath: '/nonexistent' }), createVserverDriver()]) {
      let error: unknown;
      try {
        validateSpec(driver, { ...spec, ...change });
      } catch (e) {
        error = e;
      }
      expect(isCategory(error, 'BAD_USER_INPUT')).toBe(true);
    }
  });

  test('limits the engine cannot enforce → UNSUPPORTED_OPERATION', () => {
    expect(() => validateSpec(createLxcDriver(), { ...spec, limits: { diskBytes: 1 } })).toThrow(/does not support limit diskBytes/);
    expect(() => validateSpec(createVserverDriver({ diskLimits: false }), { ...spec, limits: { diskBytes: 1 } })).toThrow(/does not support limit diskBytes/);
    expect(() => validateSpec(createVserverDriver(), { ...spec, limits: { networkBitsPerSecond: 1 } })).toThrow(/does not support limit networkBitsPerSecond/);
  });
});
