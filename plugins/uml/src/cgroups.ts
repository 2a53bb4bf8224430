import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ResourceLimits } from '@rsp/sdk';

/** CFS period used for CPU quotas, microseconds. */
const CFS_PERIOD_US = 100_000;

/**
 * The cgroups around each guest's linux.uml processes, on either layout (v1: one hierarchy per
 * controller, v2: unified): `<root>[/<controller>]/rsp-uml-<driver tag>/<id>`. They carry the CPU
 * weight and quota and give the CPU time for stats. The driver tag (a hash of the state
 * directory) keeps two drivers on one host apart.
 */
export class GuestCgroups {
  readonly version: 1 | 2 | undefined;
  private readonly parent: string;

  constructor(private readonly root: string, stateDir: string) {
    this.parent = `rsp-uml-${createHash('sha256').update(stateDir).digest('hex').slice(0, 10)}`;
    this.version = detect(root);
  }

  /** True when guests can be put in cgroups here (a writable v1 cpu/cpuacct or v2 hierarchy). */
  get usable(): boolean {
    return this.version !== undefined;
  }

  /** The directories of one guest's cgroup: controller → path. */
  private dirs(id: string): Record<string, string> {
    if (this.version === 2) return { unified: join(this.root, this.parent, id) };
    return { cpu: join(this.root, 'cpu', this.parent, id), cpuacct: join(this.root, 'cpuacct', this.parent, id) };
  }

  /** Makes the guest's cgroup and writes its CPU limits; returns the `cgroup.procs` files a process joins. */
  async prepare(id: string, limits: ResourceLimits): Promise<string[]> {
    if (this.version === 2) {
      await writeFile(join(this.root, 'cgroup.subtree_control'), '+cpu').catch(() => undefined);
      await mkdir(join(this.root, this.parent), { recursive: true });
      await writeFile(join(this.root, this.parent, 'cgroup.subtree_control'), '+cpu');
    }
    const dirs = Object.values(this.dirs(id));
    for (const dir of dirs) await mkdir(dir, { recursive: true });
    await this.apply(id, limits);
    return dirs.map((dir) => join(dir, 'cgroup.procs'));
  }

  /** Writes the CPU weight and quota (absent: the defaults, no cap) into an existing cgroup. */
  async apply(id: string, limits: ResourceLimits): Promise<void> {
    const dirs = this.dirs(id);
    const weight = limits.cpuWeight ?? 100;
    const quota = limits.cpuQuota === undefined ? undefined : Math.round(limits.cpuQuota * CFS_PERIOD_US);
    if (this.version === 2) {
      await writeFile(join(dirs.unified!, 'cpu.weight'), String(weight));
      await writeFile(join(dirs.unified!, 'cpu.max'), `${quota ?? 'max'} ${CFS_PERIOD_US}`);
    } else {
      await writeFile(join(dirs.cpu!, 'cpu.shares'), String(Math.max(2, Math.round((weight * 1024) / 100))));
      await writeFile(join(dirs.cpu!, 'cpu.cfs_period_us'), String(CFS_PERIOD_US));
      await writeFile(join(dirs.cpu!, 'cpu.cfs_quota_us'), String(quota ?? -1));
    }
  }

  /** CPU weight and quota as the cgroup has them now; undefined when the cgroup is absent. */
  async read(id: string): Promise<Pick<ResourceLimits, 'cpuWeight' | 'cpuQuota'> | undefined> {
    const dirs = this.dirs(id);
    const get = (dir: string | undefined, file: string) => (dir ? readFile(join(dir, file), 'utf8').then((t) => t.trim(), () => undefined) : Promise.resolve(undefined));
    if (this.version === 2) {
      const [weight, max] = await Promise.all([get(dirs.unified, 'cpu.weight'), get(dirs.unified, 'cpu.max')]);
      if (weight === undefined) return undefined;
      const [quota, period] = (max ?? 'max').split(' ');
      return { cpuWeight: Number(weight), ...(quota !== 'max' ? { cpuQuota: Number(quota) / Number(period) } : {}) };
    }
    const [shares, quota, period] = await Promise.all([get(dirs.cpu, 'cpu.shares'), get(dirs.cpu, 'cpu.cfs_quota_us'), get(dirs.cpu, 'cpu.cfs_period_us')]);
    if (shares === undefined) return undefined;
    return { cpuWeight: Math.round((Number(shares) * 100) / 1024), ...(quota !== undefined && Number(quota) > 0 ? { cpuQuota: Number(quota) / Number(period) } : {}) };
  }

  /** CPU seconds the guest's processes used, from the cgroup; undefined when it is absent. */
  async cpuSeconds(id: string): Promise<number | undefined> {
    const dirs = this.dirs(id);
    if (this.version === 2) {
      const stat = await readFile(join(dirs.unified!, 'cpu.stat'), 'utf8').catch(() => undefined);
      const usec = stat && /usage_usec (\d+)/.exec(stat)?.[1];
      return usec ? Number(usec) / 1e6 : undefined;
    }
    const ns = await readFile(join(dirs.cpuacct!, 'cpuacct.usage'), 'utf8').catch(() => undefined);
    return ns === undefined ? undefined : Number(ns.trim()) / 1e9;
  }

  /** The processes in the guest's cgroup. */
  async pids(id: string): Promise<number[]> {
    const out = new Set<number>();
    for (const dir of Object.values(this.dirs(id))) {
      const text = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
      for (const line of text.split('\n')) if (line.trim()) out.add(Number(line));
    }
    return [...out];
  }

  /** Removes the guest's cgroup (its processes must be gone), and the driver's parent cgroup once empty. */
  async remove(id: string): Promise<void> {
    for (const dir of Object.values(this.dirs(id))) {
      await rmdir(dir).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw e;
      });
      await rmdir(dirname(dir)).catch(() => undefined);
    }
  }
}

/** The writable cgroup layout at `root`, if any. */
function detect(root: string): 1 | 2 | undefined {
  const writable = (path: string) => {
    try {
      accessSync(path, constants.W_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (existsSync(join(root, 'cgroup.controllers'))) return writable(root) && readControllers(root).includes('cpu') ? 2 : undefined;
  return writable(join(root, 'cpu')) && writable(join(root, 'cpuacct')) && existsSync(join(root, 'cpu', 'cpu.shares')) ? 1 : undefined;
}

function readControllers(root: string): string[] {
  try {
    return readFileSync(join(root, 'cgroup.controllers'), 'utf8').trim().split(/\s+/);
  } catch {
    return [];
  }
}
