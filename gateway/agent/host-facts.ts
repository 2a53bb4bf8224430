import { readFile, statfs } from 'node:fs/promises';
import { arch, cpus, hostname, networkInterfaces, platform, release, totalmem } from 'node:os';
import type { DriverProbeReport } from '../../drivers/registry';
import { HOST_ROOTS, ProcReader, type ProcRoots } from '../metrics/proc-readers';

/** One driver of the host as its agent's probe found it. */
export interface DriverFact {
  name: string;
  technology: string;
  available: boolean;
  /** The engine's version, when available. */
  version?: string;
  /** Why the driver cannot be used, when unavailable. */
  reason?: string;
  /** Its optional operations. */
  operations: string[];
  /** The limits it enforces. */
  limits: string[];
}

/** A filesystem of the host, with its space (bytes). */
export interface FilesystemFact {
  device: string;
  mountPoint: string;
  sizeBytes: number;
  freeBytes: number;
}

/** A network interface of the host. */
export interface InterfaceFact {
  name: string;
  /** Its hardware address ('' when it has none). */
  mac: string;
  /** Its addresses in CIDR notation. */
  addresses: string[];
  /** Loopback and the like. */
  internal: boolean;
  /** Its link speed in bits per second; null when the kernel does not say (virtual links, link down). */
  speedBitsPerSecond: number | null;
}

/**
 * What a host agent reports of its machine: plain data (`reportedAt` an ISO string). The gateway
 * fills the host's technologies and resource inventory from it.
 */
export interface HostFactsData {
  hostname: string;
  /** `os.release()`: the kernel's release. */
  kernel: string;
  /** Node's name of the CPU architecture (`x64`, `arm64`…). */
  arch: string;
  platform: string;
  cpuModel: string;
  /** Logical CPUs. */
  cpus: number;
  memoryBytes: number;
  /** The filesystem holding the agent's data directory (environments' volumes, images, replicas). */
  dataDir: { path: string; sizeBytes: number; freeBytes: number };
  /** Every filesystem on a block device. */
  filesystems: FilesystemFact[];
  interfaces: InterfaceFact[];
  drivers: DriverFact[];
  reportedAt: string;
}

/** Where facts are read from: the kernel's files (tests point them at fixtures) and the data directory. */
export interface HostFactsSources {
  dataDir: string;
  drivers: readonly DriverProbeReport[];
  roots?: ProcRoots;
}

/**
 * Collects the facts of the machine whose kernel files are at `roots` (this one by default): its
 * CPUs, memory, hostname and kernel come from `/proc` where it says, from this process's view of
 * the machine otherwise. Kernel files that are missing or unreadable leave their fact unknown.
 */
export async function collectHostFacts({ dataDir, drivers, roots = HOST_ROOTS }: HostFactsSources): Promise<HostFactsData> {
  const reader = new ProcReader(roots);
  const [cpuinfo, memory, name, kernel] = await Promise.all([reader.cpuinfo(), reader.memory(), reader.kernel('hostname'), reader.kernel('osrelease')]);
  const processors = cpus();
  const space = await statfs(dataDir);
  return {
    hostname: name || hostname(),
    kernel: kernel || release(),
    arch: arch(),
    platform: platform(),
    cpuModel: cpuinfo.model ?? (processors[0]?.model.trim() || 'unknown'),
    cpus: cpuinfo.count || processors.length,
    memoryBytes: memory.totalBytes || totalmem(),
    dataDir: { path: dataDir, sizeBytes: space.blocks * space.bsize, freeBytes: space.bavail * space.bsize },
    filesystems: (await reader.filesystems()).map((f) => ({ device: f.device, mountPoint: f.mountPoint, sizeBytes: f.totalBytes, freeBytes: f.totalBytes - f.usedBytes })),
    interfaces: await interfaceFacts(roots),
    drivers: drivers.map(driverFact),
    reportedAt: new Date().toISOString(),
  };
}

/** A probe report as a fact (its capabilities flattened, the driver's own host guess left out). */
export function driverFact(report: DriverProbeReport): DriverFact {
  return {
    name: report.name,
    technology: report.technology,
    available: report.available,
    ...(report.version !== undefined ? { version: report.version } : {}),
    ...(report.reason !== undefined ? { reason: report.reason } : {}),
    operations: [...report.capabilities.operations],
    limits: [...report.capabilities.limits],
  };
}

async function interfaceFacts(roots: ProcRoots): Promise<InterfaceFact[]> {
  const out: InterfaceFact[] = [];
  for (const [name, addresses] of Object.entries(networkInterfaces())) {
    const list = addresses ?? [];
    out.push({
      name,
      mac: list.find((a) => a.mac && a.mac !== '00:00:00:00:00:00')?.mac ?? '',
      addresses: list.map((a) => a.cidr ?? a.address),
      internal: list.length > 0 && list.every((a) => a.internal),
      speedBitsPerSecond: await linkSpeed(roots, name),
    });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * The link speed of an interface from `/sys/class/net/<name>/speed` (Mbit/s), in bits per second;
 * null when the file is missing or unreadable (EINVAL on a virtual or down link) or says -1.
 */
export async function linkSpeed(roots: ProcRoots, name: string): Promise<number | null> {
  let text: string;
  try {
    text = await readFile(`${roots.sys}/class/net/${name}/speed`, 'utf8');
  } catch {
    return null;
  }
  const mbits = Number.parseInt(text.trim(), 10);
  return Number.isFinite(mbits) && mbits > 0 ? mbits * 1_000_000 : null;
}
