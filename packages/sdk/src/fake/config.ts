import type { HostFacts, LimitName, OptionalCapability, ProbeResult, Technology } from '../contract';
import type { FakeNetwork } from './network';

/** Where a fake create can be made to fail, in the order the steps run. */
export type FakeCreateStep = 'after-reserve' | 'after-volume' | 'after-network' | 'after-filesystem';

/** Steps of other operations that can be made to fail. */
export interface FakeFailures {
  /** Fails `create` (and `importEnvironment`) right after this step; everything done is undone. */
  create?: FakeCreateStep;
  start?: true;
  stop?: true;
  destroy?: true;
}

/** The most one fake environment may be given: limits above it are refused with BAD_USER_INPUT. */
export interface FakeCapacity {
  cpus: number;
  memoryBytes: number;
  diskBytes: number;
  networkBitsPerSecond: number;
  pids: number;
}

/** How to build a FakeDriver. Every field has a default. */
export interface FakeDriverOptions {
  /** Registry name; default `fake`. */
  name?: string;
  /** Technology reported; default `fake` (plugins wrapping the fake driver give their own). */
  technology?: Technology;
  /** The version `probe()` reports; default `1.0.0`. */
  version?: string;
  /** Facts about the simulated host. */
  host?: Partial<HostFacts>;
  /** Per-environment capacity; defaults to the simulated host's. */
  capacity?: Partial<FakeCapacity>;
  /** Optional operations advertised; default all. */
  operations?: OptionalCapability[];
  /** Limits enforced; default all. */
  limits?: LimitName[];
  /** Steps to fail, for tests of the undo paths. */
  failOn?: FakeFailures;
  /** The in-process network migrations go through; default the process-wide one. */
  network?: FakeNetwork;
  /** This driver's address on the network (`fake://<host>`); when set it accepts migrations. */
  uri?: string;
  /** Makes `probe()` report the engine missing, with this reason. */
  unavailable?: string;
  /** Engine objects RSP does not own (listed by the engine, never by `list()`). */
  foreign?: string[];
}

/** The defaults of a simulated host. */
export const DEFAULT_HOST: HostFacts = {
  cpus: 8,
  memoryBytes: 16 * 1024 ** 3,
  diskBytes: 200 * 1024 ** 3,
  kernel: 'fake-1.0',
  arch: 'x86_64',
};

/** The probe a fake driver answers, from its options. */
export function fakeProbe(options: FakeDriverOptions, host: HostFacts): ProbeResult {
  if (options.unavailable) return { available: false, reason: options.unavailable };
  return { available: true, version: options.version ?? '1.0.0', host };
}
