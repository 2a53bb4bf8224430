import type { DataSource } from 'typeorm';
import { readiness } from '../../../gateway/server/http-app';
import type { Logger } from '../../../gateway/logging/logger';

/** `/readyz` answers anyone: a failed check says that it failed and its code, never its error's text. */
describe('readiness', () => {
  const dataSource = { query: async () => [{ '?column?': 1 }] } as unknown as DataSource;

  test("a check that throws is { ok: false, code }: its message (an address, a path) goes to the log, not to the caller", async () => {
    const logged: unknown[] = [];
    const logger = { warn: (fields: unknown) => logged.push(fields) } as unknown as Logger;
    const secret = new Error('connect ECONNREFUSED 10.1.2.3:5432 (/var/lib/rsp/secret-dir)');
    const { status, body } = await readiness({ dataSource, logger, readinessChecks: [{ name: 'drivers', check: () => Promise.reject(secret) }] });
    expect(status).toBe(503);
    expect(body.checks).toEqual({ database: true, drivers: { ok: false, code: 'INTERNAL_SERVER_ERROR' } });
    expect(JSON.stringify(body)).not.toMatch(/10\.1\.2\.3|secret-dir/);
    expect(logged).toEqual([expect.objectContaining({ err: secret, check: 'drivers' })]);
  });
});
