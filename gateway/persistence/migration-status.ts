import type { DataSource, QueryRunner } from 'typeorm';
import { ConflictError } from '../errors';
import { RSP_VERSION } from '../version';

/** The table TypeORM records applied migrations in (see `openDataSource`). */
export const MIGRATIONS_TABLE = 'rsp_migrations';

/** A migration recorded in the database. */
export interface AppliedMigration {
  name: string;
  /** The RSP version that applied it (unknown for those applied before versions were recorded). */
  appliedBy?: string;
  /** False when this build has no such migration: a newer version applied it. */
  known: boolean;
}

/** What the database has applied and what this build would still apply. */
export interface MigrationStatus {
  /** Oldest first, as recorded. */
  applied: AppliedMigration[];
  /** This build's migrations not applied yet, in the order they would run. */
  pending: string[];
}

/**
 * Reads the migrations table (absent on a new database: nothing applied) against this build's
 * migrations; through `runner` when given (to read inside its transaction).
 */
export async function migrationStatus(dataSource: DataSource, runner?: QueryRunner): Promise<MigrationStatus> {
  const q = runner ?? dataSource;
  const known = dataSource.migrations.map((m) => m.name ?? m.constructor.name);
  const [{ present }] = (await q.query(`SELECT to_regclass($1) IS NOT NULL AS present`, [MIGRATIONS_TABLE])) as [{ present: boolean }];
  const rows = present ? ((await q.query(`SELECT * FROM "${MIGRATIONS_TABLE}" ORDER BY "id"`)) as Array<{ name: string; appliedBy?: string | null }>) : [];
  const knownNames = new Set(known);
  const applied = rows.map((r) => ({ name: r.name, ...(r.appliedBy ? { appliedBy: r.appliedBy } : {}), known: knownNames.has(r.name) }));
  const appliedNames = new Set(applied.map((a) => a.name));
  return { applied, pending: known.filter((name) => !appliedNames.has(name)) };
}

/**
 * Refuses a database that a newer RSP migrated (it records migrations this build does not know):
 * this build would misread its schema. The message names those migrations and who applied them.
 */
export async function refuseNewerSchema(dataSource: DataSource): Promise<MigrationStatus> {
  const status = await migrationStatus(dataSource);
  const unknown = status.applied.filter((m) => !m.known);
  if (unknown.length) {
    const versions = [...new Set(unknown.map((m) => m.appliedBy).filter((v): v is string => !!v))];
    const by = versions.length ? `RSP ${versions.join(', ')}` : 'a newer RSP';
    throw new ConflictError(
      `The database was migrated by ${by}, newer than this RSP ${RSP_VERSION}: it has migration(s) this version does not know: ${unknown.map((m) => m.name).join(', ')}. ` +
        'Run that version (or a newer one), or restore the backup made before the upgrade (rsp admin restore) with this version.',
      { unknownMigrations: unknown.map((m) => m.name), appliedBy: versions, version: RSP_VERSION },
    );
  }
  return status;
}

/** Records this build's version as the one that applied `names` (once the column exists). */
export async function recordAppliedBy(dataSource: DataSource, names: string[]): Promise<void> {
  if (!names.length) return;
  const [{ present }] = (await dataSource.query(`SELECT count(*) > 0 AS present FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 AND column_name = 'appliedBy'`, [MIGRATIONS_TABLE])) as [{ present: boolean }];
  if (present) await dataSource.query(`UPDATE "${MIGRATIONS_TABLE}" SET "appliedBy" = $1 WHERE "name" = ANY($2) AND "appliedBy" IS NULL`, [RSP_VERSION, names]);
}
