import { BadInputError, ConflictError, NotFoundError, UnsupportedOperationError } from './errors';
import type { Driver, InterfaceSpec, LimitName, OptionalCapability } from './contract';
import { ENVIRONMENT_ID_PATTERN, SNAPSHOT_NAME_PATTERN } from './contract';

export { UnsupportedOperationError, UnavailableError, TimeoutError, BadInputError, ConflictError, NotFoundError, RspError } from './errors';

/** The environment id names nothing this driver knows. */
export class EnvironmentNotFoundError extends NotFoundError {
  constructor(driver: string, id: string) {
    super('Environment', id, { driver });
  }
}

/** An environment with this id already exists on the driver. */
export class EnvironmentExistsError extends ConflictError {
  constructor(driver: string, id: string) {
    super(`Environment ${id} already exists on driver ${driver}`, { driver, id });
  }
}

/** Returns the optional method, or throws UNSUPPORTED_OPERATION naming the driver and the operation. */
export function requireCapability<K extends OptionalCapability>(driver: Driver, operation: K): NonNullable<Driver[K]> {
  const method = driver[operation];
  if (typeof method !== 'function' || !driver.capabilities().operations.includes(operation)) {
    throw new UnsupportedOperationError(operation, `driver ${driver.name}`);
  }
  return (method as (...args: unknown[]) => unknown).bind(driver) as NonNullable<Driver[K]>;
}

/** Throws UNSUPPORTED_OPERATION for the first asked limit the driver does not enforce. */
export function assertLimitsSupported(driver: Driver, limits: Partial<Record<LimitName, unknown>> | undefined): void {
  const enforced = new Set(driver.capabilities().limits);
  for (const [name, value] of Object.entries(limits ?? {})) {
    if (value !== undefined && !enforced.has(name as LimitName)) {
      throw new UnsupportedOperationError(`limit ${name}`, `driver ${driver.name}`, 'the engine cannot enforce it');
    }
  }
}

/** Throws UNSUPPORTED_OPERATION when the interface asks for a feature (published ports, a read-only root, an IPv6 address) the driver does not honour. */
export function assertFeaturesSupported(driver: Driver, iface: InterfaceSpec | undefined): void {
  const features = new Set(driver.capabilities().features ?? []);
  if (iface?.ports?.length && !features.has('publishedPorts')) throw new UnsupportedOperationError('published ports', `driver ${driver.name}`, 'the driver cannot publish host ports');
  if (iface?.readOnlyRoot && !features.has('readOnlyRoot')) throw new UnsupportedOperationError('a read-only root filesystem', `driver ${driver.name}`, 'the driver cannot make the root filesystem read-only');
  if (iface?.network?.ipv6 && !features.has('ipv6')) throw new UnsupportedOperationError('IPv6 addresses', `driver ${driver.name}`, "the driver gives environments IPv4 addresses only: clear the host's ipv6Range");
}

/** Throws BAD_USER_INPUT unless `id` is a valid environment id. */
export function assertEnvironmentId(id: string): void {
  if (!ENVIRONMENT_ID_PATTERN.test(id)) {
    throw new BadInputError(`"${id}" is not a valid environment id: use 1–63 of a-z, 0-9 and -, starting with a letter or digit`, { id });
  }
}

/** BAD_USER_INPUT unless `name` is a valid snapshot name (`SNAPSHOT_NAME_PATTERN`). */
export function assertSnapshotName(name: string): void {
  if (typeof name !== 'string' || !SNAPSHOT_NAME_PATTERN.test(name)) throw new BadInputError(`"${name}" is not a valid snapshot name: use 1–63 of a-z, 0-9, _ and -, starting with a letter or digit`, { snapshot: name });
}

/** NOT_FOUND for a snapshot name the environment does not have. */
export class SnapshotNotFoundError extends NotFoundError {
  constructor(driver: string, id: string, name: string) {
    super('Snapshot', name, { driver, environmentId: id });
  }
}
