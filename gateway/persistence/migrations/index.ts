import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { MigrationInterface } from 'typeorm';

/** A migration's file name: `<13-digit timestamp>-<name>.ts` (`.js` once built). */
const MIGRATION_FILE = /^(\d{13})-[a-z0-9-]+\.(ts|js)$/;

type MigrationClass = new () => MigrationInterface;

/**
 * Every migration of this folder, oldest first (by the timestamp that starts each file's name).
 * Adding a migration is adding its file here: each file exports its one migration class.
 */
export const migrations: MigrationClass[] = readdirSync(__dirname)
  .filter((file) => MIGRATION_FILE.test(file))
  .sort()
  .map((file) => {
    const exported = Object.values(require(join(__dirname, file)) as Record<string, unknown>).filter((v): v is MigrationClass => typeof v === 'function');
    if (exported.length !== 1) throw new Error(`Migration file ${file} must export exactly one migration class (found ${exported.length})`);
    return exported[0]!;
  });
