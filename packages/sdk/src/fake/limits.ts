import { BadInputError } from '../errors';
import type { Driver, LimitName, ResourceLimits } from '../contract';
import { assertLimitsSupported } from '../driver-errors';
import type { FakeCapacity } from './config';

/** The most each limit may be, from the capacity. */
function maxima(capacity: FakeCapacity): Record<LimitName, { max: number; unit: string }> {
  return {
    cpuWeight: { max: 10_000, unit: '' },
    cpuQuota: { max: capacity.cpus, unit: ' CPUs' },
    memoryBytes: { max: capacity.memoryBytes, unit: ' bytes' },
    diskBytes: { max: capacity.diskBytes, unit: ' bytes' },
    networkBitsPerSecond: { max: capacity.networkBitsPerSecond, unit: ' bit/s' },
    pids: { max: capacity.pids, unit: '' },
  };
}

/**
 * Checks limits before they are applied: UNSUPPORTED_OPERATION for a limit the driver does not
 * enforce; BAD_USER_INPUT for a value that is not a positive number (an integer where it counts
 * things), a CPU weight outside 1–10000, or more than the host can give.
 */
export function checkLimits(driver: Driver, limits: ResourceLimits | undefined, capacity: FakeCapacity): ResourceLimits {
  assertLimitsSupported(driver, limits);
  const out: ResourceLimits = {};
  const bounds = maxima(capacity);
  for (const [name, value] of Object.entries(limits ?? {}) as Array<[LimitName, number | undefined]>) {
    if (value === undefined) continue;
    const integer = name !== 'cpuQuota';
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
      throw new BadInputError(`limit ${name} must be a positive ${integer ? 'integer' : 'number'} (got ${String(value)})`, { limit: name, value });
    }
    const { max, unit } = bounds[name];
    if (value > max) {
      throw new BadInputError(`limit ${name} = ${value}${unit} is more than this host can give (at most ${max}${unit})`, { limit: name, value, max });
    }
    out[name] = value;
  }
  return out;
}
