/** How retries after failed replication runs are spaced. */
export interface BackoffSettings {
  /** Wait after the first failure. */
  baseMs: number;
  /** Longest wait. */
  maxMs: number;
}

/**
 * The wait before retry number `failCount` (1 after the first failure): base × 2^(failCount−1),
 * capped at `maxMs`.
 */
export function retryDelayMs(failCount: number, settings: BackoffSettings): number {
  if (failCount < 1) return 0;
  return Math.min(settings.maxMs, settings.baseMs * 2 ** Math.min(failCount - 1, 30));
}

/**
 * When a policy runs next after a run ended: on success the schedule's next time; after a failure
 * the sooner of the schedule's next time and the backoff retry.
 */
export function nextRunAfter(endedAt: Date, failCount: number, scheduled: Date, settings: BackoffSettings): Date {
  if (failCount === 0) return scheduled;
  const retry = new Date(endedAt.getTime() + retryDelayMs(failCount, settings));
  return retry < scheduled ? retry : scheduled;
}
