import type { Logger } from '../logging/logger';

/** How long refusals are counted before one line reports them (ms). */
const DEFAULT_WINDOW_MS = 10_000;

/**
 * The log of graphql-ws refusals (sockets over a cap, subscriptions without a token): counted by
 * the setting that refused them, and reported as one warning per window that saw any — a burst of
 * thousands costs one line, not one each.
 */
export class RefusalLog {
  private counts = new Map<string, number>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly logger: Logger,
    private readonly windowMs = DEFAULT_WINDOW_MS,
  ) {}

  /** Counts one refusal by `limit` (the setting's name, or what was refused). */
  count(limit: string): void {
    this.counts.set(limit, (this.counts.get(limit) ?? 0) + 1);
    if (this.timer) return;
    this.timer = setTimeout(() => this.flush(), this.windowMs);
    this.timer.unref();
  }

  /** Reports what was counted since the last report, if anything. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.counts.size) return;
    const refused = Object.fromEntries(this.counts);
    this.counts = new Map();
    this.logger.warn({ refused, windowSeconds: this.windowMs / 1000 }, 'graphql-ws connections and subscriptions refused by the limits');
  }
}
