import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { engineStatus, POSTGRES_ADMIN_URL } from './engines';

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
    return { kind, dataDir, drop: async () => rmSync(dataDir, { recursive: true, force: true }) };
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
      rmSync(dataDir, { recursive: true, force: true });
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
