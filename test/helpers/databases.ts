import { PGlite } from '@electric-sql/pglite';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { tmpdir } from 'node:os';
import { Client } from 'pg';
import { openDataSource, runMigrations } from '../../gateway/persistence/data-source';
import { EMBEDDED_LOCK_FILE } from '../../gateway/persistence/embedded-lock';
import { engineStatus, POSTGRES_ADMIN_URL } from './engines';

/** The environment variable naming this run's folder for the migrated PGlite template (set by the global setup). */
export const PGLITE_TEMPLATE_ENV = 'RSP_TEST_PGLITE_TEMPLATE_DIR';

/** A fresh, empty database for one test file: PGlite in a temp directory, or a new PostgreSQL database. */
export interface TestDatabase {
  kind: 'pglite' | 'postgres';
  /** The config keys that point a gateway at it. */
  databaseUrl?: string;
  dataDir: string;
  /** Drops the database and removes the directory. */
  drop(): Promise<void>;
}

/** The database kinds integration tests run against: PGlite always, PostgreSQL when it answers (or CI=true). */
export const DATABASE_KINDS: Array<'pglite' | 'postgres'> =
  engineStatus('postgres').available || process.env.CI === 'true' ? ['pglite', 'postgres'] : ['pglite'];

/** Creates an empty database of `kind`. */
export async function createTestDatabase(kind: 'pglite' | 'postgres'): Promise<TestDatabase> {
  const dataDir = mkdtempSync(join(tmpdir(), 'rsp-test-'));
  if (kind === 'pglite') {
    return { kind, dataDir, drop: async () => rmSync(dataDir, { recursive: true, force: true, maxRetries: 5 }) };
  }
  const name = `rsp_test_${randomBytes(6).toString('hex')}`;
  await withAdmin((c) => c.query(`CREATE DATABASE "${name}"`));
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    kind,
    dataDir,
    databaseUrl: url.toString(),
    drop: async () => {
      await withAdmin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
      rmSync(dataDir, { recursive: true, force: true, maxRetries: 5 });
    },
  };
}

async function withAdmin<T>(fn: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: POSTGRES_ADMIN_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * Makes this run's migrated PGlite template (`<template folder>/db`) unless it is there: initdb and
 * every migration of the repository, once per run. The global setup makes it while the run's
 * builds go on, so that no test file's `beforeAll` pays for it (over a minute on a 2-core machine
 * under load, inside the first test gateway's start); a test run without it makes it on first
 * need. Its path, or undefined when no template folder is set.
 */
export async function makePgliteTemplate(): Promise<string | undefined> {
  const templates = process.env[PGLITE_TEMPLATE_ENV];
  if (!templates) return undefined;
  const template = join(templates, 'db');
  if (existsSync(template)) return template;
  const scratch = mkdtempSync(join(templates, 'making-'));
  const ds = await openDataSource({ kind: 'pglite', dataDir: join(scratch, 'db') });
  try {
    await runMigrations(ds);
  } finally {
    await ds.destroy();
  }
  try {
    renameSync(join(scratch, 'db'), template);
  } catch (e) {
    // Another worker's template got there first: the same migrations, so either will do.
    if (!['EEXIST', 'ENOTEMPTY'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
  }
  rmSync(scratch, { recursive: true, force: true });
  return template;
}

/**
 * Gives a PGlite directory that does not exist yet (`<dataDir>/db`) the migrated, empty schema by
 * copying this run's template (`makePgliteTemplate`) instead of migrating from scratch (initdb and
 * every migration: about 10 s per fresh gateway on a busy 2-core machine, against 1–2 s for the
 * copy). The copy then gets its own installation id, as a database migrated on its own has (the
 * Redis prefix and the local agent's id derive from it). A no-op when the directory exists or no
 * template folder is set.
 */
export async function seedMigratedPglite(dbDir: string): Promise<void> {
  if (existsSync(dbDir)) return;
  const template = await makePgliteTemplate();
  if (!template) return;
  cpSync(template, dbDir, { recursive: true, filter: (source) => basename(source) !== EMBEDDED_LOCK_FILE });
  const db = await PGlite.create(dbDir);
  try {
    await db.query('UPDATE "installation" SET "id" = gen_random_uuid()');
  } finally {
    await db.close();
  }
}
