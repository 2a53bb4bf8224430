import type { HostFactsData } from '../agent/host-facts';
import { ResourceUnit } from '../persistence/entities';

/** A resource of a host as its agent's facts describe it. */
export interface FactResource {
  type: string;
  unit: ResourceUnit;
  total: number;
  description: string;
}

/**
 * The resources a host's facts describe: CPU (logical cores), RAM (bytes), DISK (bytes of the
 * filesystem of the agent's data directory) and NET_BANDWIDTH (its fastest external link, only when
 * the kernel reports a speed for one).
 */
export function factResources(facts: HostFactsData): FactResource[] {
  const out: FactResource[] = [
    { type: 'CPU', unit: ResourceUnit.CORES, total: facts.cpus, description: facts.cpuModel },
    { type: 'RAM', unit: ResourceUnit.BYTES, total: facts.memoryBytes, description: 'memory' },
    { type: 'DISK', unit: ResourceUnit.BYTES, total: facts.dataDir.sizeBytes, description: `filesystem of ${facts.dataDir.path}` },
  ];
  const links = facts.interfaces.filter((i) => !i.internal && i.speedBitsPerSecond !== null);
  if (links.length) {
    const fastest = links.reduce((a, b) => (b.speedBitsPerSecond! > a.speedBitsPerSecond! ? b : a));
    out.push({ type: 'NET_BANDWIDTH', unit: ResourceUnit.BITS_PER_SECOND, total: fastest.speedBitsPerSecond!, description: `link ${fastest.name}` });
  }
  return out.filter((r) => r.total > 0);
}
