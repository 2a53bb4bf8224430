import type { DataSource } from 'typeorm';
import type { Logger } from '../logging/logger';
import { PeriodicTask } from '../scheduling/periodic-task';

/** How often the embedded database's tables are looked over (ms). */
export const EMBEDDED_VACUUM_EVERY_MS = 30_000;

/** Tables longer than this (live and dead rows) are left alone: PGlite runs in the gateway's thread, and a long VACUUM would hold its event loop. */
export const EMBEDDED_VACUUM_MAX_ROWS = 100_000;

/** A table's counters as `pg_stat_user_tables` keeps them. */
export interface TableActivity {
  table: string;
  live: number;
  dead: number;
  /** Rows inserted, updated or deleted since the table was last analyzed. */
  modified: number;
}

/**
 * What PostgreSQL's autovacuum would do to a table now, by its default thresholds: VACUUM (with
 * ANALYZE) once dead rows pass 50 + 20 % of the live ones, ANALYZE alone once changed rows pass
 * 50 + 10 %; nothing otherwise, nor for a table past `EMBEDDED_VACUUM_MAX_ROWS`.
 */
export function maintenanceOf(t: TableActivity): 'vacuum' | 'analyze' | undefined {
  if (t.live + t.dead > EMBEDDED_VACUUM_MAX_ROWS) return undefined;
  if (t.dead > 50 + 0.2 * t.live) return 'vacuum';
  if (t.modified > 50 + 0.1 * t.live) return 'analyze';
  return undefined;
}

/**
 * The autovacuum the embedded database (PGlite, one session, no background workers) does not
 * have: every `EMBEDDED_VACUUM_EVERY_MS`, tables past autovacuum's thresholds (`maintenanceOf`)
 * are vacuumed or analyzed. Without it, no table of an embedded gateway ever had statistics (the
 * planner scanned the whole `host` table for each batch of heartbeats instead of using its
 * indexes) and every update left its old row behind for good.
 */
export class EmbeddedVacuum {
  private readonly task: PeriodicTask;

  constructor(
    private readonly dataSource: DataSource,
    private readonly logger: Logger,
  ) {
    this.task = new PeriodicTask('embedded database vacuum', () => this.round(), logger);
  }

  /** Looks the tables over every `everyMs` until `stop`. */
  start(everyMs = EMBEDDED_VACUUM_EVERY_MS): void {
    this.task.start(everyMs);
  }

  /** Stops, waiting for a round in progress. */
  stop(): Promise<void> {
    return this.task.stop();
  }

  /**
   * One statement, sent to the embedded pool itself (as `namedQuery` sends to `pg`'s): upkeep, not
   * the work of whatever path a `StatementCounter` is counting meanwhile.
   */
  private async query(text: string): Promise<unknown[]> {
    const pool = (this.dataSource.driver as { master?: { query?: (text: string) => Promise<{ rows: unknown[] }> } }).master;
    if (typeof pool?.query === 'function') return (await pool.query(text)).rows;
    return this.dataSource.query(text);
  }

  /** One round: each table past a threshold vacuumed or analyzed; answers what was done, by table. */
  async round(): Promise<Array<{ table: string; did: 'vacuum' | 'analyze' }>> {
    const rows = (await this.query(
      `SELECT relname AS "table", n_live_tup AS live, n_dead_tup AS dead, n_mod_since_analyze AS modified FROM pg_stat_user_tables WHERE schemaname = current_schema()`,
    )) as Array<{ table: string; live: string | number; dead: string | number; modified: string | number }>;
    const done: Array<{ table: string; did: 'vacuum' | 'analyze' }> = [];
    for (const row of rows) {
      const did = maintenanceOf({ table: row.table, live: Number(row.live), dead: Number(row.dead), modified: Number(row.modified) });
      if (!did) continue;
      const name = `"${row.table.replace(/"/g, '""')}"`;
      await this.query(did === 'vacuum' ? `VACUUM (ANALYZE) ${name}` : `ANALYZE ${name}`);
      done.push({ table: row.table, did });
    }
    if (done.length) this.logger.debug({ tables: done }, 'embedded database vacuumed');
    return done;
  }
}
