import { createLogger } from '../../gateway/logging/logger';
import { createTestDatabase, DATABASE_KINDS, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';

/**
 * An internal error is logged whole, and a failed query's error carries the values its statement
 * was given (TypeORM's `parameters`, PostgreSQL's `detail`): the gateway's logger leaves those
 * out, keeping the SQL text, the code and the constraint.
 */
describe.each(DATABASE_KINDS)("a failed query's values stay out of the log (%s)", (kind) => {
  let db: TestDatabase;
  let t: TestGateway;
  const lines: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    t = await startTestGateway(db, {}, { logger: createLogger({ logLevel: 'info', logFormat: 'json' }, { write: (line: string) => void lines.push(line) }) });
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test('a statement the database refuses for a reason no caller causes: INTERNAL, logged with its SQL and code, without its values', async () => {
    // A refusal the gateway maps to no caller's code, its detail quoting the row as PostgreSQL's own do.
    await t.gateway.dataSource.query(`CREATE FUNCTION refuse_group() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'groups are refused by the test' USING ERRCODE = 'XX001', DETAIL = 'Failing row contains (' || NEW.name || ')'; END $$`);
    await t.gateway.dataSource.query('CREATE TRIGGER refuse_group BEFORE INSERT ON "group" FOR EACH ROW EXECUTE FUNCTION refuse_group()');
    try {
      const res = await t.gql('mutation ($i: CreateGroupInput!) { createGroup(input: $i) { id } }', { i: { slug: 'refused-by-test', name: 'Secret Name 4711', description: 'secret-description-0815' } });
      expect(res.errors?.[0]).toMatchObject({ extensions: { code: 'INTERNAL_SERVER_ERROR' } });
      const logged = lines.map((l) => JSON.parse(l) as { msg: string; err?: Record<string, unknown> }).filter((l) => l.msg === 'internal error');
      expect(logged).toHaveLength(1);
      const err = logged[0]!.err!;
      expect(err).toMatchObject({ type: 'QueryFailedError', code: 'XX001', message: expect.stringContaining('groups are refused by the test'), query: expect.stringContaining('INSERT INTO "group"'), parameters: expect.stringMatching(/^\(\d+ values left out of the log\)$/), detail: '(left out of the log)' });
      expect(err.driverError).toMatchObject({ code: 'XX001', detail: '(left out of the log)' });
      if (kind === 'pglite') expect((err.driverError as Record<string, unknown>).params).toMatch(/values left out of the log/);
      for (const line of lines) {
        expect(line).not.toContain('Secret Name 4711');
        expect(line).not.toContain('secret-description-0815');
      }
    } finally {
      await t.gateway.dataSource.query('DROP TRIGGER refuse_group ON "group"');
    }
  });
});
