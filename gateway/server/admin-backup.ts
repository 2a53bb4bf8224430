import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Request, Response } from 'express';
import type { DataSource } from 'typeorm';
import { DirectoryBackend } from '../artifacts/directory-backend';
import { bearerSecret } from '../auth/bearer';
import { policy } from '../auth/policy';
import { writeBackupFile } from '../backup/backup-file';
import { backupLines } from '../backup/snapshot';
import type { GatewayConfig } from '../config/config';
import { fromDatabaseError, isRspError, UnauthenticatedError } from '../errors';
import type { Logger } from '../logging/logger';
import type { Services } from '../services';

const STATUS: Record<string, number> = { UNAUTHENTICATED: 401, FORBIDDEN: 403, UNAVAILABLE: 503 };

/**
 * `GET /admin/backup` (site admins): a backup of this gateway's database and artifact manifests
 * (`rsp admin backup --online`), for a database no other process may open (PGlite) or a client
 * without the database's address. The snapshot is written to a 0600 file under the data
 * directory first, so the database is held only while it is read, not while the client downloads;
 * the file is removed once sent.
 */
export function adminBackupHandler(config: GatewayConfig, dataSource: DataSource, services: Services, logger: Logger) {
  return async (req: Request, res: Response): Promise<void> => {
    const dir = join(config.dataDir, 'backups');
    // A name of its own: two backups asked for within the same millisecond must not remove each other's file.
    const file = join(dir, `online-${process.pid}-${Date.now()}-${randomUUID()}.ndjson`);
    try {
      const actor = await services.tokens.authenticate(bearerSecret(req.headers.authorization));
      if (!actor) throw new UnauthenticatedError();
      policy.requireSiteAdmin(actor, 'back up the gateway');
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const bytes = await writeBackupFile(file, backupLines(dataSource, config.databaseUrl ? 'postgres' : 'pglite', { manifests: new DirectoryBackend(config.artifactDir) }));
      logger.info({ bytes, by: actor.kind === 'token' ? actor.name : undefined }, 'backup sent');
      res.status(200).set({ 'content-type': 'application/x-ndjson', 'content-length': String(bytes), 'cache-control': 'no-store' });
      await pipeline(createReadStream(file), res);
    } catch (e) {
      const error = isRspError(e) ? e : fromDatabaseError(e) ?? null;
      if (!error) logger.error({ err: e, requestId: res.locals.requestId }, 'backup failed');
      const code = error?.category ?? 'INTERNAL_SERVER_ERROR';
      if (res.headersSent) res.destroy();
      else res.status(STATUS[code] ?? 500).json({ errors: [{ message: error?.message ?? `Internal error (request ${res.locals.requestId})`, extensions: { code } }] });
    } finally {
      await unlink(file).catch(() => undefined);
    }
  };
}
