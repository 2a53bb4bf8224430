import { fromDatabaseError, OutageError } from '../errors';
import type { Logger } from '../logging/logger';

/**
 * Background work run on a timer, never twice at once: a tick that finds the previous run still
 * going is skipped. A failed run is logged with `what` and the next tick tries again; while the
 * database or Redis is unreachable, or a disk is full, only the first failure is logged (without its stack), and the
 * first run that works again says so, so that an outage is two lines, not one a tick. The timer
 * does not keep the process alive; `stop` waits for the run in progress.
 */
export class PeriodicTask {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** Whether the last run failed for an outage (and said so). */
  private inOutage = false;

  /** `what` names the work in the log line of a failed run ("replication scheduler tick"). */
  constructor(
    private readonly what: string,
    private readonly run: () => Promise<unknown>,
    private readonly logger: Logger,
  ) {}

  /** Whether the timer is set. */
  get started(): boolean {
    return this.timer !== undefined;
  }

  /** Runs every `intervalMs` from now on (0 or less: not at all), replacing an earlier timer. */
  start(intervalMs: number): void {
    clearInterval(this.timer);
    this.timer = undefined;
    if (intervalMs <= 0) return;
    this.timer = setInterval(() => void this.runNow(), intervalMs);
    this.timer.unref();
  }

  /** Runs once now unless a run is in progress; resolves when that run has ended. */
  runNow(): Promise<void> {
    this.running ??= this.run()
      .then(
        () => {
          if (this.inOutage) this.logger.info(`${this.what} works again`);
          this.inOutage = false;
        },
        (e: unknown) => {
          const mapped = fromDatabaseError(e);
          const outage = mapped instanceof OutageError ? `the ${mapped.dependency} is unreachable` : mapped?.details.reason === 'DISK_FULL' ? mapped.message : undefined;
          if (!outage) return this.logger.warn({ err: e }, `${this.what} failed`);
          if (!this.inOutage) this.logger.warn({ cause: (e as Error)?.message }, `${this.what} failed: ${outage} (not logged again until it works)`);
          this.inOutage = true;
        },
      )
      .finally(() => (this.running = undefined));
    return this.running;
  }

  /** Clears the timer and waits for the run in progress. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
