import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { EnvironmentSpec, ResourceLimits } from '../contract';
import { sharesToWeight, weightToShares } from '../host/cgroups';

/**
 * The parts of util-vserver's `/etc/vservers/<name>/` tree RSP writes, one value per file:
 *
 * | limit         | file                                                          |
 * |---------------|---------------------------------------------------------------|
 * | cpuWeight     | cgroup/cpu.shares (1024 = one share)                          |
 * | cpuQuota      | sched/fill-rate + sched/interval (token bucket: rate/interval CPUs), tokens-max |
 * | memoryBytes   | cgroup/memory.limit_in_bytes                                  |
 * | pids          | rlimits/nproc                                                 |
 * | diskBytes     | dlimits/rsp/{directory,space_total (KiB),inodes_total,reserved} |
 *
 * plus `uts/nodename`, `interfaces/0/{ip,prefix,dev}`, `fstab` (volumes as bind mounts) and
 * `apps/init/cmd.start` (the main process, one argument per line).
 */

/** Token-bucket interval RSP uses, in jiffies. */
export const SCHED_INTERVAL = 100;

async function put(dir: string, file: string, value: string | number): Promise<void> {
  await mkdir(dirname(join(dir, file)), { recursive: true });
  await writeFile(join(dir, file), `${value}\n`);
}

async function get(dir: string, file: string): Promise<string | undefined> {
  return readFile(join(dir, file), 'utf8').then((t) => t.trim(), () => undefined);
}

/** Writes limits, network, volumes and the start command into a guest's config directory. */
export async function writeConfigTree(confDir: string, spec: EnvironmentSpec, vdir: string, bridge?: string): Promise<void> {
  const l = spec.limits ?? {};
  if (l.cpuWeight !== undefined) await put(confDir, 'cgroup/cpu.shares', weightToShares(l.cpuWeight));
  if (l.cpuQuota !== undefined) {
    await put(confDir, 'sched/fill-rate', Math.max(1, Math.round(l.cpuQuota * SCHED_INTERVAL)));
    await put(confDir, 'sched/interval', SCHED_INTERVAL);
    await put(confDir, 'sched/tokens-max', 500);
    await put(confDir, 'sched/tokens-min', 50);
  }
  if (l.memoryBytes !== undefined) await put(confDir, 'cgroup/memory.limit_in_bytes', Math.floor(l.memoryBytes));
  if (l.pids !== undefined) await put(confDir, 'rlimits/nproc', Math.floor(l.pids));
  if (l.diskBytes !== undefined) {
    await put(confDir, 'dlimits/rsp/directory', vdir);
    await put(confDir, 'dlimits/rsp/space_total', Math.ceil(l.diskBytes / 1024));
    await put(confDir, 'dlimits/rsp/inodes_total', Math.max(1000, Math.ceil(l.diskBytes / 4096)));
    await put(confDir, 'dlimits/rsp/reserved', 5);
  }
  const net = spec.iface.network;
  if (net?.mode === 'bridge' && net.ipv4) {
    const [ip, prefix] = net.ipv4.split('/');
    await put(confDir, 'interfaces/0/ip', ip!);
    await put(confDir, 'interfaces/0/prefix', prefix ?? 24);
    await put(confDir, 'interfaces/0/dev', bridge!);
  }
  const fstab = (spec.volumes ?? []).map((v) => `${v.hostPath}\t${v.mountPath}\tnone\tbind${v.readOnly ? ',ro' : ''}\t0 0\n`);
  await writeFile(join(confDir, 'fstab'), fstab.join(''));
  const main = spec.command?.length ? ['/etc/rsp/command'] : ['/sbin/rsp-init'];
  await put(confDir, 'apps/init/cmd.start', ['/sbin/rsp-start', ...main].join('\n'));
  await put(confDir, 'apps/init/killtimeout', 10);
}

/** Sets the stop timeout (apps/init/killtimeout, seconds). */
export async function setKillTimeout(confDir: string, seconds: number): Promise<void> {
  await put(confDir, 'apps/init/killtimeout', Math.max(0, Math.round(seconds)));
}

/** Reads the limits back from the tree. */
export async function readLimits(confDir: string): Promise<ResourceLimits> {
  const limits: ResourceLimits = {};
  const shares = await get(confDir, 'cgroup/cpu.shares');
  if (shares) limits.cpuWeight = sharesToWeight(Number(shares));
  const rate = await get(confDir, 'sched/fill-rate');
  const interval = await get(confDir, 'sched/interval');
  if (rate && interval) limits.cpuQuota = Number(rate) / Number(interval);
  const memory = await get(confDir, 'cgroup/memory.limit_in_bytes');
  if (memory) limits.memoryBytes = Number(memory);
  const nproc = await get(confDir, 'rlimits/nproc');
  if (nproc) limits.pids = Number(nproc);
  const space = await get(confDir, 'dlimits/rsp/space_total');
  if (space) limits.diskBytes = Number(space) * 1024;
  return limits;
}

/** The guest's static address (interfaces/0/ip), if any. */
export function readAddress(confDir: string): Promise<string | undefined> {
  return get(confDir, 'interfaces/0/ip');
}

/** Removes what RSP wrote that a fresh build would not have (used when a create is reverted). */
export async function removeTree(confDir: string): Promise<void> {
  await rm(confDir, { recursive: true, force: true });
}
