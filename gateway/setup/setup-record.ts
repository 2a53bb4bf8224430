import type { DataSource, EntityManager } from 'typeorm';

/** The names a set-up of this machine gives what it creates. */
export interface SetupNames {
  /** The admin group's slug (its name is taken from it). */
  group: string;
  site: string;
  /** This machine's host record. */
  host: string;
  /** Whether a busybox image is prepared. */
  image: boolean;
}

/** How far the set-up went: STARTED until every step is done; SKIPPED when the database was already in use. */
export type SetupState = 'STARTED' | 'DONE' | 'SKIPPED';

/** What the `installation` row keeps of the set-up. */
export interface SetupRecord extends SetupNames {
  state: SetupState;
  startedAt: string;
  doneAt?: string;
}

/** What `claimSetup` decided. */
export type SetupClaim = { run: true; record: SetupRecord } | { run: false; record: SetupRecord | null; reason: string };

/**
 * Decides, in one transaction holding the installation row, whether this start sets the machine
 * up: yes when the database has no group, site or host (recorded STARTED with `names`), or when
 * an earlier set-up was cut short (STARTED: its own names are kept, so the next start completes
 * that one). A database already in use without a record is marked SKIPPED and never set up.
 */
export async function claimSetup(dataSource: DataSource, names: SetupNames): Promise<SetupClaim> {
  return dataSource.transaction(async (m) => {
    const [row] = (await m.query(`SELECT "id", "setup" FROM "installation" ORDER BY "createdAt" LIMIT 1 FOR UPDATE`)) as Array<{ id: string; setup: SetupRecord | null }>;
    if (!row) throw new Error('The database has no installation row: run the migrations');
    if (row.setup?.state === 'STARTED') return { run: true, record: row.setup };
    if (row.setup) return { run: false, record: row.setup, reason: recordedReason(row.setup) };
    const record: SetupRecord = { ...names, state: (await inUse(m)) ? 'SKIPPED' : 'STARTED', startedAt: new Date().toISOString() };
    await m.query(`UPDATE "installation" SET "setup" = $2 WHERE "id" = $1`, [row.id, JSON.stringify(record)]);
    return record.state === 'STARTED' ? { run: true, record } : { run: false, record, reason: IN_USE };
  });
}

/**
 * Read only: why a set-up would not run on this database (`done` when it ran already), or
 * undefined when it would (a new or empty database, or one whose set-up was cut short). Lets
 * `rsp init` say so before asking for names.
 */
export async function setupRefusal(dataSource: DataSource): Promise<{ done: boolean; reason: string } | undefined> {
  const [migrated] = (await dataSource.query(`SELECT to_regclass('"installation"') IS NOT NULL AS "ok"`)) as Array<{ ok: boolean }>;
  if (!migrated?.ok) return undefined;
  const setup = await readSetup(dataSource);
  if (setup?.state === 'STARTED') return undefined;
  if (setup) return { done: setup.state === 'DONE', reason: recordedReason(setup) };
  return (await inUse(dataSource.manager)) ? { done: false, reason: IN_USE } : undefined;
}

const IN_USE = 'the database already has groups, sites or hosts';

function recordedReason(setup: SetupRecord): string {
  return setup.state === 'DONE' ? 'this machine was set up already' : 'the database was in use before first-start set-up existed';
}

async function inUse(m: EntityManager): Promise<boolean> {
  const [used] = (await m.query(`SELECT (SELECT COUNT(*) FROM "group") + (SELECT COUNT(*) FROM "site") + (SELECT COUNT(*) FROM "host") AS n`)) as Array<{ n: string | number }>;
  return Number(used?.n ?? 0) > 0;
}

/** Records the set-up as DONE. */
export async function finishSetup(dataSource: DataSource, record: SetupRecord): Promise<SetupRecord> {
  const done: SetupRecord = { ...record, state: 'DONE', doneAt: new Date().toISOString() };
  await dataSource.query(`UPDATE "installation" SET "setup" = $1 WHERE "id" = (SELECT "id" FROM "installation" ORDER BY "createdAt" LIMIT 1)`, [JSON.stringify(done)]);
  return done;
}

/** The set-up as recorded, or null when no start looked yet. */
export async function readSetup(dataSource: DataSource): Promise<SetupRecord | null> {
  const [row] = (await dataSource.query(`SELECT "setup" FROM "installation" ORDER BY "createdAt" LIMIT 1`)) as Array<{ setup: SetupRecord | null }>;
  return row?.setup ?? null;
}
