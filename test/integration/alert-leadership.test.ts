import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ALERT_EVALUATION_LOCK } from '../../gateway/metrics/alert-leadership';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { describeWithEngine } from '../helpers/engines';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, World } from '../helpers/scenario';
import { until } from '../helpers/until';

/** Two gateway replicas on one PostgreSQL both sample this machine: only one evaluates alert rules, so an alert fires once. */
describeWithEngine('postgres', 'alert rules are evaluated by exactly one replica', () => {
  let db: TestDatabase;
  let a: TestGateway;
  let b: TestGateway;
  let w: World;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    a = await startTestGateway(db, { RSP_METRICS_INTERVAL_MS: '200' });
    b = await startTestGateway({ ...db, dataDir: mkdtempSync(join(tmpdir(), 'rsp-replica-b-')) }, { RSP_METRICS_INTERVAL_MS: '200' });
    w = await buildWorld(a);
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await db?.drop();
  });

  const firing = async (ruleId: string) => Number((await a.gateway.dataSource.query(`SELECT count(*) AS n FROM "alert" WHERE "ruleId" = $1 AND state = 'FIRING'`, [ruleId]))[0].n);
  const lockHolders = async () => Number((await a.gateway.dataSource.query(`SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND granted`, [ALERT_EVALUATION_LOCK]))[0].n);

  test('a rule that holds on a host both replicas sample fires one alert; when the evaluating replica stops, the other takes over without firing again', async () => {
    const rule = (
      await a.ok('mutation ($i: CreateAlertRuleInput!) { createAlertRule(input: $i) { id } }', {
        i: { name: 'memory in use', siteId: w.site, targetType: 'HOST', targetId: w.host1, metric: 'memory.usedBytes', comparison: 'ABOVE', threshold: -1, durationSeconds: 0 },
      })
    ).createAlertRule.id as string;
    // The replica that did not store the rule reads rules again within 10 s.
    await until('the alert to fire', async () => (await firing(rule)) > 0, 20_000);
    await new Promise((r) => setTimeout(r, 2000));
    expect(await firing(rule)).toBe(1);
    const holders = [a, b].filter((g) => g.gateway.services.metrics.alerts.leadership?.isHeld);
    expect(holders).toHaveLength(1);
    expect(await lockHolders()).toBe(1);

    const [leader, other] = holders[0] === a ? [a, b] : [b, a];
    await leader!.close();
    await until('the other replica to take over', () => other!.gateway.services.metrics.alerts.leadership?.isHeld === true, 5000);
    await new Promise((r) => setTimeout(r, 12_000));
    expect(await other!.gateway.dataSource.query(`SELECT count(*)::int AS n FROM "alert" WHERE "ruleId" = $1`, [rule])).toEqual([{ n: 1 }]);
  });
});
