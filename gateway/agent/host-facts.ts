import { access, readFile, statfs } from 'node:fs/promises';
import { arch, cpus, hostname, networkInterfaces, platform, release, totalmem } from 'node:os';
import type { DriverProbeReport } from '../../drivers/registry';
import { BadInputError } from '../errors';
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
  /** The image formats it takes, when it declares them (absent: `DEFAULT_IMAGE_FORMATS`). */
  imageFormats?: string[];
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

/**
 * What of the facts counts as a change worth reporting: everything but when they were read and the
 * free space of filesystems (a measure that moves all the time, not a fact of the machine).
 */
export function factsFingerprint(facts: HostFactsData): string {
  const { reportedAt: _at, dataDir, filesystems, ...rest } = facts;
  return JSON.stringify({ ...rest, dataDir: { path: dataDir.path, sizeBytes: dataDir.sizeBytes }, filesystems: filesystems.map(({ freeBytes: _free, ...f }) => f) });
}

/** Facts as an agent sent them, checked field by field (BAD_USER_INPUT naming the first wrong one). */
export function checkedFacts(value: unknown): HostFactsData {
  const wrong = (field: string): never => {
    throw new BadInputError(`reportFacts: ${field} is missing or of the wrong type`, { field });
  };
  const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
  const str = (o: Record<string, unknown>, k: string, at: string) => (typeof o[k] === 'string' ? (o[k] as string) : wrong(`${at}${k}`));
  const num = (o: Record<string, unknown>, k: string, at: string) => (typeof o[k] === 'number' && Number.isFinite(o[k]) && (o[k] as number) >= 0 ? (o[k] as number) : wrong(`${at}${k}`));
  const list = (o: Record<string, unknown>, k: string, at: string) => (Array.isArray(o[k]) ? (o[k] as unknown[]) : wrong(`${at}${k}`));
  const strings = (o: Record<string, unknown>, k: string, at: string) => list(o, k, at).map((x, i) => (typeof x === 'string' ? x : wrong(`${at}${k}[${i}]`)));
  if (!isObject(value)) return wrong('facts');
  const f = value;
  for (const k of ['hostname', 'kernel', 'arch', 'platform', 'cpuModel', 'reportedAt']) str(f, k, '');
  for (const k of ['cpus', 'memoryBytes']) num(f, k, '');
  if (!isObject(f.dataDir)) wrong('dataDir');
  const dataDir = f.dataDir as Record<string, unknown>;
  str(dataDir, 'path', 'dataDir.');
  num(dataDir, 'sizeBytes', 'dataDir.');
  num(dataDir, 'freeBytes', 'dataDir.');
  list(f, 'filesystems', '').forEach((x, i) => {
    const at = `filesystems[${i}].`;
    if (!isObject(x)) return wrong(at);
    str(x, 'device', at);
    str(x, 'mountPoint', at);
    num(x, 'sizeBytes', at);
    num(x, 'freeBytes', at);
  });
  list(f, 'interfaces', '').forEach((x, i) => {
    const at = `interfaces[${i}].`;
    if (!isObject(x)) return wrong(at);
    str(x, 'name', at);
    str(x, 'mac', at);
    strings(x, 'addresses', at);
    if (typeof x.internal !== 'boolean') wrong(`${at}internal`);
    if (x.speedBitsPerSecond !== null) num(x, 'speedBitsPerSecond', at);
  });
  list(f, 'drivers', '').forEach((x, i) => {
    const at = `drivers[${i}].`;
    if (!isObject(x)) return wrong(at);
    str(x, 'name', at);
    str(x, 'technology', at);
    if (typeof x.available !== 'boolean') wrong(`${at}available`);
    strings(x, 'operations', at);
    strings(x, 'limits', at);
    if (x.imageFormats !== undefined) strings(x, 'imageFormats', at);
  });
  return value as unknown as HostFactsData;
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
    ...(report.capabilities.imageFormats ? { imageFormats: [...report.capabilities.imageFormats] } : {}),
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
 * null when the file is missing or unreadable (EINVAL on a down link) or says -1, and for a
 * virtual interface (no `device` beside it: a container's veth, a bridge, a TAP, an ifb), whose
 * speed is nominal — a veth says 10000 whatever carries it — so that the host's bandwidth is never
 * read off a container that happened to run when its facts were taken. A bond is virtual too: its
 * links count one by one.
 */
export async function linkSpeed(roots: ProcRoots, name: string): Promise<number | null> {
  const dir = `${roots.sys}/class/net/${name}`;
  let text: string;
  try {
    await access(`${dir}/device`);
    text = await readFile(`${dir}/speed`, 'utf8');
  } catch {
    return null;
  }
  const mbits = Number.parseInt(text.trim(), 10);
  return Number.isFinite(mbits) && mbits > 0 ? mbits * 1_000_000 : null;
}
