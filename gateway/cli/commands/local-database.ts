import { existsSync } from 'node:fs';
import type { DataSource } from 'typeorm';
import { GatewayConfig, loadConfig } from '../../config/config';
import type { Logger } from '../../logging/logger';
import type { DatabaseTarget } from '../../persistence/data-source';
import { CliError } from '../exit-codes';

/** What a command working on the configured database directly (not through a gateway) gets. */
export interface LocalDatabase {
  config: GatewayConfig;
  logger: Logger;
  target: DatabaseTarget;
  /** The target without its password, for messages. */
  described: string;
  dataSource: DataSource;
}

/**
 * Opens the database `rsp serve` would use (DATABASE_URL, else PGlite under the data directory;
 * the same config file and environment, `--data-dir` as `rsp serve`'s), runs `fn`, and closes it.
 * Nothing is migrated here. `existing`: an embedded database that is not there yet is an error
 * (exit 2), not made (for commands that only read it).
 */
export async function withLocalDatabase<T>(opts: { dataDir?: string }, fn: (db: LocalDatabase) => Promise<T>, use: { existing?: boolean } = {}): Promise<T> {
  const config = loadConfig(process.env, opts.dataDir !== undefined ? { dataDir: opts.dataDir } : {});
  // The database layer is loaded only here: the client commands start faster without it.
  const [{ createLogger }, { databaseTarget, describeTarget, openDataSource }] = await Promise.all([import('../../logging/logger.js'), import('../../persistence/data-source.js')]);
  const logger = createLogger(config);
  const target = databaseTarget(config);
  if (use.existing && target.kind === 'pglite' && !existsSync(target.dataDir)) {
    throw new CliError(`no embedded database at ${target.dataDir}: check --data-dir or RSP_DATA_DIR (rsp serve, rsp init and rsp migrate make it), or DATABASE_URL`, 'BAD_USAGE');
  }
  const dataSource = await openDataSource(target, logger);
  try {
    return await fn({ config, logger, target, described: describeTarget(target), dataSource });
  } finally {
    await dataSource.destroy();
  }
}

/**
 * The embedded database `withLocalDatabase` would open, described, when it is not there yet (it
 * would be made); undefined when it exists or the database is PostgreSQL.
 */
export async function absentEmbeddedDatabase(opts: { dataDir?: string }): Promise<string | undefined> {
  const config = loadConfig(process.env, opts.dataDir !== undefined ? { dataDir: opts.dataDir } : {});
  const { databaseTarget, describeTarget } = await import('../../persistence/data-source.js');
  const target = databaseTarget(config);
  return target.kind === 'pglite' && !existsSync(target.dataDir) ? describeTarget(target) : undefined;
}
