import type { BackoffSettings } from './retry-backoff';

/** How replication behaves in this gateway. */
export interface ReplicationSettings {
  /** Shortest interval a schedule may have (minutes). */
  minimumIntervalMinutes: number;
  /** Retries after failures. */
  backoff: BackoffSettings;
  /** Longest `keep` a policy may ask for. */
  maxKeep: number;
  /** Verify jobs: how fast they read (bytes a second, 0: unlimited) and how often every store is verified (ms, 0: never on a schedule). */
  verify: { bytesPerSecond: number; intervalMs: number };
}

/** Defaults of `ReplicationSettings`. */
export const DEFAULT_REPLICATION_SETTINGS: ReplicationSettings = { minimumIntervalMinutes: 5, backoff: { baseMs: 60_000, maxMs: 3_600_000 }, maxKeep: 100, verify: { bytesPerSecond: 64 * 1024 * 1024, intervalMs: 0 } };
