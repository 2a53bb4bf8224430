/** One core's (or the whole machine's) CPU use over the last interval, 0–1. */
export interface CpuUsage {
  usage: number;
  cores: number[];
}

/** A disk's I/O: cumulative bytes and the rate over the last interval. */
export interface DiskSample {
  device: string;
  readBytes: number;
  writeBytes: number;
  readBytesPerSecond: number;
  writeBytesPerSecond: number;
}

/** A network interface's traffic: cumulative counters and byte rates over the last interval. */
export interface NetworkSample {
  interface: string;
  rxBytes: number;
  txBytes: number;
  rxPackets: number;
  txPackets: number;
  rxBytesPerSecond: number;
  txBytesPerSecond: number;
}

/**
 * What a host agent measures of its own machine (`/proc` and `/sys`), without identity: plain
 * numbers, so it travels as it is over the agent protocol and the Redis bus.
 */
export interface MachineSample {
  /** When it was taken, epoch milliseconds (the agent's clock). */
  at: number;
  cpu: CpuUsage;
  load: { one: number; five: number; fifteen: number };
  memory: { totalBytes: number; usedBytes: number; availableBytes: number };
  swap: { totalBytes: number; usedBytes: number };
  disks: DiskSample[];
  filesystems: Array<{ device: string; mountPoint: string; totalBytes: number; usedBytes: number }>;
  networks: NetworkSample[];
}

/** One live sample of a host, as published and as subscribers receive it: its agent's measure of its machine. */
export interface HostSample extends MachineSample {
  hostId: string;
  siteId: string;
  /** The gateway instance that published it. */
  source: string;
  /** The host agent that measured it, on the host's own machine. */
  agent: string;
}

/** One live sample of an environment, from its driver's `stats`. */
export interface EnvironmentSample {
  environmentId: string;
  groupId: string;
  hostId: string;
  siteId: string;
  at: number;
  source: string;
  cpuSeconds: number;
  /** Cores busy over the last interval (1 = one full core). */
  cpuUsage: number;
  memoryBytes: number;
  memoryLimitBytes: number | null;
  diskReadBytes: number;
  diskWriteBytes: number;
  networkRxBytes: number;
  networkTxBytes: number;
  networkRxBytesPerSecond: number;
  networkTxBytesPerSecond: number;
  pids: number | null;
}

/** A site's hosts and environments added up for one interval. */
export interface SiteSample {
  siteId: string;
  at: number;
  source: string;
  hosts: number;
  environments: number;
  cpuUsage: number;
  memoryTotalBytes: number;
  memoryUsedBytes: number;
  networkRxBytesPerSecond: number;
  networkTxBytesPerSecond: number;
}

/** What a stored series belongs to. */
export type MetricTarget = 'HOST' | 'ENVIRONMENT' | 'SITE';

/** The flat metric names stored in history and usable in alert rules, per target. */
export const METRIC_NAMES: Record<MetricTarget, readonly string[]> = {
  HOST: ['cpu.usage', 'load.one', 'memory.usedBytes', 'memory.usedRatio', 'swap.usedBytes', 'disk.readBytesPerSecond', 'disk.writeBytesPerSecond', 'filesystem.usedRatio', 'network.rxBytesPerSecond', 'network.txBytesPerSecond'],
  ENVIRONMENT: ['cpu.usage', 'memory.bytes', 'memory.usedRatio', 'network.rxBytesPerSecond', 'network.txBytesPerSecond', 'pids'],
  SITE: ['cpu.usage', 'memory.usedBytes', 'memory.usedRatio', 'network.rxBytesPerSecond', 'network.txBytesPerSecond', 'environments'],
};

/** A host sample flattened to the stored metric names. */
export function flattenHost(s: HostSample): Record<string, number> {
  const sum = <T>(xs: T[], f: (x: T) => number) => xs.reduce((a, x) => a + f(x), 0);
  const fsTotal = sum(s.filesystems, (f) => f.totalBytes);
  return {
    'cpu.usage': s.cpu.usage,
    'load.one': s.load.one,
    'memory.usedBytes': s.memory.usedBytes,
    'memory.usedRatio': s.memory.totalBytes ? s.memory.usedBytes / s.memory.totalBytes : 0,
    'swap.usedBytes': s.swap.usedBytes,
    'disk.readBytesPerSecond': sum(s.disks, (d) => d.readBytesPerSecond),
    'disk.writeBytesPerSecond': sum(s.disks, (d) => d.writeBytesPerSecond),
    'filesystem.usedRatio': fsTotal ? sum(s.filesystems, (f) => f.usedBytes) / fsTotal : 0,
    'network.rxBytesPerSecond': sum(s.networks, (n) => n.rxBytesPerSecond),
    'network.txBytesPerSecond': sum(s.networks, (n) => n.txBytesPerSecond),
  };
}

/** An environment sample flattened to the stored metric names. */
export function flattenEnvironment(s: EnvironmentSample): Record<string, number> {
  return {
    'cpu.usage': s.cpuUsage,
    'memory.bytes': s.memoryBytes,
    'memory.usedRatio': s.memoryLimitBytes ? s.memoryBytes / s.memoryLimitBytes : 0,
    'network.rxBytesPerSecond': s.networkRxBytesPerSecond,
    'network.txBytesPerSecond': s.networkTxBytesPerSecond,
    pids: s.pids ?? 0,
  };
}

/** A site sample flattened to the stored metric names. */
export function flattenSite(s: SiteSample): Record<string, number> {
  return {
    'cpu.usage': s.cpuUsage,
    'memory.usedBytes': s.memoryUsedBytes,
    'memory.usedRatio': s.memoryTotalBytes ? s.memoryUsedBytes / s.memoryTotalBytes : 0,
    'network.rxBytesPerSecond': s.networkRxBytesPerSecond,
    'network.txBytesPerSecond': s.networkTxBytesPerSecond,
    environments: s.environments,
  };
}

/** Adds up the hosts and environments of one site for one interval. */
export function aggregateSite(siteId: string, at: number, source: string, hosts: HostSample[], envs: EnvironmentSample[]): SiteSample {
  const cores = hosts.reduce((a, h) => a + Math.max(1, h.cpu.cores.length), 0);
  return {
    siteId,
    at,
    source,
    hosts: hosts.length,
    environments: envs.length,
    cpuUsage: cores ? hosts.reduce((a, h) => a + h.cpu.usage * Math.max(1, h.cpu.cores.length), 0) / cores : 0,
    memoryTotalBytes: hosts.reduce((a, h) => a + h.memory.totalBytes, 0),
    memoryUsedBytes: hosts.reduce((a, h) => a + h.memory.usedBytes, 0),
    networkRxBytesPerSecond: hosts.reduce((a, h) => a + h.networks.reduce((b, n) => b + n.rxBytesPerSecond, 0), 0),
    networkTxBytesPerSecond: hosts.reduce((a, h) => a + h.networks.reduce((b, n) => b + n.txBytesPerSecond, 0), 0),
  };
}
