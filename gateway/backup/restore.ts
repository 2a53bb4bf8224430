import { QueryFailedError, type DataSource, type QueryRunner } from 'typeorm';
import type { ChunkBackend } from '../artifacts/chunk-backend';
import { BadInputError, ConflictError } from '../errors';
import { GATEWAY_APPLICATION_NAME } from '../persistence/connection-names';
import { migrationStatus } from '../persistence/migration-status';
import { RSP_VERSION } from '../version';
import { BACKUP_FORMAT, BACKUP_FORMAT_VERSION, BackupHeader, EndLine, ManifestLine } from './format';
import { DataTable, dataTables, ident } from './tables';

/** Tables the migrations themselves fill (a new database has these rows): they do not make a database "not empty". */
const SEEDED_TABLES = new Set(['installation']);

/** Rows (or JSON bytes) sent in one INSERT. */
const INSERT_ROWS = 1000;
const INSERT_BYTES = 4 * 1024 * 1024;

/** Options of a restore. */
export interface RestoreOptions {
  /** Replace what a non-empty database holds (without it, such a database is refused). */
  force?: boolean;
}

/** What a restore put back. */
export interface RestoreSummary {
  header: BackupHeader;
  tables: number;
  rows: number;
  /** Manifests written to the artifact store (those it had already are kept). */
  manifests: number;
}

/**
 * Parses a backup's first line and checks that this build can restore it: the format and its
 * version, and the schema (the backup's migrations must be exactly this build's: a backup of
 * another schema is restored with the RSP version that made it, then upgraded).
 */
export function checkBackupHeader(line: string | undefined, knownMigrations: string[]): BackupHeader {
  let header: Partial<BackupHeader>;
  try {
    header = JSON.parse(line ?? '') as Partial<BackupHeader>;
  } catch {
    throw new BadInputError('Not an RSP backup: its first line is not JSON');
  }
  if (header?.format !== BACKUP_FORMAT || !Array.isArray(header.migrations) || !Array.isArray(header.tables)) throw new BadInputError('Not an RSP backup (no rsp-backup header)');
  const madeBy = `RSP ${String(header.rspVersion)}`;
  if (header.formatVersion !== BACKUP_FORMAT_VERSION) {
    const newer = typeof header.formatVersion === 'number' && header.formatVersion > BACKUP_FORMAT_VERSION;
    throw new BadInputError(
      `The backup was made by ${madeBy} in backup format version ${String(header.formatVersion)}; this RSP ${RSP_VERSION} reads version ${BACKUP_FORMAT_VERSION}${newer ? `: restore it with ${madeBy} or newer` : ''}`,
      { formatVersion: header.formatVersion, rspVersion: header.rspVersion },
    );
  }
  const missing = knownMigrations.filter((m) => !header.migrations!.includes(m));
  const unknown = header.migrations.filter((m) => !knownMigrations.includes(m));
  if (unknown.length) {
    throw new ConflictError(
      `The backup was made by ${madeBy} with another schema than this RSP ${RSP_VERSION}'s, a newer one (migrations this version does not know: ${unknown.join(', ')}): restore it with ${madeBy} or newer`,
      { rspVersion: header.rspVersion, unknownMigrations: unknown, missingMigrations: missing },
    );
  }
  if (missing.length) {
    throw new ConflictError(
      `The backup was made by ${madeBy} with another schema than this RSP ${RSP_VERSION}'s, an older one (without the migrations ${missing.join(', ')}): restore it with ${madeBy}, then upgrade`,
      { rspVersion: header.rspVersion, unknownMigrations: unknown, missingMigrations: missing },
    );
  }
  return header as BackupHeader;
}

/**
 * Restores a backup's lines into a migrated database in one transaction: refuses a non-empty
 * database unless `force`, empties every table, inserts each table's rows in the backup's
 * (dependency) order, sets serial sequences past the restored values, checks the row counts and
 * that the backup is complete, then commits — or changes nothing. Manifests missing from
 * `manifests` are written as they come (before the rows: a manifest no row names is inert), and
 * removed again when the restore fails.
 */
export async function restoreBackup(dataSource: DataSource, lines: AsyncIterable<string>, manifests: ChunkBackend | undefined, options: RestoreOptions = {}): Promise<RestoreSummary> {
  const iterator = lines[Symbol.asyncIterator]();
  const first = await iterator.next();
  const known = dataSource.migrations.map((m) => m.name ?? m.constructor.name);
  const header = checkBackupHeader(first.done ? undefined : first.value, known);
  const q = dataSource.createQueryRunner();
  /** Manifests this restore added to the store: removed again when it fails. */
  const added: string[] = [];
  await q.connect();
  try {
    await q.query('BEGIN');
    await refuseRunningGateways(q);
    const status = await migrationStatus(dataSource, q);
    if (status.pending.length) throw new ConflictError(`The database is not migrated (pending: ${status.pending.join(', ')}): run rsp migrate first`);
    const tables = new Map((await dataTables(q)).map((t) => [t.name, t]));
    const absent = header.tables.map((t) => t.name).filter((name) => !tables.has(name));
    if (absent.length) throw new ConflictError(`The database has no table(s) ${absent.join(', ')} of the backup`);
    if (!options.force) await refuseNonEmpty(q, [...tables.keys()]);
    if (tables.size) await q.query(`TRUNCATE ${[...tables.keys()].map(ident).join(', ')} RESTART IDENTITY CASCADE`);
    const counts = new Map<string, number>();
    let manifestCount = 0;
    let end: EndLine | undefined;
    let batch: { table: DataTable; rows: string[]; bytes: number } | undefined;
    const flush = async () => {
      if (!batch?.rows.length) return;
      const cols = batch.table.columns.map(ident).join(', ');
      try {
        await q.query(`INSERT INTO ${ident(batch.table.name)} (${cols}) OVERRIDING SYSTEM VALUE SELECT ${cols} FROM json_populate_recordset(NULL::${ident(batch.table.name)}, $1::json)`, [`[${batch.rows.join(',')}]`]);
      } catch (e) {
        // A row the database refuses (not JSON, a value of the wrong type, a broken reference): the file was damaged.
        if (!(e instanceof QueryFailedError)) throw e;
        throw new BadInputError(`The backup's rows of table ${batch.table.name} are damaged (${e.message}): nothing was restored`, { table: batch.table.name });
      }
      batch.rows = [];
      batch.bytes = 0;
    };
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
      if (end) throw new BadInputError('The backup has lines after its end');
      const row = rowOf(next.value);
      if (row) {
        const table = tables.get(row.table);
        if (!table) throw new BadInputError(`The backup has rows of a table the database has not: ${row.table}`);
        if (batch?.table !== table) {
          await flush();
          batch = { table, rows: [], bytes: 0 };
        }
        batch.rows.push(row.json);
        batch.bytes += row.json.length;
        counts.set(table.name, (counts.get(table.name) ?? 0) + 1);
        if (batch.rows.length >= INSERT_ROWS || batch.bytes >= INSERT_BYTES) await flush();
        continue;
      }
      const line = parseLine(next.value);
      if (line.end) {
        end = line as EndLine;
      } else if (typeof line.manifest === 'string' && typeof line.bytes === 'string') {
        if (manifests && !(await manifests.has('manifest', line.manifest))) {
          await manifests.put('manifest', line.manifest, Buffer.from(line.bytes, 'base64'));
          added.push(line.manifest);
        }
        manifestCount++;
      } else {
        throw new BadInputError('The backup has a line that is neither a row, a manifest nor its end');
      }
    }
    await flush();
    if (!end) throw new BadInputError('The backup is cut short (no end line): nothing was restored');
    const rows = [...counts.values()].reduce((a, b) => a + b, 0);
    const wrong = header.tables.filter((t) => (counts.get(t.name) ?? 0) !== t.rows);
    if (wrong.length || rows !== end.rows || manifestCount !== end.manifests) throw new BadInputError(`The backup's rows do not match its header (${wrong.map((t) => t.name).join(', ') || 'totals'}): nothing was restored`);
    for (const table of tables.values()) {
      for (const [sequence, column] of table.sequences) await q.query(`SELECT setval($1, COALESCE((SELECT max(${ident(column)}) FROM ${ident(table.name)}), 0) + 1, false)`, [sequence]);
    }
    await q.query('COMMIT');
    return { header, tables: header.tables.length, rows, manifests: manifestCount };
  } catch (e) {
    await q.query('ROLLBACK').catch(() => undefined);
    for (const id of added) await manifests?.delete('manifest', id).catch(() => undefined);
    throw e;
  } finally {
    await q.release();
  }
}

/**
 * Refuses (CONFLICT) a database a gateway is connected to, `--force` or not: its rows replaced
 * under it, a running gateway would go on from what it holds in memory (cached tokens, running
 * operations, leases, hosts' states) and write it over the restored rows. Gateways name their
 * PostgreSQL connections `GATEWAY_APPLICATION_NAME`; PGlite's own lock already keeps a second
 * process out of the embedded database.
 */
async function refuseRunningGateways(q: QueryRunner): Promise<void> {
  const [found] = (await q.query(
    `SELECT count(*)::int AS "connections", array_remove(array_agg(DISTINCT host("client_addr")), NULL) AS "addresses" FROM pg_stat_activity WHERE "datname" = current_database() AND "application_name" = $1 AND "pid" <> pg_backend_pid()`,
    [GATEWAY_APPLICATION_NAME],
  )) as Array<{ connections: number; addresses: string[] | null }>;
  if (!found?.connections) return;
  const from = found.addresses?.length ? ` from ${found.addresses.join(', ')}` : '';
  throw new ConflictError(
    `A gateway is running on this database (${found.connections} connection(s) named "${GATEWAY_APPLICATION_NAME}"${from}): stop every gateway using it, then restore; nothing was restored`,
    { connections: found.connections, addresses: found.addresses ?? [] },
  );
}

/** Refuses a database with rows in any table but those the migrations fill. */
async function refuseNonEmpty(q: QueryRunner, tables: string[]): Promise<void> {
  for (const name of tables) {
    if (SEEDED_TABLES.has(name)) continue;
    const [{ any }] = (await q.query(`SELECT EXISTS (SELECT 1 FROM ${ident(name)}) AS "any"`)) as [{ any: boolean }];
    if (any) throw new ConflictError(`The database is not empty (table ${name} has rows): restore into a new database, or pass --force to replace everything it holds`, { table: name });
  }
}

/** A row line's table and the row's JSON text as written (not parsed: 64-bit and numeric values keep every digit). */
const ROW_LINE = /^\{"table":("(?:[^"\\]|\\.)*"),"row":(\{.*\})\}$/s;

function rowOf(line: string): { table: string; json: string } | undefined {
  const m = ROW_LINE.exec(line);
  return m ? { table: JSON.parse(m[1]!) as string, json: m[2]! } : undefined;
}

function parseLine(text: string): Partial<ManifestLine & EndLine> {
  try {
    return JSON.parse(text) as Partial<ManifestLine & EndLine>;
  } catch {
    throw new BadInputError('The backup has a line that is not JSON: it is damaged, nothing was restored');
  }
}
