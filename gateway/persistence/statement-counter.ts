import type { AfterQueryEvent, BeforeQueryEvent, DataSource, EntitySubscriberInterface } from 'typeorm';

/** The statements a data source ran while a `StatementCounter` listened. */
export interface StatementCount {
  /** How many statements in all (transaction control included: each is a round trip). */
  total: number;
  /** How often each statement text ran, most frequent first, and the ms they took in all (from sent to answered, waits for the connection included). */
  byText: Array<{ text: string; count: number; ms: number }>;
}

/**
 * Counts the SQL statements a data source runs through TypeORM (every query runner's query,
 * `START TRANSACTION` and `COMMIT` included) while it listens: the measure of a path's round
 * trips to the database, for tests that bound it and benches that report it. Statements sent
 * straight to a `pg` pool (`namedQuery` on PostgreSQL) are not seen.
 */
export class StatementCounter implements EntitySubscriberInterface {
  private readonly counts = new Map<string, { count: number; ms: number }>();
  private listening = false;

  constructor(private readonly dataSource: DataSource) {}

  /** Starts (or resumes) listening; the counts add up over every window until `reset`. */
  start(): this {
    if (!this.listening) this.dataSource.subscribers.push(this);
    this.listening = true;
    return this;
  }

  /** Forgets what was counted. */
  reset(): void {
    this.counts.clear();
  }

  /** Stops listening; returns what it counted so far. */
  stop(): StatementCount {
    const subscribers = this.dataSource.subscribers;
    const at = subscribers.indexOf(this);
    if (at >= 0) subscribers.splice(at, 1);
    this.listening = false;
    const byText = [...this.counts].map(([text, { count, ms }]) => ({ text, count, ms })).sort((a, b) => b.count - a.count);
    return { total: byText.reduce((sum, s) => sum + s.count, 0), byText };
  }

  /** TypeORM's hook, called before each statement. */
  beforeQuery(event: BeforeQueryEvent): void {
    if (!this.listening) return;
    const seen = this.counts.get(event.query);
    if (seen) seen.count++;
    else this.counts.set(event.query, { count: 1, ms: 0 });
  }

  /** TypeORM's hook, called after each statement with the time it took. */
  afterQuery(event: AfterQueryEvent): void {
    const seen = this.listening ? this.counts.get(event.query) : undefined;
    if (seen) seen.ms += event.executionTime ?? 0;
  }
}
