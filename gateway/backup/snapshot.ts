import type { DataSource } from 'typeorm';
import type { ChunkBackend } from '../artifacts/chunk-backend';
import { BadInputError } from '../errors';
import { migrationStatus } from '../persistence/migration-status';
import { RSP_VERSION } from '../version';
import { BACKUP_FORMAT, BACKUP_FORMAT_VERSION, BackupHeader, EndLine } from './format';
import { dataTables, ident } from './tables';

/** What a backup holds. */
export interface BackupSummary {
  tables: number;
  rows: number;
  manifests: number;
}

/** Options of `backupLines`. */
export interface BackupOptions {
  /** The artifact store whose manifests are backed up too. */
  manifests?: ChunkBackend;
  /** Called once the last line is given. */
  done?(summary: BackupSummary): void;
}

/** Rows fetched from the cursor at a time. */
const FETCH_ROWS = 1000;

/**
 * The lines of a backup of the database and the artifact store's manifests (see `BackupHeader`),
 * read in one REPEATABLE READ, read-only transaction: one consistent snapshot while gateways keep
 * writing. Manifests are listed once the snapshot is taken, so every manifest a snapshot row names
 * is there unless it was deleted in between. Rows are `row_to_json`'s text, copied as they are.
 */
export async function* backupLines(dataSource: DataSource, database: BackupHeader['database'], options: BackupOptions = {}): AsyncGenerator<string> {
  const { manifests } = options;
  const q = dataSource.createQueryRunner();
  await q.connect();
  try {
    await q.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const status = await migrationStatus(dataSource, q);
    // A database RSP never migrated (a misspelt --data-dir or DATABASE_URL) is not backed up as an empty one.
    if (!status.applied.length) throw new BadInputError('The database holds no RSP data (no migration was ever applied to it): nothing backed up; check DATABASE_URL, RSP_DATA_DIR or --data-dir');
    const tables = await dataTables(q);
    const counted = [];
    for (const t of tables) counted.push({ name: t.name, rows: Number(((await q.query(`SELECT count(*) AS n FROM ${ident(t.name)}`)) as [{ n: string }])[0].n) });
    const header: BackupHeader = { format: BACKUP_FORMAT, formatVersion: BACKUP_FORMAT_VERSION, rspVersion: RSP_VERSION, createdAt: new Date().toISOString(), database, migrations: status.applied.map((m) => m.name), tables: counted };
    yield `${JSON.stringify(header)}\n`;
    let manifestCount = 0;
    if (manifests) {
      for await (const { id } of manifests.list('manifest')) {
        const bytes = await manifests.get('manifest', id).catch(() => undefined);
        if (!bytes) continue;
        manifestCount++;
        yield `${JSON.stringify({ manifest: id, bytes: bytes.toString('base64') })}\n`;
      }
    }
    let rows = 0;
    for (const t of tables) {
      await q.query(`DECLARE rsp_backup NO SCROLL CURSOR FOR SELECT row_to_json(t)::text AS j FROM ${ident(t.name)} t`);
      for (;;) {
        const batch = (await q.query(`FETCH ${FETCH_ROWS} FROM rsp_backup`)) as Array<{ j: string }>;
        if (!batch.length) break;
        rows += batch.length;
        yield batch.map((r) => `{"table":${JSON.stringify(t.name)},"row":${r.j}}\n`).join('');
      }
      await q.query('CLOSE rsp_backup');
    }
    const end: EndLine = { end: true, rows, manifests: manifestCount };
    yield `${JSON.stringify(end)}\n`;
    options.done?.({ tables: tables.length, rows, manifests: manifestCount });
  } finally {
    await q.query('ROLLBACK').catch(() => undefined);
    await q.release();
  }
}
