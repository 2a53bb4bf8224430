import type { EnvironmentStats } from '../contract';
import type { DomainInfoFacts } from './binding';

/**
 * Environment stats from libvirt: CPU time and memory from virDomainGetInfo (the binding), block
 * and interface byte counters from `virsh domstats` (summed over devices) when the connection is
 * one virsh can reach.
 */
export function statsFromLibvirt(info: DomainInfoFacts, domstats: Record<string, string> | undefined, at = new Date()): EnvironmentStats {
  const sum = (pattern: RegExp) => Object.entries(domstats ?? {}).filter(([k]) => pattern.test(k)).reduce((n, [, v]) => n + (Number(v) || 0), 0);
  const rssKiB = Number(domstats?.['balloon.rss']);
  const cpuNs = domstats?.['cpu.time'] !== undefined ? Number(domstats['cpu.time']) : info.cpuTime;
  return {
    at,
    cpuSeconds: Number.isFinite(cpuNs) ? cpuNs / 1e9 : 0,
    memoryBytes: (Number.isFinite(rssKiB) && rssKiB > 0 ? rssKiB : info.memory) * 1024,
    memoryLimitBytes: info.maxMem * 1024,
    diskReadBytes: sum(/^block\.\d+\.rd\.bytes$/),
    diskWriteBytes: sum(/^block\.\d+\.wr\.bytes$/),
    networkRxBytes: sum(/^net\.\d+\.rx\.bytes$/),
    networkTxBytes: sum(/^net\.\d+\.tx\.bytes$/),
  };
}

/** Stats of an environment that is not running: nothing used. */
export function idleStats(info: DomainInfoFacts, at = new Date()): EnvironmentStats {
  return { at, cpuSeconds: 0, memoryBytes: 0, memoryLimitBytes: info.maxMem * 1024, diskReadBytes: 0, diskWriteBytes: 0, networkRxBytes: 0, networkTxBytes: 0 };
}
