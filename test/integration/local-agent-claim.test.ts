import { Client } from 'pg';
import pino from 'pino';
import { LOCK_CLASS } from '../../gateway/agent/replicas/local-agent-claim';
import { GATEWAY_APPLICATION_NAME } from '../../gateway/persistence/connection-names';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { describeWithEngine } from '../helpers/engines';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { until } from '../helpers/until';

/** The server process holding the advisory lock on in-process agent id `$1`, as another session sees it (none: no row). */
const LOCK_HOLDER = `SELECT l.pid, a.application_name AS "name" FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
  WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND l.classid = ${LOCK_CLASS}::bigint::oid AND l.objid = (hashtext($1)::bigint & 4294967295)::oid AND l.objsubid = 2`;

/** Ends every connection of the gateway to this database, as a PostgreSQL restart does (57P01). */
const TERMINATE_GATEWAY = `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = '${GATEWAY_APPLICATION_NAME}'`;

/**
 * The advisory lock that claims a gateway's in-process agent id (RSP_LOCAL_AGENT_ID) lives on a
 * PostgreSQL connection of its own: when a restart of the server ends it, the gateway takes the
 * lock again on a new connection; when another process took the id meanwhile, the gateway stops
 * serving its in-process agent and says so, naming the id.
 */
describeWithEngine('postgres', 'the claim on the in-process agent id across PostgreSQL restarts', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let admin: Client;
  const lines: Array<Record<string, unknown>> = [];
  const logged = (msg: RegExp) => lines.filter((l) => typeof l.msg === 'string' && msg.test(l.msg));
  const holder = async () => (await admin.query<{ pid: number; name: string }>(LOCK_HOLDER, ['gw1'])).rows[0];

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    t = await startTestGateway(db, { RSP_LOCAL_AGENT_ID: 'gw1', RSP_HEARTBEAT_MS: '200' }, { logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) }) });
    admin = new Client({ connectionString: db.databaseUrl });
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.end();
    await t?.close();
    await db?.drop();
  });

  test('its connection ended by a restart, the gateway takes the lock again on a new one and keeps serving its agent', async () => {
    const before = await holder();
    expect(before).toMatchObject({ name: GATEWAY_APPLICATION_NAME });
    expect((await admin.query(TERMINATE_GATEWAY)).rowCount).toBeGreaterThan(0);
    const after = await until('the lock held again by the gateway', async () => {
      const now = await holder();
      return now && now.pid !== before!.pid ? now : undefined;
    }, 30_000, 50);
    expect(after.name).toBe(GATEWAY_APPLICATION_NAME);
    await until('the claim logged', () => logged(/^claimed the in-process agent id again$/).length > 0, 30_000, 50);
    expect(logged(/was lost.*taking the id again/).map((l) => l.agent)).toEqual(['gw1']);
    expect(t.gateway.agents.get('gw1')).toBeDefined();
    // A third party cannot take it.
    expect((await admin.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock(${LOCK_CLASS}, hashtext($1)) AS ok`, ['gw1'])).rows[0]!.ok).toBe(false);
  });

  test('another process took the id while the connection was gone: the gateway stops serving its in-process agent, with an error naming the id', async () => {
    const before = await holder();
    // Another process asks for the lock first (it waits), so it gets it the moment the gateway's connection is gone.
    const other = new Client({ connectionString: db.databaseUrl });
    await other.connect();
    try {
      const { rows: [me] } = await other.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const taken = other.query(`SELECT pg_advisory_lock(${LOCK_CLASS}, hashtext($1))`, ['gw1']);
      await until('the other process waiting for the lock', async () => (await admin.query(`SELECT 1 FROM pg_locks WHERE pid = $1 AND locktype = 'advisory' AND NOT granted`, [me!.pid])).rowCount === 1, 30_000, 20);
      await admin.query(TERMINATE_GATEWAY);
      await taken;
      expect((await holder())?.pid).toBe(me!.pid);
      expect(before?.pid).not.toBe(me!.pid);
      const lost = await until('the gateway gives its agent up', () => (t.gateway.agents.get('gw1') === undefined ? logged(/another gateway took the in-process agent id/) : undefined), 30_000, 50);
      expect(lost).toEqual([expect.objectContaining({ level: 50, agent: 'gw1', msg: expect.stringContaining('"gw1"') })]);
    } finally {
      await other.end();
    }
  });
});
