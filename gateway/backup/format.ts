/** What a backup file's first line says it is. */
export const BACKUP_FORMAT = 'rsp-backup';

/** The version of the backup format this build writes and reads. */
export const BACKUP_FORMAT_VERSION = 1;

/** One table of a backup: its name and the rows the snapshot held. */
export interface BackupTable {
  name: string;
  rows: number;
}

/**
 * The first line of a backup file (NDJSON: one JSON value a line). Then come the artifact store's
 * manifests (`ManifestLine`), each table's rows in dependency order (`RowLine`), and last an
 * `EndLine`, without which the file is cut short and restore refuses it.
 */
export interface BackupHeader {
  format: typeof BACKUP_FORMAT;
  formatVersion: number;
  /** The RSP version that made it. */
  rspVersion: string;
  createdAt: string;
  /** The kind of database it was made from; restore works into either. */
  database: 'pglite' | 'postgres';
  /** The schema: the migrations applied to the database, oldest first. */
  migrations: string[];
  /** In the order their rows follow (referenced tables first). */
  tables: BackupTable[];
}

/** An artifact store manifest, its stored bytes in base64 (chunks are not backed up). */
export interface ManifestLine {
  manifest: string;
  bytes: string;
}

/** One row of a table, as PostgreSQL's `row_to_json` wrote it. */
export interface RowLine {
  table: string;
  row: Record<string, unknown>;
}

/** The last line: what came before it. */
export interface EndLine {
  end: true;
  rows: number;
  manifests: number;
}
