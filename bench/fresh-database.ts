import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

/** The PostgreSQL server benches make their databases on: BENCH_ADMIN_URL, default 127.0.0.1 as postgres. */
export const BENCH_ADMIN_URL = process.env.BENCH_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Makes an empty database for one run on the admin server; returns its URL and how to drop it. */
export async function freshDatabase(adminUrl = BENCH_ADMIN_URL): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `rsp_bench_${randomBytes(4).toString('hex')}`;
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await c.end();
    },
  };
}
