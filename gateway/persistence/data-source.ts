import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Pool } from 'pg';
import { DataSource } from 'typeorm';
import { isRspError, UnavailableError } from '../errors';
import type { Logger } from '../logging/logger';
import { redactUrl } from '../logging/redaction';
import { makeDataDir } from './data-dir';
import { lockEmbeddedDatabase } from './embedded-lock';
import { embeddedOpenError } from './embedded-open-error';
import { CLI_APPLICATION_NAME } from './connection-names';
import { entities } from './entities';
import { migrations } from './migrations';
import { MIGRATIONS_TABLE, recordAppliedBy, refuseNewerSchema } from './migration-status';
import { pgliteDriverModule } from './pglite-pool';

/** Where the data lives: a PostgreSQL server, or an embedded PGlite database in a directory. */
export type DatabaseTarget = { kind: 'postgres'; url: string } | { kind: 'pglite'; dataDir: string };

/** Chooses PostgreSQL when a URL is configured, otherwise PGlite under `<dataDir>/db`. */
export function databaseTarget(config: { databaseUrl?: string; dataDir: string }): DatabaseTarget {
  return config.databaseUrl ? { kind: 'postgres', url: config.databaseUrl } : { kind: 'pglite', dataDir: join(config.dataDir, 'db') };
}

/** Describes the target for logs and messages without its password (in its user info or its query). */
export function describeTarget(target: DatabaseTarget): string {
  return target.kind === 'pglite' ? `PGlite at ${target.dataDir}` : `PostgreSQL at ${redactUrl(target.url)}`;
}

/**
 * The embedded database's session settings. Prepared statements are planned once, generically,
 * and the plan kept: under PostgreSQL's default (`auto`), the gateway's hot statements (a step's
 * version-checked update carried with its operation, the placement claim's read and insert) were
 * planned again on every execution — their generic plans look dearer to the planner than a plan
 * for the values at hand — and in PGlite, PostgreSQL compiled to WebAssembly running in the
 * gateway's process, planning is CPU taken from the gateway. Its data are one installation's
 * (tens of thousands of rows, indexed by id), where a generic plan is as good; a PostgreSQL
 * server keeps its default.
 */
export const EMBEDDED_SESSION_SETTINGS = 'SET plan_cache_mode = force_generic_plan';

/**
 * Opens (initializes) a TypeORM data source over the target. Migrations are not run here:
 * `runMigrations` does that, so `rsp migrate` and `rsp serve` share one path. `applicationName`:
 * what PostgreSQL connections are named (a gateway's are `GATEWAY_APPLICATION_NAME`), unless
 * DATABASE_URL names them itself (`?application_name=…`).
 */
export async function openDataSource(target: DatabaseTarget, logger?: Logger, applicationName = CLI_APPLICATION_NAME): Promise<DataSource> {
  const common = {
    type: 'postgres' as const,
    entities,
    migrations,
    migrationsTableName: MIGRATIONS_TABLE,
    synchronize: false,
    uuidExtension: 'pgcrypto' as const,
    installExtensions: false,
    logging: false,
  };
  let dataSource: DataSource;
  if (target.kind === 'pglite') {
    makeDataDir(target.dataDir);
    let release: () => void;
    try {
      release = lockEmbeddedDatabase(target.dataDir);
    } catch (e) {
      // Its mark not written (a full disk, a folder this user may not write): said as PGlite's own failures are.
      throw isRspError(e) ? e : embeddedOpenError(target.dataDir, e);
    }
    let db: PGlite;
    try {
      db = await PGlite.create(target.dataDir);
      await db.exec(EMBEDDED_SESSION_SETTINGS);
    } catch (e) {
      release();
      throw embeddedOpenError(target.dataDir, e);
    }
    dataSource = new DataSource({ ...common, driver: pgliteDriverModule(db, release), poolSize: 1 });
  } else {
    dataSource = new DataSource({ ...common, url: target.url, poolSize: 20, connectTimeoutMS: 10_000, applicationName });
  }
  try {
    await dataSource.initialize();
  } catch (e) {
    throw new UnavailableError(`Cannot connect to ${describeTarget(target)}: ${(e as Error).message}`, {}, { cause: e });
  }
  logger?.debug({ database: describeTarget(target) }, 'database opened');
  return dataSource;
}

/**
 * Runs one statement under a name and returns its rows. On PostgreSQL, node-postgres prepares a
 * named statement once per pooled connection, so the server parses and plans it once instead of on
 * every call — for a large statement run many times a second (the placement group commit), about a
 * third of its time on the server. On the embedded database it runs as a plain query. The text of a
 * name must never change while the process runs.
 */
export async function namedQuery<T = unknown>(dataSource: DataSource, name: string, text: string, values: unknown[]): Promise<T[]> {
  const pool = (dataSource.driver as { master?: unknown }).master;
  if (pool instanceof Pool) return (await pool.query({ name, text, values })).rows as T[];
  return dataSource.query(text, values);
}

/**
 * Runs pending migrations and records this version as the one that applied them; returns their
 * names. A database a newer version migrated is refused first (CONFLICT), nothing applied.
 */
export async function runMigrations(dataSource: DataSource, logger?: Logger): Promise<string[]> {
  await refuseNewerSchema(dataSource);
  const ran = (await dataSource.runMigrations({ transaction: 'each' })).map((m) => m.name);
  await recordAppliedBy(dataSource, ran);
  for (const name of ran) logger?.info({ migration: name }, 'migration applied');
  return ran;
}

/** True when the database answers a trivial query. */
export async function databaseReachable(dataSource: DataSource): Promise<boolean> {
  try {
    await dataSource.query('SELECT 1');
    return true;
  } catch {
    return false;
  }
}
