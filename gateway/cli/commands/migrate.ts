import type { Command } from 'commander';
import type { MigrationStatus } from '../../persistence/migration-status';
import { emit, table } from '../output';
import { absentEmbeddedDatabase, withLocalDatabase } from './local-database';

/** One line of `rsp migrate --status`. */
interface MigrationRow {
  name: string;
  state: 'applied' | 'pending' | 'unknown';
  appliedBy?: string;
}

/** `rsp migrate [--status]`: applies the configured database's pending migrations, or lists them. */
export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations and exit (--status: list applied and pending ones, apply nothing)')
    .option('--status', 'list applied and pending migrations without applying any')
    .option('--data-dir <dir>', 'where the embedded database lives, as for rsp serve (env RSP_DATA_DIR)')
    .option('--verbose', 'log each migration as it is applied and list them all (default: one summary line)')
    .action(async (opts: { status?: boolean; dataDir?: string; verbose?: boolean }, cmd: Command) => {
      const json = !!cmd.optsWithGlobals<{ json?: boolean }>().json;
      // Asked only what it would do, it makes no database where there is none (a misspelt --data-dir).
      const absent = opts.status ? await absentEmbeddedDatabase(opts) : undefined;
      if (absent) {
        const { migrations } = await import('../../persistence/migrations/index.js');
        const status: MigrationStatus = { applied: [], pending: migrations.map((m) => new m().name ?? m.name) };
        emit(json, { database: absent, exists: false, applied: status.applied, pending: status.pending }, () => `${absent} (no database there yet): ${summary(status)}\n${statusTable(statusRows(status))}`);
        return;
      }
      await withLocalDatabase(opts, async ({ dataSource, logger, described }) => {
        const { migrationStatus } = await import('../../persistence/migration-status.js');
        if (opts.status) {
          const status = await migrationStatus(dataSource);
          const rows = statusRows(status);
          emit(json, { database: described, applied: status.applied, pending: status.pending }, () => `${described}: ${summary(status)}\n${statusTable(rows)}`);
          return;
        }
        const { runMigrations } = await import('../../persistence/data-source.js');
        // Quiet unless asked: each migration's log line would bury the summary (and a first run has dozens).
        const ran = await runMigrations(dataSource, opts.verbose ? logger : undefined);
        emit(json, { database: described, applied: ran }, () => (ran.length ? appliedSummary(ran, described, !!opts.verbose) : `${described} is up to date\n`));
      });
    });
}

/** What `rsp migrate` says once it applied `ran`: a line, the migrations' names too when `verbose`. */
function appliedSummary(ran: string[], described: string, verbose: boolean): string {
  const line = `Applied ${ran.length} migration${ran.length === 1 ? '' : 's'} to ${described}`;
  if (verbose) return `${line}: ${ran.join(', ')}\n`;
  return `${line} (latest ${ran[ran.length - 1]}; rsp migrate --status lists them all)\n`;
}

function statusTable(rows: MigrationRow[]): string {
  return table(rows, [
    { header: 'MIGRATION', value: (r) => r.name },
    { header: 'STATE', value: (r) => (r.state === 'unknown' ? 'applied by a newer version' : r.state) },
    { header: 'APPLIED BY', value: (r) => r.appliedBy ?? '' },
  ]);
}

function statusRows(status: MigrationStatus): MigrationRow[] {
  return [
    ...status.applied.map((m): MigrationRow => ({ name: m.name, state: m.known ? 'applied' : 'unknown', ...(m.appliedBy ? { appliedBy: m.appliedBy } : {}) })),
    ...status.pending.map((name): MigrationRow => ({ name, state: 'pending' })),
  ];
}

function summary(status: MigrationStatus): string {
  const unknown = status.applied.filter((m) => !m.known).length;
  return `${status.applied.length} applied, ${status.pending.length} pending${unknown ? `, ${unknown} unknown to this version (a newer one applied them: this version refuses to start on it)` : ''}`;
}
