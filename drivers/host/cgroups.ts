import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Reading a process tree's usage from its cgroups, on either layout: cgroup v1 (one hierarchy per
 * controller under /sys/fs/cgroup/<controller>, what this project's CI machines have) or v2 (one
 * unified hierarchy). The cgroup of a container is found from its init's /proc/<pid>/cgroup.
 */
export type CgroupVersion = 1 | 2;

/** Which layout the host mounts at `root`. */
export async function cgroupVersion(root = '/sys/fs/cgroup'): Promise<CgroupVersion> {
  const unified = await stat(join(root, 'cgroup.controllers')).then(() => true, () => false);
  return unified ? 2 : 1;
}

/** Usage of one cgroup, as read from its files. */
export interface CgroupUsage {
  cpuSeconds: number;
  memoryBytes: number;
  memoryLimitBytes?: number;
  diskReadBytes: number;
  diskWriteBytes: number;
  pids?: number;
}

/**
 * Reads `/proc/<pid>/<file>`, or undefined once the process has exited: it can exit between any
 * check and the read, so a missing file means "gone", not an error.
 */
export async function readProcFile(pid: number, file: string): Promise<string | undefined> {
  return readFile(`/proc/${pid}/${file}`, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT' || e.code === 'ESRCH') return undefined;
    throw e;
  });
}

/** Where each controller of a process lives: controller name → absolute cgroup directory; undefined once it has exited. */
export async function cgroupPaths(pid: number, root = '/sys/fs/cgroup'): Promise<{ version: CgroupVersion; dirs: Record<string, string> } | undefined> {
  const version = await cgroupVersion(root);
  const text = await readProcFile(pid, 'cgroup');
  if (text === undefined) return undefined;
  const dirs: Record<string, string> = {};
  for (const line of text.trim().split('\n')) {
    const [, controllers, path] = line.split(':', 3) as [string, string, string];
    if (version === 2) {
      if (controllers === '') dirs.unified = join(root, path);
    } else {
      for (const c of controllers.split(',')) if (c) dirs[c] = join(root, c, path);
    }
  }
  return { version, dirs };
}

/** Reads a cgroup file, or undefined when absent. */
export async function readCgroupFile(dir: string | undefined, file: string): Promise<string | undefined> {
  if (!dir) return undefined;
  return readFile(join(dir, file), 'utf8').then((t) => t.trim(), () => undefined);
}

const UNLIMITED_V1 = 2n ** 62n;

function num(text: string | undefined): number | undefined {
  if (text === undefined || text === '' || text === 'max') return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

/** Usage of the cgroup(s) `pid` is in; undefined once the process has exited. */
export async function cgroupUsage(pid: number, root = '/sys/fs/cgroup'): Promise<CgroupUsage | undefined> {
  const paths = await cgroupPaths(pid, root);
  if (!paths) return undefined;
  const { version, dirs } = paths;
  if (version === 2) {
    const dir = dirs.unified;
    const cpuStat = (await readCgroupFile(dir, 'cpu.stat')) ?? '';
    const usec = Number(/usage_usec (\d+)/.exec(cpuStat)?.[1] ?? 0);
    let read = 0;
    let write = 0;
    for (const line of ((await readCgroupFile(dir, 'io.stat')) ?? '').split('\n')) {
      read += Number(/rbytes=(\d+)/.exec(line)?.[1] ?? 0);
      write += Number(/wbytes=(\d+)/.exec(line)?.[1] ?? 0);
    }
    return {
      cpuSeconds: usec / 1e6,
      memoryBytes: num(await readCgroupFile(dir, 'memory.current')) ?? 0,
      memoryLimitBytes: num(await readCgroupFile(dir, 'memory.max')),
      diskReadBytes: read,
      diskWriteBytes: write,
      pids: num(await readCgroupFile(dir, 'pids.current')),
    };
  }
  const ns = num(await readCgroupFile(dirs.cpuacct, 'cpuacct.usage')) ?? 0;
  let read = 0;
  let write = 0;
  for (const line of ((await readCgroupFile(dirs.blkio, 'blkio.throttle.io_service_bytes')) ?? '').split('\n')) {
    const [, op, value] = line.split(' ');
    if (op === 'Read') read += Number(value);
    if (op === 'Write') write += Number(value);
  }
  const limitText = await readCgroupFile(dirs.memory, 'memory.limit_in_bytes');
  const limit = limitText !== undefined && BigInt(limitText) < UNLIMITED_V1 ? Number(limitText) : undefined;
  return {
    cpuSeconds: ns / 1e9,
    memoryBytes: num(await readCgroupFile(dirs.memory, 'memory.usage_in_bytes')) ?? 0,
    memoryLimitBytes: limit,
    diskReadBytes: read,
    diskWriteBytes: write,
    pids: num(await readCgroupFile(dirs.pids, 'pids.current')),
  };
}

/** Network counters seen inside the network namespace of `pid` (every interface but loopback). */
export async function networkUsage(pid: number): Promise<{ rxBytes: number; txBytes: number }> {
  const text = (await readProcFile(pid, 'net/dev')) ?? '';
  let rxBytes = 0;
  let txBytes = 0;
  for (const line of text.split('\n').slice(2)) {
    const [name, rest] = line.split(':');
    if (!rest || name!.trim() === 'lo') continue;
    const fields = rest.trim().split(/\s+/).map(Number);
    rxBytes += fields[0] ?? 0;
    txBytes += fields[8] ?? 0;
  }
  return { rxBytes, txBytes };
}

/** CPU weight (1–10000, 100 = default share) ↔ cgroup v1 cpu.shares (1024 = default). */
export const weightToShares = (weight: number): number => Math.max(2, Math.round((weight * 1024) / 100));
export const sharesToWeight = (shares: number): number => Math.round((shares * 100) / 1024);

/** CFS period RSP uses for CPU quotas, microseconds. */
export const CFS_PERIOD_US = 100_000;
