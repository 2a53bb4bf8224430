import type { DataSource } from 'typeorm';
import { GatewayConfig, loadConfig } from '../../config/config';
import type { Logger } from '../../logging/logger';
import type { DatabaseTarget } from '../../persistence/data-source';

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
 * Nothing is migrated here.
 */
export async function withLocalDatabase<T>(opts: { dataDir?: string }, fn: (db: LocalDatabase) => Promise<T>): Promise<T> {
  const config = loadConfig(process.env, opts.dataDir !== undefined ? { dataDir: opts.dataDir } : {});
  // The database layer is loaded only here: the client commands start faster without it.
  const [{ createLogger }, { databaseTarget, describeTarget, openDataSource }] = await Promise.all([import('../../logging/logger.js'), import('../../persistence/data-source.js')]);
  const logger = createLogger(config);
  const target = databaseTarget(config);
  const dataSource = await openDataSource(target, logger);
  try {
    return await fn({ config, logger, target, described: describeTarget(target), dataSource });
  } finally {
    await dataSource.destroy();
  }
}
