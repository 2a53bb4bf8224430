import { EventEmitter } from 'node:events';
import type { PGlite, Results } from '@electric-sql/pglite';

/** What the `pg` driver's query results look like; TypeORM reads `rows`, `rowCount` and `command`. */
interface PgResult {
  rows: unknown[];
  rowCount: number;
  command: string;
  fields: Results['fields'];
}

type QueryCallback = (err: Error | null, result?: PgResult) => void;

/** A "connection" handed out by the pool: the one PGlite session, held exclusively until released. */
class PGliteClient extends EventEmitter {
  constructor(private readonly db: PGlite) {
    super();
  }

  query(text: string, paramsOrCallback?: unknown[] | QueryCallback, callback?: QueryCallback): Promise<PgResult> {
    const params = Array.isArray(paramsOrCallback) ? paramsOrCallback : undefined;
    const cb = typeof paramsOrCallback === 'function' ? paramsOrCallback : callback;
    const run = params && params.length > 0 ? this.db.query(text, params) : this.db.exec(text).then((all) => all[all.length - 1] ?? { rows: [], fields: [] });
    const result = run.then((r) => toPgResult(text, r as Results));
    if (cb) result.then((r) => cb(null, r), (e: Error) => cb(e));
    return result;
  }
}

/** How long the session is handed from holder to holder before the event loop gets a turn (ms). */
const SLICE_MS = 20;

function toPgResult(text: string, r: Results): PgResult {
  const command = /^\s*(\w+)/.exec(text)?.[1]?.toUpperCase() ?? '';
  return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length, command, fields: r.fields };
}

/**
 * A `pg.Pool` look-alike over one embedded PGlite database, for TypeORM's postgres driver.
 *
 * PGlite has a single session, so the pool hands it to one holder at a time: a transaction
 * (a TypeORM query runner) keeps it until it releases it and other callers wait in line.
 * That keeps transactions isolated from each other, which sharing the session would not.
 */
export class PGlitePool extends EventEmitter {
  private readonly client: PGliteClient;
  private queue: Promise<void> = Promise.resolve();
  /** When the event loop last had a turn between two holders (ms, `performance.now()`). */
  private sliceStart = performance.now();

  constructor(
    private readonly db: PGlite,
    private readonly onClosed?: () => void,
  ) {
    super();
    this.client = new PGliteClient(db);
  }

  /** Waits for the session, then hands it over with its release function. */
  connect(callback?: (err: Error | null, client?: PGliteClient, release?: (err?: unknown) => void) => void): Promise<PGliteClient> {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const previous = this.queue;
    this.queue = previous.then(() => released);
    const acquired = previous.then(() => this.turn()).then(() => this.client);
    let done = false;
    const releaseOnce = () => {
      if (!done) {
        done = true;
        release();
      }
    };
    if (callback) acquired.then((c) => callback(null, c, releaseOnce));
    return acquired.then((c) => Object.assign(Object.create(c) as PGliteClient, { release: releaseOnce }));
  }

  /**
   * Resolves when the next holder may take the session: at once, or, once holders have followed
   * each other for `SLICE_MS`, on the event loop's next turn. PGlite runs each query
   * synchronously, so a long queue handed over through promises alone would hold the event loop
   * (sockets unread, heartbeats unheard, timers late) until every query in it had run.
   */
  private turn(): Promise<void> | void {
    if (performance.now() - this.sliceStart < SLICE_MS) return;
    return new Promise((resolve) =>
      setImmediate(() => {
        this.sliceStart = performance.now();
        resolve();
      }),
    );
  }

  /** Runs one query on its own turn. */
  async query(text: string, params?: unknown[]): Promise<PgResult> {
    const client = (await this.connect()) as PGliteClient & { release(): void };
    try {
      return await client.query(text, params);
    } finally {
      client.release();
    }
  }

  /** Closes the database once every holder has released it. */
  end(callback?: (err: Error | null) => void): Promise<void> {
    const closed = this.queue.then(() => this.db.close()).finally(() => this.onClosed?.());
    if (callback) closed.then(() => callback(null), (e: Error) => callback(e));
    return closed;
  }
}

/** The object TypeORM's postgres driver takes as `driver` (in place of the `pg` module); `onClosed` runs once the database is closed. */
export function pgliteDriverModule(db: PGlite, onClosed?: () => void): { Pool: new () => PGlitePool } {
  return {
    Pool: class extends PGlitePool {
      constructor() {
        super(db, onClosed);
      }
    },
  };
}
