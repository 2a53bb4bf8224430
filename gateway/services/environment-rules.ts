import { isIP } from 'node:net';
import { posix } from 'node:path';
import { VOLUME_NAME_PATTERN } from '../../drivers/contract';
import type { LimitName, ResourceLimits } from '../../drivers/contract';
import { BadInputError, UnsupportedOperationError } from '../errors';
import { capacityOf, EnvironmentInterface, EnvironmentVolume, ResourceEntity, ResourceUnit, ResourceWant, type PublishedPort } from '../persistence/entities';

const HOSTNAME_PATTERN = /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;
const CONFIG_KEY_PATTERN = /^[A-Z_][A-Z0-9_]{0,127}$/;
const MAX_VOLUMES = 20;

/** Checks volumes: safe names (no path traversal), absolute normalised mount paths, no duplicates. */
export function validateVolumes(volumes: EnvironmentVolume[]): void {
  if (volumes.length > MAX_VOLUMES) throw new BadInputError(`At most ${MAX_VOLUMES} volumes`, { count: volumes.length });
  const names = new Set<string>();
  const mounts = new Set<string>();
  for (const v of volumes) {
    if (!VOLUME_NAME_PATTERN.test(v.name)) throw new BadInputError(`"${v.name}" is not a volume name: use a-z, 0-9, _ and -, starting with a letter or digit`, { volume: v.name });
    if (!v.mountPath.startsWith('/') || posix.normalize(v.mountPath) !== v.mountPath || v.mountPath.split('/').includes('..') || v.mountPath === '/' || v.mountPath.length > 255) {
      throw new BadInputError(`Volume ${v.name}: mount path "${v.mountPath}" must be an absolute, normalised path other than /`, { volume: v.name, mountPath: v.mountPath });
    }
    if (names.has(v.name)) throw new BadInputError(`Volume ${v.name} is given twice`, { volume: v.name });
    if (mounts.has(v.mountPath)) throw new BadInputError(`Two volumes are mounted at ${v.mountPath}`, { mountPath: v.mountPath });
    names.add(v.name);
    mounts.add(v.mountPath);
  }
}

/** Checks the host↔image interface values. */
export function validateInterface(iface: EnvironmentInterface): void {
  if (!HOSTNAME_PATTERN.test(iface.hostname) || iface.hostname.length > 253) throw new BadInputError(`"${iface.hostname}" is not a valid hostname`, { hostname: iface.hostname });
  for (const server of iface.dns) if (!isIP(server)) throw new BadInputError(`DNS server "${server}" is not an IP address`, { dns: server });
  for (const [key, value] of Object.entries(iface.config)) {
    if (!CONFIG_KEY_PATTERN.test(key)) throw new BadInputError(`Config key "${key}" must be UPPER_CASE letters, digits and _`, { key });
    if (value.length > 4096 || value.includes('\0')) throw new BadInputError(`Config value of ${key} is too long or holds a NUL byte`, { key });
  }
}

/** Checks host ports asked for: 1–65535, tcp or udp, each host port once. */
export function validatePorts(ports: PublishedPort[]): void {
  const seen = new Set<string>();
  for (const p of ports) {
    if (![p.hostPort, p.port].every((n) => Number.isInteger(n) && n >= 1 && n <= 65535)) throw new BadInputError(`Port ${p.hostPort} → ${p.port}: ports are 1–65535`, { hostPort: p.hostPort, port: p.port });
    if (p.protocol !== 'tcp' && p.protocol !== 'udp') throw new BadInputError(`Port ${p.hostPort}: the protocol is tcp or udp`, { protocol: p.protocol });
    const key = `${p.hostPort}/${p.protocol}`;
    if (seen.has(key)) throw new BadInputError(`Host port ${key} is asked for twice`, { hostPort: p.hostPort, protocol: p.protocol });
    seen.add(key);
  }
}

/** Which host resource (type, and how to compare) bounds each limit. */
const LIMIT_RESOURCES: Partial<Record<LimitName, string>> = { memoryBytes: 'RAM', diskBytes: 'DISK', networkBitsPerSecond: 'NET_BANDWIDTH', cpuQuota: 'CPU' };

/**
 * Checks limits: positive, advertised by the driver (else UNSUPPORTED_OPERATION), and not more than
 * the host has (else BAD_USER_INPUT).
 */
export function validateLimits(limits: ResourceLimits, enforced: readonly LimitName[], driver: string, hostResources: ResourceEntity[], hostname: string): void {
  for (const [name, value] of Object.entries(limits) as Array<[LimitName, number | undefined]>) {
    if (value === undefined) continue;
    if (!(typeof value === 'number' && Number.isFinite(value) && value > 0)) throw new BadInputError(`Limit ${name} must be a positive number`, { limit: name, value });
    if (name === 'cpuWeight' && (!Number.isInteger(value) || value > 10000)) throw new BadInputError('cpuWeight must be a whole number from 1 to 10000', { value });
    if (!enforced.includes(name)) throw new UnsupportedOperationError(`limit ${name}`, `driver ${driver}`, 'the engine cannot enforce it');
    const type = LIMIT_RESOURCES[name];
    const resource = type ? hostResources.find((r) => r.type === type && (type !== 'CPU' || r.unit === 'CORES')) : undefined;
    if (resource) {
      const bound = type === 'CPU' ? resource.total : capacityOf(resource);
      if (value > bound) throw new BadInputError(`Limit ${name} (${value}) is more than host ${hostname} has (${bound})`, { limit: name, value, host: bound });
    }
  }
}

/**
 * The limits of an environment on an allocation: each limit asked must be backed by what the
 * allocation holds and be no more than it (else BAD_USER_INPUT); a limit not asked is set to the
 * amount held when the driver enforces it.
 */
export function limitsWithin(asked: ResourceLimits, held: ResourceWant[], enforced: readonly LimitName[], allocationId: string): ResourceLimits {
  const limits: ResourceLimits = { ...asked };
  for (const [name, type] of Object.entries(LIMIT_RESOURCES) as Array<[LimitName, string]>) {
    const want = held.find((w) => w.type === type && (type !== 'CPU' || w.unit === ResourceUnit.CORES));
    const value = asked[name];
    if (value !== undefined) {
      if (!want) throw new BadInputError(`Limit ${name}: allocation ${allocationId} holds no ${type}${type === 'CPU' ? ' in CORES' : ''}`, { limit: name, allocationId });
      if (value > want.amount) throw new BadInputError(`Limit ${name} (${value}) is more than allocation ${allocationId} holds (${want.amount})`, { limit: name, value, held: want.amount });
    } else if (want && enforced.includes(name)) limits[name] = want.amount;
  }
  return limits;
}
