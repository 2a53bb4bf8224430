import { access, constants, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import type { BackupSummary } from '../../backup/snapshot';
import { emit, humanBytes } from '../output';
import { CliError } from '../exit-codes';
import { contextOf } from './context';
import { withLocalDatabase } from './local-database';

/**
 * `rsp admin backup|restore`: the gateway's own database (PGlite or PostgreSQL, as `rsp serve`
 * is configured) and its artifact store's manifests, in one NDJSON file.
 */
export function registerAdmin(program: Command): void {
  const admin = program.command('admin').description("the gateway's own data: backup and restore (works on the configured database directly)");

  admin
    .command('backup <file>')
    .description('write a consistent snapshot of the database and the artifact manifests to <file> (0600, written atomically)')
    .option('--data-dir <dir>', 'where the embedded database and artifacts live, as for rsp serve (env RSP_DATA_DIR)')
    .option('--online', 'ask the running gateway at --url for it (site-admin token): for PGlite while rsp serve runs')
    .action(async (file: string, opts: { dataDir?: string; online?: boolean }, cmd: Command) => {
      const json = !!cmd.optsWithGlobals<{ json?: boolean }>().json;
      await checkWritable(file);
      const [{ backupLines }, { writeBackupFile }, { DirectoryBackend }] = await Promise.all([import('../../backup/snapshot.js'), import('../../backup/backup-file.js'), import('../../artifacts/directory-backend.js')]);
      if (opts.online) {
        const ctx = contextOf(cmd);
        let summary: BackupSummary = { rows: 0, manifests: 0, tables: 0 };
        const bytes = await writeBackupFile(file, completeBackup(await ctx.client.downloadBackup(), (s) => (summary = s)));
        emit(json, { file, bytes, database: ctx.connection.url, ...summary }, () => `Backed up ${summary.rows} row(s) of ${summary.tables} table(s) and ${summary.manifests} artifact manifest(s) from the gateway at ${ctx.connection.url} to ${file} (${humanBytes(bytes)})\n`);
        return;
      }
      await withLocalDatabase(opts, async ({ config, target, described, dataSource }) => {
        let summary: BackupSummary = { rows: 0, manifests: 0, tables: 0 };
        const bytes = await writeBackupFile(file, backupLines(dataSource, target.kind, { manifests: new DirectoryBackend(config.artifactDir), done: (s) => (summary = s) }));
        emit(json, { file, bytes, database: described, ...summary }, () => `Backed up ${summary.rows} row(s) of ${summary.tables} table(s) and ${summary.manifests} artifact manifest(s) from ${described} to ${file} (${humanBytes(bytes)})\n`);
      }, { existing: true });
    });

  admin
    .command('restore <file>')
    .description('restore a backup into the configured database (migrated first; refused when not empty unless --force), in one transaction')
    .option('--force', 'replace everything a non-empty database holds')
    .option('--data-dir <dir>', 'where the embedded database and artifacts live, as for rsp serve (env RSP_DATA_DIR)')
    .action(async (file: string, opts: { force?: boolean; dataDir?: string }, cmd: Command) => {
      const json = !!cmd.optsWithGlobals<{ json?: boolean }>().json;
      const [{ readBackupFile }, { checkBackupHeader, restoreBackup }, { runMigrations }, { migrations }, { DirectoryBackend }] = await Promise.all([
        import('../../backup/backup-file.js'),
        import('../../backup/restore.js'),
        import('../../persistence/data-source.js'),
        import('../../persistence/migrations/index.js'),
        import('../../artifacts/directory-backend.js'),
      ]);
      // The file is checked before the database is opened or migrated.
      await checkReadable(file);
      for await (const first of readBackupFile(file)) {
        checkBackupHeader(first, migrations.map((m) => new m().name ?? m.name));
        break;
      }
      await withLocalDatabase(opts, async ({ config, described, dataSource }) => {
        // A new database's schema is made first: one count in the summary, not a log line per migration.
        const migrated = await runMigrations(dataSource);
        const restored = await restoreBackup(dataSource, readBackupFile(file), new DirectoryBackend(config.artifactDir), { force: !!opts.force });
        const schema = migrated.length ? `; its schema made first, ${migrated.length} migration(s)` : '';
        emit(json, { file, database: described, migrated, madeBy: restored.header.rspVersion, createdAt: restored.header.createdAt, tables: restored.tables, rows: restored.rows, manifests: restored.manifests }, () => `Restored ${restored.rows} row(s) of ${restored.tables} table(s) and ${restored.manifests} artifact manifest(s) into ${described} from ${file} (made ${restored.header.createdAt} by RSP ${restored.header.rspVersion}${schema})\n`);
      });
    });
}

/** Refuses (exit 2) a backup file that cannot be read: missing, a directory, not readable. */
async function checkReadable(file: string): Promise<void> {
  try {
    if ((await stat(file)).isDirectory()) throw Object.assign(new Error(), { code: 'EISDIR' });
    await access(file, constants.R_OK);
  } catch (e) {
    throw new CliError(`cannot read the backup ${file}: ${reason(e)}`, 'BAD_USAGE');
  }
}

/** Refuses (exit 2), before any work, a backup file that could not be written: its folder missing or not writable, or a directory. */
async function checkWritable(file: string): Promise<void> {
  try {
    if ((await stat(file).catch(() => undefined))?.isDirectory()) throw Object.assign(new Error(), { code: 'EISDIR' });
    await access(dirname(resolve(file)), constants.W_OK);
  } catch (e) {
    throw new CliError(`cannot write the backup ${file}: ${reason(e)}`, 'BAD_USAGE');
  }
}

/** A file system error as a person reads it. */
function reason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  const known: Record<string, string> = { ENOENT: 'no such file or folder', EISDIR: 'it is a directory', EACCES: 'permission denied', EROFS: 'read-only file system', ENOTDIR: 'a part of its path is not a directory' };
  return (code && known[code]) ?? code ?? (e as Error).message;
}

/**
 * Passes a downloaded backup's text on, and fails (the file is then not written) unless it starts
 * with a backup header and ends with its end line: a cut connection never leaves a short backup.
 */
async function* completeBackup(pieces: AsyncIterable<string>, done: (summary: BackupSummary) => void): AsyncGenerator<string> {
  let head = '';
  let tail = '';
  for await (const piece of pieces) {
    if (head.length < 64 * 1024 && !head.includes('\n')) head += piece;
    tail = (tail + piece).slice(-64 * 1024);
    yield piece;
  }
  const header = parsed<{ format?: string; tables?: unknown[] }>(head.split('\n')[0]);
  const end = parsed<{ end?: boolean; rows?: number; manifests?: number }>(tail.trimEnd().split('\n').pop());
  if (header?.format !== 'rsp-backup' || !end?.end) throw new CliError('the gateway\'s backup is incomplete (the connection was cut?): nothing was written', 'UNAVAILABLE');
  done({ tables: header.tables?.length ?? 0, rows: end.rows ?? 0, manifests: end.manifests ?? 0 });
}

function parsed<T>(text: string | undefined): T | undefined {
  try {
    return JSON.parse(text ?? '') as T;
  } catch {
    return undefined;
  }
}
