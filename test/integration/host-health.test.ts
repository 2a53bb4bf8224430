import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { describeWithEngine } from '../helpers/engines';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { until } from '../helpers/until';

/**
 * Two gateway replicas on one PostgreSQL database, each running the failure detector: agent `x`
 * lives in replica A only. Its host stays UP while A's agent beats (replica B, which does not
 * serve it, never marks it DOWN); a silent host is marked DOWN once, with one alert, however many
 * detector rounds race for it (the advisory lock and the conditional update); it comes back UP
 * when its agent beats again, and the alert is resolved.
 */
describeWithEngine('postgres', 'failure detection across two gateway replicas', () => {
  let db: TestDatabase;
  let a: TestGateway;
  let b: TestGateway;
  let site: string;
  let group: string;
  const settings = { RSP_DRIVERS: 'fake', RSP_HEARTBEAT_MS: '100', RSP_HOST_DOWN_AFTER_MS: '500' };

  const state = async (id: string) => (await a.ok('query ($id: ID!) { host(id: $id) { state } }', { id })).host.state as string;
  const alerts = async (hostId: string) =>
    (await a.gateway.dataSource.query(`SELECT state FROM alert WHERE "targetId" = $1 AND metric = 'heartbeatSilenceSeconds' ORDER BY "firedAt"`, [hostId])) as Array<{ state: string }>;
  const newHost = async (hostname: string, agent: string) => (await a.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id agent } }', { i: { siteId: site, ownerGroupId: group, hostname, drivers: ['fake'], agent } })).createHost.id as string;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    a = await startTestGateway(db, { ...settings, RSP_AGENTS: 'x' });
    b = await startTestGateway({ ...db, dataDir: mkdtempSync(join(tmpdir(), 'rsp-replica-b-')) }, settings);
    group = (await a.ok('mutation { createGroup(input: { slug: "ops", name: "Ops" }) { id } }')).createGroup.id;
    site = (await a.ok('mutation ($g: ID!) { createSite(input: { name: "one", ownerGroupId: $g }) { id } }', { g: group })).createSite.id;
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await db?.drop();
  });

  test('a silent host is marked DOWN exactly once while both replicas race to detect it', async () => {
    const lost = await newHost('lost', 'gone');
    // Its agent was heard once, as both replicas had started (one heard before a replica's start would have its restart grace): the host was UP.
    const started = Math.max(...[a, b].map((g) => g.gateway.services.health.startedAt!));
    await a.gateway.dataSource.query(`UPDATE host SET state = 'UP', "lastHeartbeatAt" = $2 WHERE id = $1`, [lost, new Date(started)]);
    const rounds = await Promise.all([...Array(4)].flatMap(() => [a.gateway.services.health.detect(), b.gateway.services.health.detect()]));
    await until('host DOWN', async () => ((await state(lost)) === 'DOWN' ? true : undefined), 20_000, 50);
    // The round that marked it (maybe a timed one) raises its alert after the mark: wait for it, then give both
    // replicas more whole rounds of their own, which must neither mark it again nor raise a second alert.
    await until('the DOWN alert', async () => (await alerts(lost)).length > 0, 20_000, 50);
    const more = await Promise.all([a, b, a, b].map((g) => g.gateway.services.health.tick()));
    expect(more.flatMap((r) => r.down).filter((h) => h.id === lost)).toEqual([]);
    expect(await alerts(lost)).toEqual([{ state: 'FIRING' }]);
    expect(rounds.flat().filter((h) => h.id === lost).length).toBeLessThanOrEqual(1);
  });

  test("an agent of one replica keeps its host UP; cut off it is DOWN (once), back it is UP and the alert resolved", async () => {
    const x = await newHost('x-host', 'x');
    const heard = async () => (await a.ok('query ($id: ID!) { host(id: $id) { lastHeartbeatAt } }', { id: x })).host.lastHeartbeatAt as string | null;
    await until('a heartbeat', async () => (await heard()) !== null, 20_000, 50);
    // Beats are written every 10th (1 s here): wait until the beat written is older than the DOWN threshold (500 ms),
    // then a whole round of each replica — B never heard the agent and reads what is written, A hears it — leaves it UP.
    const rounds = await until('a written beat older than the DOWN threshold', async () => {
      const now = Date.now();
      return now - Date.parse((await heard())!) > 600 && Promise.all([a, b].map((g) => g.gateway.services.health.tick(now)));
    }, 20_000, 50);
    expect(rounds.flatMap((r) => r.down).map((h) => h.id)).not.toContain(x);
    expect(await state(x)).toBe('UP');
    a.gateway.agents.disconnect('x');
    await until('host DOWN', async () => ((await state(x)) === 'DOWN' ? true : undefined), 20_000, 50);
    a.gateway.agents.reconnect('x');
    await until('host UP', async () => ((await state(x)) === 'UP' ? true : undefined), 20_000, 50);
    // The host is written UP before its alert is resolved: wait for the resolution, then check it is the only alert.
    const resolved = await until('alert resolved', async () => {
      const rows = await alerts(x);
      return rows.some((r) => r.state === 'RESOLVED') ? rows : undefined;
    }, 20_000, 50);
    expect(resolved).toEqual([{ state: 'RESOLVED' }]);
  });
});
