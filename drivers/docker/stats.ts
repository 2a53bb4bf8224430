import type { EnvironmentStats } from '../contract';

/** The parts of Docker's `stats` answer this driver reads (cgroup v1 and v2 shapes). */
export interface DockerStatsSample {
  read?: string;
  cpu_stats?: { cpu_usage?: { total_usage?: number } };
  memory_stats?: { usage?: number; limit?: number; stats?: Record<string, number> };
  blkio_stats?: { io_service_bytes_recursive?: Array<{ op: string; value: number }> | null };
  networks?: Record<string, { rx_bytes?: number; tx_bytes?: number }>;
  pids_stats?: { current?: number; limit?: number };
}

/** A limit the engine reports for "no limit" (close to the host's memory or 2^63). */
const NO_LIMIT = 2 ** 62;

/**
 * Normalises one `stats({ stream: false })` sample to the contract's units: CPU in seconds
 * (nanoseconds from the engine), memory in bytes without the page cache (as `docker stats` shows
 * it), block I/O and network in cumulative bytes. A stopped container gives zeros.
 */
export function normaliseStats(sample: DockerStatsSample, now = new Date()): EnvironmentStats {
  const mem = sample.memory_stats ?? {};
  const cache = mem.stats?.total_inactive_file ?? mem.stats?.inactive_file ?? mem.stats?.cache ?? 0;
  const memoryBytes = Math.max(0, (mem.usage ?? 0) - cache);
  let diskReadBytes = 0;
  let diskWriteBytes = 0;
  for (const entry of sample.blkio_stats?.io_service_bytes_recursive ?? []) {
    const op = entry.op.toLowerCase();
    if (op === 'read') diskReadBytes += entry.value;
    else if (op === 'write') diskWriteBytes += entry.value;
  }
  let networkRxBytes = 0;
  let networkTxBytes = 0;
  for (const net of Object.values(sample.networks ?? {})) {
    networkRxBytes += net.rx_bytes ?? 0;
    networkTxBytes += net.tx_bytes ?? 0;
  }
  const read = sample.read ? new Date(sample.read) : undefined;
  const stats: EnvironmentStats = {
    at: read && read.getTime() > 0 ? read : now,
    cpuSeconds: (sample.cpu_stats?.cpu_usage?.total_usage ?? 0) / 1e9,
    memoryBytes,
    diskReadBytes,
    diskWriteBytes,
    networkRxBytes,
    networkTxBytes,
  };
  if (mem.limit && mem.limit < NO_LIMIT) stats.memoryLimitBytes = mem.limit;
  if (sample.pids_stats?.current !== undefined) stats.pids = sample.pids_stats.current;
  return stats;
}
