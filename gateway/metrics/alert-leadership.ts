import type { DataSource, QueryRunner } from 'typeorm';
import type { Logger } from '../logging/logger';

/** The PostgreSQL advisory lock key of alert evaluation (any constant shared by every replica). */
export const ALERT_EVALUATION_LOCK = 7_310_010;

/**
 * Makes exactly one gateway replica evaluate alert rules: the one holding a session-level
 * PostgreSQL advisory lock on its own connection. Replicas that do not hold it try again at every
 * evaluation, so when the holder stops (or its connection drops, which releases the lock) another
 * one takes over within an interval. The embedded database (PGlite) serves one gateway only, so
 * that gateway always evaluates.
 */
export class AlertLeadership {
  private runner: QueryRunner | undefined;
  private held = false;

  constructor(
    private readonly dataSource: DataSource,
    /** True on PGlite: one gateway per database, no lock needed (and its single connection is shared). */
    private readonly alone: boolean,
    private readonly logger: Logger,
  ) {}

  /** True while this replica holds the lock (as of its last evaluation). */
  get isHeld(): boolean {
    return this.alone || this.held;
  }

  /** True when this replica is the one that evaluates (taking the lock when it is free). */
  async holds(): Promise<boolean> {
    if (this.alone) return true;
    try {
      if (!this.runner) {
        this.runner = this.dataSource.createQueryRunner();
        await this.runner.connect();
      }
      if (this.held) {
        // The lock lives as long as the connection: check that it still answers.
        await this.runner.query('SELECT 1');
        return true;
      }
      const [row] = (await this.runner.query('SELECT pg_try_advisory_lock($1) AS ok', [ALERT_EVALUATION_LOCK])) as Array<{ ok: boolean }>;
      this.held = row?.ok === true;
      if (this.held) this.logger.info('this replica evaluates alert rules');
      return this.held;
    } catch (e) {
      this.logger.warn({ err: e }, 'alert evaluation lock lost');
      await this.dropConnection();
      return false;
    }
  }

  /** Gives the lock up (at shutdown) so another replica takes over at once. */
  async release(): Promise<void> {
    if (this.runner && this.held) await this.runner.query('SELECT pg_advisory_unlock($1)', [ALERT_EVALUATION_LOCK]).catch(() => undefined);
    await this.dropConnection();
  }

  private async dropConnection(): Promise<void> {
    this.held = false;
    const runner = this.runner;
    this.runner = undefined;
    await runner?.release().catch(() => undefined);
  }
}
