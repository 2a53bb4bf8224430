import type { BackoffSettings } from './retry-backoff';

/** How replication behaves in this gateway. */
export interface ReplicationSettings {
  /** Shortest interval a schedule may have (minutes). */
  minimumIntervalMinutes: number;
  /** Retries after failures. */
  backoff: BackoffSettings;
  /** Longest `keep` a policy may ask for. */
  maxKeep: number;
}

/** Defaults of `ReplicationSettings`. */
export const DEFAULT_REPLICATION_SETTINGS: ReplicationSettings = { minimumIntervalMinutes: 5, backoff: { baseMs: 60_000, maxMs: 3_600_000 }, maxKeep: 100 };
