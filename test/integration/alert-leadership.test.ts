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

  /** Counts the alert evaluations `g` finishes from now on (every metrics tick evaluates; only the replica holding the lock goes past the check). */
  const evaluations = (g: TestGateway): (() => number) => {
    const evaluator = g.gateway.services.metrics.alerts;
    const evaluate = evaluator.evaluate.bind(evaluator);
    let finished = 0;
    evaluator.evaluate = async (...args) => {
      await evaluate(...args);
      finished += 1;
    };
    return () => finished;
  };
  const firing = async (ruleId: string) => Number((await a.gateway.dataSource.query(`SELECT count(*) AS n FROM "alert" WHERE "ruleId" = $1 AND state = 'FIRING'`, [ruleId]))[0].n);
  /** The holders of the lock in this test's database (other suites' gateways on the same server hold theirs). */
  const lockHolders = async () => Number((await a.gateway.dataSource.query(`SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, [ALERT_EVALUATION_LOCK]))[0].n);

  test('a rule that holds on a host both replicas sample fires one alert; when the evaluating replica stops, the other takes over without firing again', async () => {
    const rule = (
      await a.ok('mutation ($i: CreateAlertRuleInput!) { createAlertRule(input: $i) { id } }', {
        i: { name: 'memory in use', siteId: w.site, targetType: 'HOST', targetId: w.host1, metric: 'memory.usedBytes', comparison: 'ABOVE', threshold: -1, durationSeconds: 0 },
      })
    ).createAlertRule.id as string;
    const counts = new Map([a, b].map((g) => [g, evaluations(g)]));
    // The replica that did not store the rule reads rules again within 10 s.
    await until('the alert to fire', async () => (await firing(rule)) > 0, 20_000);
    const holders = [a, b].filter((g) => g.gateway.services.metrics.alerts.leadership?.isHeld);
    expect(holders).toHaveLength(1);
    expect(await lockHolders()).toBe(1);
    const [leader, other] = holders[0] === a ? [a, b] : [b, a];
    // Two more evaluations on each replica (the one that evaluates, and the one that checks the lock and stops there): no second alert fired.
    const counted = [counts.get(leader!)!, counts.get(other!)!];
    const at = counted.map((c) => c());
    await until('two more evaluations on each replica', () => counted.every((c, i) => c() >= at[i]! + 2), 20_000);
    expect(await firing(rule)).toBe(1);

    await leader!.close();
    await until('the other replica to take over', () => other!.gateway.services.metrics.alerts.leadership?.isHeld === true, 5000);
    // The replica that took over reads the rules and the firing alerts afresh at its first evaluation: after two, the alert was not fired again.
    const byOther = counts.get(other!)!;
    const before = byOther();
    await until('two evaluations by the replica that took over', () => byOther() >= before + 2, 20_000);
    expect(await other!.gateway.dataSource.query(`SELECT count(*)::int AS n FROM "alert" WHERE "ruleId" = $1`, [rule])).toEqual([{ n: 1 }]);
  });
});
