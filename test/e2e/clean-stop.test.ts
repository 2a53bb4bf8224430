import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnRsp } from '../helpers/cli';
import { createTestDatabase, DATABASE_KINDS, TestDatabase } from '../helpers/databases';

/**
 * `rsp serve` stops on SIGTERM and exits 0, with the embedded PGlite
 * database as with PostgreSQL (Apollo's own signal handler once raced the gateway's and left the
 * PGlite process alive after "stopping").
 */
describe.each(DATABASE_KINDS)('rsp serve stops on SIGTERM (%s)', (kind) => {
  let db: TestDatabase;
  let dataDir: string;
  beforeAll(async () => {
    db = await createTestDatabase(kind);
    dataDir = mkdtempSync(join(tmpdir(), 'rsp-stop-'));
  });
  afterAll(async () => {
    await db?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('after serving a request, it logs "gateway stopped" and exits with code 0', async () => {
    const server = spawnRsp(['serve', '--port', '0', '--data-dir', dataDir], { LOG_FORMAT: 'json', LOG_LEVEL: 'info', RSP_DRIVERS: 'fake', DATABASE_URL: db.databaseUrl ?? '' });
    try {
      const [, url] = await server.waitFor(/GraphQL endpoint:\s+(\S+)/, 120_000);
      const res = await fetch(url!, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{__typename}"}' });
      expect(await res.json()).toEqual({ data: { __typename: 'Query' } });
      server.child.kill('SIGTERM');
      const { code, stdout, stderr } = await server.exited;
      expect(stdout + stderr).toMatch(/"msg":"gateway stopped"/);
      expect(code).toBe(0);
    } finally {
      if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
    }
  });
});
