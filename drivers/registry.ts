import { ConflictError, NotFoundError, BadInputError } from './errors';
import { withDeadline } from './call';
import type { CallOptions, Driver, DriverCapabilities, HostFacts, Technology } from './contract';

/** What the registry found when it probed one driver. */
export interface DriverProbeReport {
  name: string;
  technology: Technology;
  available: boolean;
  /** Why the driver cannot be used here, when unavailable. */
  reason?: string;
  version?: string;
  capabilities: DriverCapabilities;
  host?: HostFacts;
}

/** How long one driver's probe may take before it is reported unavailable. */
export const DEFAULT_PROBE_TIMEOUT_MS = 10_000;

/** The form of a driver name. */
export const DRIVER_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** The drivers of one host agent, registered explicitly by name. */
export class DriverRegistry {
  private readonly drivers = new Map<string, Driver>();

  /** Adds a driver; CONFLICT when its name is taken, BAD_USER_INPUT when the name is malformed. */
  register(driver: Driver): void {
    if (typeof driver.name !== 'string' || !DRIVER_NAME_PATTERN.test(driver.name)) {
      throw new BadInputError(`"${String(driver.name)}" is not a valid driver name: use 1–63 of a-z, 0-9, _ and -`, { name: driver.name });
    }
    if (this.drivers.has(driver.name)) {
      throw new ConflictError(`A driver named ${driver.name} is already registered`, { name: driver.name });
    }
    this.drivers.set(driver.name, driver);
  }

  /** True when a driver of this name is registered. */
  has(name: string): boolean {
    return this.drivers.has(name);
  }

  /** The driver of this name; NOT_FOUND naming the registered ones otherwise. */
  get(name: string): Driver {
    const driver = this.drivers.get(name);
    if (!driver) throw new NotFoundError('Driver', name, { registered: [...this.drivers.keys()] });
    return driver;
  }

  /** Every registered driver, in registration order. */
  all(): Driver[] {
    return [...this.drivers.values()];
  }

  /** Probes every driver in parallel; never throws: a failing or slow probe is reported unavailable with why. */
  async probeAll(options?: CallOptions): Promise<DriverProbeReport[]> {
    return Promise.all(this.all().map((driver) => probeDriver(driver, options)));
  }
}

/** Probes one driver under a deadline; never throws. */
export async function probeDriver(driver: Driver, options?: CallOptions): Promise<DriverProbeReport> {
  const base = { name: driver.name, technology: driver.technology, capabilities: safeCapabilities(driver) };
  try {
    const found = await withDeadline(`probe of driver ${driver.name}`, options, DEFAULT_PROBE_TIMEOUT_MS, (signal) => driver.probe({ signal, timeoutMs: options?.timeoutMs }));
    return { ...base, available: found.available === true, reason: found.reason, version: found.version, host: found.host };
  } catch (e) {
    return { ...base, available: false, reason: e instanceof Error ? e.message : String(e) };
  }
}

function safeCapabilities(driver: Driver): DriverCapabilities {
  try {
    const found = driver.capabilities();
    return { operations: [...found.operations], limits: [...found.limits], ...(found.features ? { features: [...found.features] } : {}), ...(found.imageFormats ? { imageFormats: [...found.imageFormats] } : {}) };
  } catch {
    return { operations: [], limits: [] };
  }
}
