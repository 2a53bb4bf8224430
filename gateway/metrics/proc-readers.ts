import { readdirSync, readFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';

/** Cumulative CPU time of one CPU line of `/proc/stat`, in clock ticks. */
export interface CpuTimes {
  /** `cpu` for the total, `cpu0`… per core. */
  name: string;
  busy: number;
  total: number;
}

/** Memory and swap from `/proc/meminfo`, in bytes. */
export interface MemoryInfo {
  totalBytes: number;
  availableBytes: number;
  usedBytes: number;
  swapTotalBytes: number;
  swapUsedBytes: number;
}

/** Cumulative I/O of one block device from `/proc/diskstats`. */
export interface DiskCounters {
  device: string;
  readBytes: number;
  writeBytes: number;
}

/** Cumulative traffic of one network interface from `/proc/net/dev`. */
export interface NetworkCounters {
  interface: string;
  rxBytes: number;
  txBytes: number;
  rxPackets: number;
  txPackets: number;
}

/** Space of one mounted filesystem. */
export interface FilesystemSpace {
  device: string;
  mountPoint: string;
  totalBytes: number;
  usedBytes: number;
}

/** Where the readers look: `/proc` and `/sys` (tests point them at fixtures). */
export interface ProcRoots {
  proc: string;
  sys: string;
}

/** The real kernel interfaces. */
export const HOST_ROOTS: ProcRoots = { proc: '/proc', sys: '/sys' };

/** Sector size `/proc/diskstats` counts in, whatever the device's own. */
const SECTOR_BYTES = 512;

/** Parses the `cpu` lines of `/proc/stat` (busy = everything but idle and iowait). */
export function parseProcStat(text: string): CpuTimes[] {
  const out: CpuTimes[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('cpu')) continue;
    const [name, ...fields] = line.trim().split(/\s+/);
    const n = fields.slice(0, 8).map(Number);
    const total = n.reduce((a, b) => a + b, 0);
    const idle = (n[3] ?? 0) + (n[4] ?? 0);
    out.push({ name: name!, busy: total - idle, total });
  }
  return out;
}

/** Parses `/proc/loadavg`: the 1, 5 and 15 minute load averages. */
export function parseLoadavg(text: string): { one: number; five: number; fifteen: number } {
  const [one, five, fifteen] = text.trim().split(/\s+/).map(Number);
  return { one: one ?? 0, five: five ?? 0, fifteen: fifteen ?? 0 };
}

/** Parses `/proc/meminfo` (kB values) into bytes. */
export function parseMeminfo(text: string): MemoryInfo {
  const kb = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(\w+(?:\(\w+\))?):\s+(\d+)/.exec(line);
    if (m) kb.set(m[1]!, Number(m[2]) * 1024);
  }
  const totalBytes = kb.get('MemTotal') ?? 0;
  const availableBytes = kb.get('MemAvailable') ?? (kb.get('MemFree') ?? 0) + (kb.get('Buffers') ?? 0) + (kb.get('Cached') ?? 0);
  const swapTotalBytes = kb.get('SwapTotal') ?? 0;
  return {
    totalBytes,
    availableBytes,
    usedBytes: Math.max(0, totalBytes - availableBytes),
    swapTotalBytes,
    swapUsedBytes: Math.max(0, swapTotalBytes - (kb.get('SwapFree') ?? 0)),
  };
}

/** Parses `/proc/diskstats`, keeping only the devices in `devices` (whole disks, not partitions). */
export function parseDiskstats(text: string, devices: Set<string>): DiskCounters[] {
  const out: DiskCounters[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    const device = f[2];
    if (!device || !devices.has(device)) continue;
    out.push({ device, readBytes: Number(f[5]) * SECTOR_BYTES, writeBytes: Number(f[9]) * SECTOR_BYTES });
  }
  return out;
}

/** Parses `/proc/net/dev`. */
export function parseNetDev(text: string): NetworkCounters[] {
  const out: NetworkCounters[] = [];
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    out.push({ interface: line.slice(0, colon).trim(), rxBytes: f[0] ?? 0, rxPackets: f[1] ?? 0, txBytes: f[8] ?? 0, txPackets: f[9] ?? 0 });
  }
  return out;
}

/** Parses `/proc/cpuinfo`: how many logical CPUs it lists and the model of the first (undefined when it names none). */
export function parseCpuinfo(text: string): { count: number; model?: string } {
  let count = 0;
  let model: string | undefined;
  for (const line of text.split('\n')) {
    const m = /^([^:]+?)\s*:\s*(.*)$/.exec(line);
    if (!m) continue;
    if (m[1] === 'processor') count++;
    else if (m[1] === 'model name' && model === undefined && m[2]!.trim()) model = m[2]!.trim();
  }
  return { count, ...(model !== undefined ? { model } : {}) };
}

/** The block devices worth reporting: whole disks from `/sys/block`, without loop and ram devices. */
export function isReportedDisk(name: string): boolean {
  return !/^(loop|ram|zram|fd|sr)\d*/.test(name);
}

/** Mount points of real filesystems (backed by a `/dev/…` device), one per device, from `/proc/mounts`. */
export function parseMounts(text: string): Array<{ device: string; mountPoint: string }> {
  const seen = new Set<string>();
  const out: Array<{ device: string; mountPoint: string }> = [];
  for (const line of text.split('\n')) {
    const [device, mountPoint] = line.split(' ');
    if (!device?.startsWith('/dev/') || !mountPoint || seen.has(device)) continue;
    seen.add(device);
    out.push({ device, mountPoint: mountPoint.replace(/\\040/g, ' ') });
  }
  return out;
}

/** Reads the raw files one host sample needs. Files that are missing read as empty. */
export class ProcReader {
  private disks: Set<string> | undefined;

  constructor(private readonly roots: ProcRoots = HOST_ROOTS) {}

  /** CPU times, total first. */
  async cpu(): Promise<CpuTimes[]> {
    return parseProcStat(await this.read('proc', 'stat'));
  }

  async load(): Promise<{ one: number; five: number; fifteen: number }> {
    return parseLoadavg(await this.read('proc', 'loadavg'));
  }

  async memory(): Promise<MemoryInfo> {
    return parseMeminfo(await this.read('proc', 'meminfo'));
  }

  /** The logical CPUs `/proc/cpuinfo` lists (0 when it cannot be read) and their model. */
  async cpuinfo(): Promise<{ count: number; model?: string }> {
    return parseCpuinfo(await this.read('proc', 'cpuinfo'));
  }

  /** A line of `/proc/sys/kernel/<name>` (`hostname`, `osrelease`…), trimmed; '' when missing. */
  async kernel(name: string): Promise<string> {
    return (await this.read('proc', `sys/kernel/${name}`)).trim();
  }

  async diskIo(): Promise<DiskCounters[]> {
    this.disks ??= new Set((await this.list('sys', 'block')).filter(isReportedDisk));
    return parseDiskstats(await this.read('proc', 'diskstats'), this.disks);
  }

  async network(): Promise<NetworkCounters[]> {
    return parseNetDev(await this.read('proc', 'net/dev'));
  }

  /** Space of every real filesystem, through `statfs` on its mount point. */
  async filesystems(): Promise<FilesystemSpace[]> {
    const mounts = parseMounts(await this.read('proc', 'mounts'));
    const out: FilesystemSpace[] = [];
    for (const m of mounts) {
      try {
        const s = await statfs(m.mountPoint);
        const totalBytes = s.blocks * s.bsize;
        out.push({ ...m, totalBytes, usedBytes: Math.max(0, totalBytes - s.bfree * s.bsize) });
      } catch {
        // a mount point this process cannot see (another namespace) is left out
      }
    }
    return out;
  }

  /**
   * Reads a kernel file synchronously: /proc and /sys are generated in memory, so a direct read
   * (tens of microseconds) is far cheaper than a round trip through the libuv thread pool.
   */
  private async read(root: keyof ProcRoots, path: string): Promise<string> {
    try {
      return readFileSync(`${this.roots[root]}/${path}`, 'utf8');
    } catch {
      return '';
    }
  }

  private async list(root: keyof ProcRoots, path: string): Promise<string[]> {
    try {
      return readdirSync(`${this.roots[root]}/${path}`);
    } catch {
      return [];
    }
  }
}
