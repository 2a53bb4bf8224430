import type { ScrubPace } from '../artifacts/read-pacer';
import type { BackoffSettings } from './retry-backoff';

/** How replication behaves in this gateway. */
export interface ReplicationSettings {
  /** Shortest interval a schedule may have (minutes). */
  minimumIntervalMinutes: number;
  /** Retries after failures. */
  backoff: BackoffSettings;
  /** Longest `keep` a policy may ask for. */
  maxKeep: number;
  /**
   * Verify jobs: how fast they read (`bytesPerSecond` > 0: a fixed cap; absent: adaptive, never
   * slower than `floorBytesPerSecond`; see read-pacer.ts; 0: unlimited) and how often every store is verified (ms, 0: never on a schedule).
   */
  verify: ScrubPace & { intervalMs: number };
}

/** The slowest an adaptive verify job reads (bytes a second), when production I/O keeps it back. */
export const DEFAULT_VERIFY_FLOOR_BYTES_PER_SECOND = 16 * 1024 * 1024;

/** Defaults of `ReplicationSettings`. */
export const DEFAULT_REPLICATION_SETTINGS: ReplicationSettings = { minimumIntervalMinutes: 5, backoff: { baseMs: 60_000, maxMs: 3_600_000 }, maxKeep: 100, verify: { floorBytesPerSecond: DEFAULT_VERIFY_FLOOR_BYTES_PER_SECOND, intervalMs: 0 } };
