// Prints the SQL that would bring a migrated database up to the current entities: the body of
// the next migration. Usage: npx ts-node is not used; run through jest-free node after `npm run build`:
//   node dist/scripts/migration-sql.js
import 'reflect-metadata';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDataSource, runMigrations } from '../gateway/persistence/data-source';

async function main(): Promise<void> {
  const ds = await openDataSource({ kind: 'pglite', dataDir: mkdtempSync(join(tmpdir(), 'rsp-migration-sql-')) });
  await runMigrations(ds);
  const sql = await ds.driver.createSchemaBuilder().log();
  for (const q of sql.upQueries) process.stdout.write(`UP   ${q.query};\n`);
  for (const q of sql.downQueries.reverse()) process.stdout.write(`DOWN ${q.query};\n`);
  await ds.destroy();
}
void main();
