import type { CpuTimes, DiskCounters, NetworkCounters } from './proc-readers';
import { ProcReader } from './proc-readers';
import type { MachineSample } from './samples';

/** What the collector remembers between two samples to turn counters into rates. */
interface Previous {
  at: number;
  cpu: CpuTimes[];
  disks: Map<string, DiskCounters>;
  networks: Map<string, NetworkCounters>;
}

/**
 * Samples a machine from its `/proc` and `/sys` (a host agent's own; the roots of its reader):
 * CPU use (total and per core) and I/O rates are computed from the counters' change since the
 * previous sample. The first sample's rates are 0.
 */
export class HostCollector {
  private previous: Previous | undefined;

  constructor(private readonly reader: ProcReader = new ProcReader()) {}

  /** One sample of the machine, without identity (the gateway adds host, site, source and agent). */
  async sample(now = Date.now()): Promise<MachineSample> {
    const [cpu, load, memory, disks, networks, filesystems] = await Promise.all([
      this.reader.cpu(),
      this.reader.load(),
      this.reader.memory(),
      this.reader.diskIo(),
      this.reader.network(),
      this.reader.filesystems(),
    ]);
    const prev = this.previous;
    const seconds = prev ? Math.max(0.001, (now - prev.at) / 1000) : 0;
    const usage = (c: CpuTimes) => {
      const before = prev?.cpu.find((p) => p.name === c.name);
      const total = before ? c.total - before.total : 0;
      return total > 0 ? clamp01((c.busy - before!.busy) / total) : 0;
    };
    const rate = (now: number, before: number | undefined) => (seconds && before !== undefined && now >= before ? (now - before) / seconds : 0);
    this.previous = { at: now, cpu, disks: new Map(disks.map((d) => [d.device, d])), networks: new Map(networks.map((n) => [n.interface, n])) };
    return {
      at: now,
      cpu: { usage: cpu[0] ? usage(cpu[0]) : 0, cores: cpu.slice(1).map(usage) },
      load,
      memory: { totalBytes: memory.totalBytes, usedBytes: memory.usedBytes, availableBytes: memory.availableBytes },
      swap: { totalBytes: memory.swapTotalBytes, usedBytes: memory.swapUsedBytes },
      disks: disks.map((d) => ({
        ...d,
        readBytesPerSecond: rate(d.readBytes, prev?.disks.get(d.device)?.readBytes),
        writeBytesPerSecond: rate(d.writeBytes, prev?.disks.get(d.device)?.writeBytes),
      })),
      filesystems,
      networks: networks.map((n) => ({
        ...n,
        rxBytesPerSecond: rate(n.rxBytes, prev?.networks.get(n.interface)?.rxBytes),
        txBytesPerSecond: rate(n.txBytes, prev?.networks.get(n.interface)?.txBytes),
      })),
    };
  }
}

function clamp01(x: number): number {
  return Math.min(1, Math.max(0, x));
}
