import type { DataSource } from 'typeorm';

/**
 * The installation's id, made with the database (the `installation` table) and the same for every
 * gateway replica on it: 32 hex digits, no dashes.
 */
export async function installationId(dataSource: DataSource): Promise<string> {
  const rows = (await dataSource.query(`SELECT "id" FROM "installation" ORDER BY "createdAt" LIMIT 1`)) as Array<{ id: string }>;
  const id = rows[0]?.id;
  if (!id) throw new Error('The database has no installation id: run the migrations');
  return id.replace(/-/g, '');
}
