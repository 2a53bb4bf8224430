import { EventEmitter } from 'node:events';
import { parse, protocol, type messages, type PGlite, type Results } from '@electric-sql/pglite';

/** What the `pg` driver's query results look like; TypeORM reads `rows`, `rowCount` and `command`. */
interface PgResult {
  rows: unknown[];
  rowCount: number;
  command: string;
  fields: Results['fields'];
}

type QueryCallback = (err: Error | null, result?: PgResult) => void;

/** Most statements kept prepared in the session; texts past it run unnamed (parsed and planned each time). */
const MOST_PREPARED = 1_000;

/** Statements that read or write rows: the ones kept prepared. Anything else (DDL…) may change what a prepared one means. */
const ROW_STATEMENT = /^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b/i;

/** Statements that leave every prepared one as it was: row statements, transaction control, cursors, maintenance. */
const HARMLESS = /^\s*(SELECT|INSERT|UPDATE|DELETE|WITH|START|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|END|SET|SHOW|LOCK|DECLARE|FETCH|MOVE|CLOSE|TRUNCATE|VACUUM|ANALYZE)\b/i;

/** A statement prepared in the session: its name and the types of its parameters, as PostgreSQL inferred them. */
interface Prepared {
  name: string;
  types: number[];
}

/** Messages written one after the other, as one input. */
function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A "connection" handed out by the pool: the one PGlite session, held exclusively until released. */
class PGliteClient extends EventEmitter {
  /**
   * Statements with parameters, prepared once under a name (by text). PGlite's own `query` parses,
   * describes and plans a statement on every call, in six calls into the database; a prepared one
   * runs in one (bind, describe, execute, sync), several times cheaper. Names carry a generation:
   * a statement that may change what a prepared one means (DDL: a migration) starts a new one, so
   * nothing prepared before it is used again.
   */
  private readonly prepared = new Map<string, Prepared>();
  /** Mutated in place: each holder gets an object whose prototype is this client (`connect`). */
  private readonly names = { generation: 0, made: 0 };

  constructor(private readonly db: PGlite) {
    super();
  }

  query(text: string, paramsOrCallback?: unknown[] | QueryCallback, callback?: QueryCallback): Promise<PgResult> {
    const params = Array.isArray(paramsOrCallback) ? paramsOrCallback : undefined;
    const cb = typeof paramsOrCallback === 'function' ? paramsOrCallback : callback;
    if (!HARMLESS.test(text)) this.forgetPrepared();
    const run = params && params.length > 0 ? this.run(text, params) : this.db.exec(text).then((all) => all[all.length - 1] ?? { rows: [], fields: [] });
    const result = run.then((r) => toPgResult(text, r as Results));
    if (cb) result.then((r) => cb(null, r), (e: Error) => cb(e));
    return result;
  }

  /** Forgets every prepared statement (they stay in the session, unused: DDL is rare). */
  private forgetPrepared(): void {
    if (this.prepared.size === 0) return;
    this.prepared.clear();
    this.names.generation += 1;
  }

  /** Runs a statement with parameters: prepared when it reads or writes rows, as PGlite's `query` otherwise. */
  private async run(text: string, params: unknown[]): Promise<Results> {
    if (!ROW_STATEMENT.test(text)) return this.db.query(text, params);
    await this.db._checkReady();
    return this.db._runExclusiveQuery(async () => {
      try {
        const statement = this.prepared.get(text) ?? (await this.prepare(text));
        // Serialized as PGlite's `query` does: by the parameter's type.
        const values = params.map((value, i) => {
          if (value === null || value === undefined) return null;
          const serialize = this.db.serializers[statement.types[i] ?? 0];
          return serialize ? (serialize(value) as string) : String(value);
        });
        const s = protocol.serialize;
        const output = await this.db.execProtocolStream(concat([s.bind({ statement: statement.name, values }), s.describe({ type: 'P' }), s.execute({}), s.sync()]), { syncToFs: false });
        await this.db.syncToFs();
        return parse.parseResults(output, this.db.parsers)[0] ?? { rows: [], fields: [] };
      } catch (e) {
        throw Object.assign(e as Error, { query: text, params });
      }
    });
  }

  /**
   * Prepares `text` under a name and reads its parameters' types. Once `MOST_PREPARED` are, it is
   * prepared as the unnamed statement instead (kept by the session until the next one), not kept.
   */
  private async prepare(text: string): Promise<Prepared> {
    const s = protocol.serialize;
    const name = this.prepared.size < MOST_PREPARED ? `rsp_${this.names.generation}_${this.names.made++}` : '';
    const output = await this.db.execProtocolStream(concat([s.parse({ text, name }), s.describe({ type: 'S', name }), s.sync()]), { syncToFs: false });
    const described = output.find((m): m is messages.ParameterDescriptionMessage => m.name === 'parameterDescription');
    const statement = { name, types: described?.dataTypeIDs ?? [] };
    if (name) this.prepared.set(text, statement);
    return statement;
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
