import type { ImageRef, LimitName, ResourceLimits } from '../../drivers/contract';
import type { ArtifactManifest } from '../artifacts/manifest';
import { validateEnvironmentName } from '../environments';
import { BadInputError } from '../errors';
import type { EnvironmentInterface, EnvironmentVolume, PublishedPort, ReplicaSource } from '../persistence/entities';
import { UUID_PATTERN } from '../persistence/time-ordered-id';
import { unsafeTextProblem } from '../server/input-guard';
import { validateInterface, validatePorts, validateVolumes } from '../services/environment-rules';

const CHUNK_ID = /^[0-9a-f]{64}$/;
const DRIVER_NAME = /^[a-z0-9][a-z0-9._-]{0,99}$/i;
const LIMIT_NAMES: readonly LimitName[] = ['cpuWeight', 'cpuQuota', 'memoryBytes', 'diskBytes', 'networkBitsPerSecond', 'pids'];
/** Longest command a replica from another site may carry: arguments and characters of each. */
const MAX_COMMAND_ARGS = 256;
const MAX_TEXT = 4096;

const refused = (field: string, why: string) => new BadInputError(`recordReplica: ${field} ${why}`, { field });

/** A plain object (not an array, not null), else BAD_USER_INPUT naming `field`. */
function objectOf(value: unknown, field: string): Record<string, unknown> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw refused(field, 'must be an object');
  return value as Record<string, unknown>;
}

/** A string of at most `max` characters fit for storage (no NUL, no lone surrogate). */
function textOf(value: unknown, field: string, max = MAX_TEXT): string {
  if (typeof value !== 'string' || value.length > max) throw refused(field, `must be a string of at most ${max} characters`);
  const problem = unsafeTextProblem(value);
  if (problem) throw refused(field, problem);
  return value;
}

/** A whole number from 0 to `max`. */
export function countOf(value: unknown, field: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max) throw refused(field, `must be a whole number from 0 to ${max}`);
  return value;
}

/** Whether `value` is an id as this site's database keeps them (a UUID). */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID_PATTERN.test(value);
}

/** An id as this site's database keeps them (a UUID), else BAD_USER_INPUT naming `field`. */
export function uuidOf(value: unknown, field: string): string {
  if (!isUuid(value)) throw refused(field, 'must be a UUID');
  return value;
}

/**
 * The size of a manifest another site sent, in bytes: each chunk a 64-hex id with a whole size,
 * the sizes adding up to the manifest's `size`. BAD_USER_INPUT otherwise, so no peer can record a
 * replica whose size (what the group's storage quota counts) is not what its chunks hold.
 */
export function checkedManifestSize(manifest: ArtifactManifest): number {
  if (!manifest || typeof manifest !== 'object' || !Array.isArray(manifest.chunks)) throw new BadInputError('manifest must be an artifact manifest');
  let total = 0;
  for (const [i, chunk] of manifest.chunks.entries()) {
    if (!chunk || typeof chunk.hash !== 'string' || !CHUNK_ID.test(chunk.hash)) throw refused(`manifest.chunks[${i}].hash`, 'must be 64 hex digits');
    total += countOf(chunk.size, `manifest.chunks[${i}].size`);
  }
  if (total !== manifest.size || !Number.isSafeInteger(total)) throw refused('manifest.size', `must be the sum of its chunks' sizes (${total})`);
  return total;
}

/**
 * The environment description of a replica another site sends (`recordReplica`), checked as a
 * create's input is (name, volumes, host↔image interface, ports, limits, command): it becomes an
 * environment of this site when the replica is restored. Only the known fields are kept; the
 * restore command is never taken from another site, nor the image (this site's of the digest is).
 */
export function checkedPeerSource(value: unknown): Omit<ReplicaSource, 'imageId'> {
  const s = objectOf(value, 'source');
  const name = textOf(s.name, 'source.name', 63);
  validateEnvironmentName(name);
  const driver = textOf(s.driver, 'source.driver', 100);
  const technology = textOf(s.technology, 'source.technology', 100);
  if (!DRIVER_NAME.test(driver) || !DRIVER_NAME.test(technology)) throw refused('source.driver', 'and source.technology must be names (letters, digits, . _ -)');
  const limitsIn = objectOf(s.limits ?? {}, 'source.limits');
  const limits: ResourceLimits = {};
  for (const [key, v] of Object.entries(limitsIn)) {
    if (v === undefined || v === null) continue;
    if (!LIMIT_NAMES.includes(key as LimitName)) throw refused(`source.limits.${key}`, 'is not a limit');
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw refused(`source.limits.${key}`, 'must be a positive number');
    limits[key as LimitName] = v;
  }
  if (!Array.isArray(s.volumes)) throw refused('source.volumes', 'must be a list');
  const volumes: EnvironmentVolume[] = s.volumes.map((raw, i) => {
    const v = objectOf(raw, `source.volumes[${i}]`);
    if (v.kind !== 'config' && v.kind !== 'data') throw refused(`source.volumes[${i}].kind`, 'must be config or data');
    return { name: textOf(v.name, `source.volumes[${i}].name`, 63), kind: v.kind, mountPath: textOf(v.mountPath, `source.volumes[${i}].mountPath`, 255), readOnly: v.readOnly === true };
  });
  validateVolumes(volumes);
  const i = objectOf(s.iface, 'source.iface');
  if (!Array.isArray(i.dns)) throw refused('source.iface.dns', 'must be a list');
  if (i.network !== 'none' && i.network !== 'bridge') throw refused('source.iface.network', 'must be none or bridge');
  const config: Record<string, string> = {};
  for (const [key, v] of Object.entries(objectOf(i.config ?? {}, 'source.iface.config'))) config[textOf(key, 'source.iface.config key', 128)] = textOf(v, `source.iface.config.${key}`);
  const iface: EnvironmentInterface = { hostname: textOf(i.hostname, 'source.iface.hostname', 253), dns: i.dns.map((d, n) => textOf(d, `source.iface.dns[${n}]`, 64)), network: i.network, config };
  validateInterface(iface);
  // A copy gets an address of its own host: only whether it had one is kept (lifecycle.record).
  if (i.address !== undefined && i.address !== null) iface.address = objectOf(i.address, 'source.iface.address') as unknown as EnvironmentInterface['address'];
  if (i.ports !== undefined && i.ports !== null) {
    if (!Array.isArray(i.ports)) throw refused('source.iface.ports', 'must be a list');
    const ports: PublishedPort[] = i.ports.map((raw, n) => {
      const p = objectOf(raw, `source.iface.ports[${n}]`);
      return { hostPort: p.hostPort as number, port: p.port as number, protocol: p.protocol as PublishedPort['protocol'] };
    });
    validatePorts(ports);
    iface.ports = ports;
  }
  if (i.readOnlyRoot !== undefined) iface.readOnlyRoot = i.readOnlyRoot === true;
  let command: string[] | null = null;
  if (s.command !== undefined && s.command !== null) {
    if (!Array.isArray(s.command) || s.command.length === 0 || s.command.length > MAX_COMMAND_ARGS) throw refused('source.command', `must be a list of 1 to ${MAX_COMMAND_ARGS} arguments`);
    command = s.command.map((a, n) => textOf(a, `source.command[${n}]`));
  }
  let imageRef: ImageRef | null = null;
  if (s.imageRef !== undefined && s.imageRef !== null) {
    const r = objectOf(s.imageRef, 'source.imageRef');
    imageRef = { ref: textOf(r.ref, 'source.imageRef.ref', 1024), ...(r.digest !== undefined && r.digest !== null ? { digest: textOf(r.digest, 'source.imageRef.digest', 100) } : {}) };
  }
  return { name, hostId: uuidOf(s.hostId, 'source.hostId'), driver, technology, imageRef, limits, volumes, iface, command, restoreCommand: null };
}
