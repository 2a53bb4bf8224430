import { join } from 'node:path';
import type { EnvironmentSpec, ResourceLimits } from '../contract';
import type { CgroupVersion } from '../host/cgroups';
import { CFS_PERIOD_US, sharesToWeight, weightToShares } from '../host/cgroups';
import { configValues, WRITABLE_TMPFS } from '../host/rootfs';

/**
 * The LXC container config RSP writes (`<lxcPath>/<name>/config`), and reading limits back out of it.
 * Limits become `lxc.cgroup.*` keys on cgroup v1 and `lxc.cgroup2.*` keys on v2.
 */

/** The first line of every config RSP writes: with the owner file, what marks a container as RSP's. */
export const OWNER_COMMENT = '# Managed by RSP (rsp.environment = %s); edits are overwritten.';

export interface ConfigInput {
  spec: EnvironmentSpec;
  name: string;
  containerDir: string;
  cgroup: CgroupVersion;
  /** Resolved bridge for `bridge` mode. */
  bridge?: string;
  /** The name of the veth's host-side end (where its traffic is shaped). */
  vethPair?: string;
}

export function renderConfig({ spec, name, containerDir, cgroup, bridge, vethPair }: ConfigInput): string {
  const lines: string[] = [OWNER_COMMENT.replace('%s', spec.id)];
  const set = (key: string, value: string | number) => lines.push(`${key} = ${value}`);
  set('lxc.uts.name', spec.iface.hostname);
  set('lxc.rootfs.path', `dir:${join(containerDir, 'rootfs')}`);
  set('lxc.mount.auto', 'proc:mixed sys:ro');
  set('lxc.autodev', 1);
  set('lxc.init.cmd', spec.command?.length ? '/etc/rsp/command' : '/sbin/rsp-init');
  set('lxc.signal.halt', 'SIGTERM');
  set('lxc.log.file', join(containerDir, 'lxc.log'));
  set('lxc.log.level', 'WARN');
  set('lxc.console.logfile', join(containerDir, 'console.log'));
  set('lxc.pty.max', 4); // without a pty LXC allocates no console, and the console log stays empty
  set('lxc.cap.drop', 'sys_module mac_admin mac_override sys_time sys_rawio');
  const net = spec.iface.network ?? { mode: 'none' as const };
  if (net.mode === 'bridge') {
    set('lxc.net.0.type', 'veth');
    set('lxc.net.0.link', bridge!);
    set('lxc.net.0.flags', 'up');
    set('lxc.net.0.name', 'eth0');
    if (vethPair) set('lxc.net.0.veth.pair', vethPair);
    if (net.ipv4) set('lxc.net.0.ipv4.address', net.ipv4.includes('/') ? net.ipv4 : `${net.ipv4}/24`);
    if (net.gateway) set('lxc.net.0.ipv4.gateway', net.gateway);
    if (net.ipv6) set('lxc.net.0.ipv6.address', net.ipv6);
    if (net.ipv6 && net.gateway6) set('lxc.net.0.ipv6.gateway', net.gateway6);
  } else {
    set('lxc.net.0.type', 'empty');
  }
  for (const [key, value] of Object.entries(configValues(spec.iface))) set('lxc.environment', `${key}=${value}`);
  for (const v of spec.volumes ?? []) {
    set('lxc.mount.entry', `${v.hostPath} ${v.mountPath.replace(/^\/+/, '')} none bind,create=dir${v.readOnly ? ',ro' : ''} 0 0`);
  }
  if (spec.iface.readOnlyRoot) {
    // The root bind-mounted read-only; volumes (above) and a tmpfs on /tmp and /run stay writable. Their mount points are made at create.
    set('lxc.rootfs.options', 'ro');
    for (const [dir, options] of Object.entries(WRITABLE_TMPFS)) set('lxc.mount.entry', `tmpfs ${dir.slice(1)} tmpfs ${options} 0 0`);
  }
  const l = spec.limits ?? {};
  const prefix = cgroup === 2 ? 'lxc.cgroup2' : 'lxc.cgroup';
  if (cgroup === 1) {
    if (l.cpuWeight !== undefined) set(`${prefix}.cpu.shares`, weightToShares(l.cpuWeight));
    if (l.cpuQuota !== undefined) {
      set(`${prefix}.cpu.cfs_period_us`, CFS_PERIOD_US);
      set(`${prefix}.cpu.cfs_quota_us`, Math.round(l.cpuQuota * CFS_PERIOD_US));
    }
    if (l.memoryBytes !== undefined) set(`${prefix}.memory.limit_in_bytes`, Math.floor(l.memoryBytes));
  } else {
    if (l.cpuWeight !== undefined) set(`${prefix}.cpu.weight`, Math.round(l.cpuWeight));
    if (l.cpuQuota !== undefined) set(`${prefix}.cpu.max`, `${Math.round(l.cpuQuota * CFS_PERIOD_US)} ${CFS_PERIOD_US}`);
    if (l.memoryBytes !== undefined) set(`${prefix}.memory.max`, Math.floor(l.memoryBytes));
  }
  if (l.pids !== undefined) set(`${prefix}.pids.max`, Math.floor(l.pids));
  return `${lines.join('\n')}\n`;
}

/** Key/value pairs of a config file, in order (keys may repeat). */
export function parseConfig(text: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(lxc\.[A-Za-z0-9_.]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (m) pairs.push([m[1]!, m[2]!]);
  }
  return pairs;
}

/** The limits a config asks the engine to apply. */
export function limitsFromConfig(pairs: Array<[string, string]>): ResourceLimits {
  const get = (key: string) => pairs.find(([k]) => k === key)?.[1];
  const limits: ResourceLimits = {};
  const shares = get('lxc.cgroup.cpu.shares');
  const weight = get('lxc.cgroup2.cpu.weight');
  if (shares) limits.cpuWeight = sharesToWeight(Number(shares));
  if (weight) limits.cpuWeight = Number(weight);
  const quota = get('lxc.cgroup.cpu.cfs_quota_us');
  const period = get('lxc.cgroup.cpu.cfs_period_us') ?? String(CFS_PERIOD_US);
  if (quota && Number(quota) > 0) limits.cpuQuota = Number(quota) / Number(period);
  const max = get('lxc.cgroup2.cpu.max')?.split(' ');
  if (max && max[0] !== 'max') limits.cpuQuota = Number(max[0]) / Number(max[1] ?? CFS_PERIOD_US);
  const memory = get('lxc.cgroup.memory.limit_in_bytes') ?? get('lxc.cgroup2.memory.max');
  if (memory && memory !== 'max') limits.memoryBytes = Number(memory);
  const pids = get('lxc.cgroup.pids.max') ?? get('lxc.cgroup2.pids.max');
  if (pids && pids !== 'max') limits.pids = Number(pids);
  return limits;
}

/** The static addresses a config gives eth0 (IPv4, then IPv6), without prefix. */
export function addressesFromConfig(pairs: Array<[string, string]>): string[] {
  return ['lxc.net.0.ipv4.address', 'lxc.net.0.ipv6.address'].flatMap((key) => pairs.find(([k]) => k === key)?.[1].split('/')[0] ?? []);
}
