import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createRootfsTar } from '../../drivers/fake';
import type { InProcessAgent } from '../../gateway/agent/in-process-agent';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { collect, startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, World } from '../helpers/scenario';
import { until } from '../helpers/until';

const HOST_FIELDS = 'hostId at source cpu { usage cores } load { one } memory { totalBytes usedBytes availableBytes } swap { totalBytes usedBytes } disks { device readBytes writeBytes } filesystems { mountPoint totalBytes usedBytes } networks { interface rxBytes txBytes rxPackets txPackets } dropped';

/** Live metrics, events, history, alert rules, usage policies and /metrics on the fake driver. */
describe('metrics', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;
  let env: string;

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db, { RSP_METRICS_INTERVAL_MS: '200' });
    w = await buildWorld(t);
    const image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: 'fake', version: '1', technology: 'fake' } })).registerImage.id;
    await t.upload(image, createRootfsTar({ '/etc/hostname': 'x' }));
    const created = (await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: w.groupA, hostId: w.host1, imageId: image, name: 'm1' } })).createEnvironment;
    env = created.environment.id;
    await t.gateway.services.operations.settled(created.operation.id);
    await t.gateway.services.operations.settled((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: env })).startEnvironment.id);
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test('hostMetrics streams real samples of this machine: memory used ≤ total, counters never go down', async () => {
    const events: any[] = [];
    const s = collect<{ hostMetrics: any }>(t.ws({ authorization: `Bearer ${w.tokens.memberB}` }), `subscription ($h: ID!) { hostMetrics(hostId: $h) { ${HOST_FIELDS} } }`, { h: w.host1 }, (e) => events.push(e.hostMetrics) >= 3);
    await s.done;
    for (const m of events) {
      expect(m.hostId).toBe(w.host1);
      expect(m.memory.usedBytes).toBeLessThanOrEqual(m.memory.totalBytes);
      expect(m.swap.usedBytes).toBeLessThanOrEqual(m.swap.totalBytes);
      expect(m.cpu.usage).toBeGreaterThanOrEqual(0);
      expect(m.cpu.usage).toBeLessThanOrEqual(1);
      expect(m.cpu.cores.length).toBeGreaterThan(0);
      expect(m.dropped).toBe(0);
      for (const f of m.filesystems) expect(f.usedBytes).toBeLessThanOrEqual(f.totalBytes);
    }
    const lo = events.map((m) => m.networks.find((n: any) => n.interface === 'lo'));
    for (let i = 1; i < lo.length; i++) {
      expect(lo[i].rxBytes).toBeGreaterThanOrEqual(lo[i - 1].rxBytes);
      expect(lo[i].txPackets).toBeGreaterThanOrEqual(lo[i - 1].txPackets);
    }
    expect(new Date(events[2].at).getTime()).toBeGreaterThan(new Date(events[0].at).getTime());
  });

  test('environmentMetrics reaches its group; another group is told it does not exist', async () => {
    const q = 'subscription ($e: ID!) { environmentMetrics(environmentId: $e) { environmentId groupId cpuSeconds cpuUsage memoryBytes networkRxBytes dropped } }';
    const mine = collect<{ environmentMetrics: any }>(t.ws({ authorization: `Bearer ${w.tokens.viewerA}` }), q, { e: env }, (e) => e.environmentMetrics.environmentId === env);
    const [first] = await mine.done;
    expect(first!.environmentMetrics).toMatchObject({ environmentId: env, groupId: w.groupA, dropped: 0 });
    const theirs = collect(t.ws({ authorization: `Bearer ${w.tokens.memberB}` }), q, { e: env }, () => true, 5000);
    await expect(theirs.done).rejects.toThrow(/NOT_FOUND/);
  });

  test('siteMetrics adds up the site', async () => {
    const sub = collect<{ siteMetrics: any }>(t.ws(), 'subscription ($s: ID!) { siteMetrics(siteId: $s) { siteId hosts environments cpuUsage memoryTotalBytes memoryUsedBytes } }', { s: w.site }, (e) => e.siteMetrics.environments >= 1);
    const events = await sub.done;
    const last = events[events.length - 1]!.siteMetrics;
    // Only zaphod is this machine (RSP_LOCAL_HOST); trillian, served by the same local agent, has no samples from here.
    expect(last).toMatchObject({ siteId: w.site, hosts: 1 });
    expect(last.memoryUsedBytes).toBeLessThanOrEqual(last.memoryTotalBytes);
  });

  test("this machine's samples go only to the host record that is this machine, not to every host of the local agent", async () => {
    const samples = await t.gateway.services.metrics.sampler.tick();
    expect(samples.map((s) => s.hostId)).toEqual([w.host1]);
    // trillian's subscription first, then zaphod's, on one connection: once zaphod's has had five rounds of samples, trillian's would have had some too.
    const client = t.ws();
    const other: unknown[] = [];
    const unsubscribe = client.subscribe({ query: 'subscription ($h: ID!) { hostMetrics(hostId: $h) { hostId } }', variables: { h: w.host2 } }, { next: (v) => other.push(v), error: (e) => other.push(e), complete: () => undefined });
    const mine: string[] = [];
    await collect<{ hostMetrics: { hostId: string } }>(client, 'subscription ($h: ID!) { hostMetrics(hostId: $h) { hostId } }', { h: w.host1 }, (e) => mine.push(e.hostMetrics.hostId) >= 5).done;
    unsubscribe();
    expect(mine).toEqual(Array(5).fill(w.host1));
    expect(other).toEqual([]);
  });

  test('an alert rule fires on events for its group only, and is stored', async () => {
    const q = 'subscription { events { kind groupId alert { state metric ruleId targetId } environment { id status } operation { kind } } }';
    const a = collect<{ events: any }>(t.ws({ authorization: `Bearer ${w.tokens.viewerA}` }), q, {}, (e) => e.events.kind === 'ALERT', 20_000);
    const b = collect<{ events: any }>(t.ws({ authorization: `Bearer ${w.tokens.memberB}` }), q, {}, () => false, 3000);
    await Promise.all([a.ready, b.ready]);
    const rule = (await t.ok('mutation ($i: CreateAlertRuleInput!) { createAlertRule(input: $i) { id } }', { i: { name: 'alive', groupId: w.groupA, targetType: 'ENVIRONMENT', metric: 'memory.bytes', comparison: 'ABOVE', threshold: -1, durationSeconds: 0 } }, w.tokens.memberA)).createAlertRule.id;
    const events = await a.done;
    expect(events[events.length - 1]!.events).toMatchObject({ kind: 'ALERT', groupId: w.groupA, alert: { state: 'FIRING', metric: 'memory.bytes', ruleId: rule, targetId: env } });
    await b.done.catch(() => undefined);
    expect(b.events.filter((e) => e.events.groupId === w.groupA)).toEqual([]);
    const stored = await t.ok('{ alerts(state: FIRING) { ruleId targetId } }', {}, w.tokens.viewerA);
    expect(stored.alerts).toContainEqual({ ruleId: rule, targetId: env });
    expect((await t.ok('{ alerts { id } }', {}, w.tokens.memberB)).alerts).toEqual([]);
    for (const first of [0, 501]) expect((await t.gql(`{ alerts(first: ${first}) { id } }`, {}, w.tokens.viewerA)).errors?.[0]).toMatchObject({ message: `first must be 1 to 500 (got ${first})`, extensions: { code: 'BAD_USER_INPUT' } });
    expect(await t.ok('mutation ($id: ID!) { deleteAlertRule(id: $id) }', { id: rule }, w.tokens.memberA)).toEqual({ deleteAlertRule: true });
    expect((await t.ok('{ alerts(state: FIRING) { id } }', {}, w.tokens.viewerA)).alerts).toEqual([]);
  });

  test('bad alert rules are refused with a clear error', async () => {
    const res = await t.gql('mutation ($i: CreateAlertRuleInput!) { createAlertRule(input: $i) { id } }', { i: { name: 'x', groupId: w.groupA, targetType: 'ENVIRONMENT', metric: 'nope', threshold: 1 } });
    expect(res.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' }, message: expect.stringMatching(/Unknown environment metric "nope"/) });
    const host = await t.gql('mutation ($i: CreateAlertRuleInput!) { createAlertRule(input: $i) { id } }', { i: { name: 'x', groupId: w.groupA, targetType: 'HOST', metric: 'cpu.usage', threshold: 1 } });
    expect(host.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  test('environment lifecycle changes and operations reach events', async () => {
    const a = collect<{ events: any }>(t.ws({ authorization: `Bearer ${w.tokens.viewerA}` }), 'subscription { events { kind environment { id status } operation { kind state } } }', {}, (e) => e.events.kind === 'ENVIRONMENT' && e.events.environment.status === 'RUNNING', 20_000);
    await a.ready;
    await t.gateway.services.operations.settled((await t.ok('mutation ($id: ID!) { restartEnvironment(id: $id) { id } }', { id: env })).restartEnvironment.id);
    const events = await a.done;
    expect(events.map((e) => e.events.kind)).toEqual(expect.arrayContaining(['OPERATION', 'ENVIRONMENT']));
    expect(events.some((e) => e.events.operation?.kind === 'environment.restart')).toBe(true);
  });

  test('history is stored and queryable by range and step', async () => {
    const from = new Date(Date.now() - 60_000).toISOString();
    // The samples of at least two seconds, read again (flushed first) until they are stored.
    const res = await until('two seconds of stored host samples', async () => {
      await t.gateway.services.metrics.history.flush();
      const read = await t.ok('query ($h: ID!, $from: DateTimeISO!) { metricHistory(targetType: HOST, targetId: $h, metric: "memory.usedBytes", from: $from, step: 1) { resolutionSeconds stepSeconds points { at value } } }', { h: w.host1, from }, w.tokens.viewerA);
      return read.metricHistory.points.length > 1 ? read : undefined;
    }, 30_000, 200);
    expect(res.metricHistory.resolutionSeconds).toBe(1);
    expect(res.metricHistory.points.length).toBeGreaterThan(1);
    for (const p of res.metricHistory.points) expect(p.value).toBeGreaterThan(0);
    const coarse = await t.ok('query ($h: ID!, $from: DateTimeISO!) { metricHistory(targetType: HOST, targetId: $h, metric: "cpu.usage", from: $from, step: 60) { resolutionSeconds points { value } } }', { h: w.host1, from: new Date(Date.now() - 2 * 86400_000).toISOString() });
    expect(coarse.metricHistory.resolutionSeconds).toBe(60);
    const envHistory = await t.gql('query ($e: ID!, $from: DateTimeISO!) { metricHistory(targetType: ENVIRONMENT, targetId: $e, metric: "memory.bytes", from: $from) { points { value } } }', { e: env, from }, w.tokens.memberB);
    expect(envHistory.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const tooMany = await t.gql('query ($h: ID!) { metricHistory(targetType: HOST, targetId: $h, metric: "cpu.usage", from: "2020-01-01T00:00:00Z", step: 1) { points { value } } }', { h: w.host1 });
    expect(tooMany.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  test('retention deletes what each level no longer keeps', async () => {
    const history = t.gateway.services.metrics.history;
    const old = Date.now() - 2 * 3600_000;
    history.record('HOST', w.host2, old, { 'cpu.usage': 0.5 });
    history.record('HOST', w.host2, old + 1000, { 'cpu.usage': 0.5 });
    await history.flush();
    const count = () => t.gateway.dataSource.query(`SELECT count(*)::int AS n FROM metric_sample WHERE "targetId" = $1 AND "resolutionSeconds" = 1 AND "at" < now() - interval '1 hour'`, [w.host2]);
    expect((await count())[0].n).toBe(1);
    expect(await history.enforceRetention()).toBeGreaterThanOrEqual(1);
    expect((await count())[0].n).toBe(0);
  });

  test('usage is accounted per group and a usage policy exceeded raises an alert', async () => {
    const a = collect<{ events: any }>(t.ws({ authorization: `Bearer ${w.tokens.viewerA}` }), 'subscription { events { kind alert { metric targetId state } } }', {}, (e) => e.events.alert?.metric === 'usage.cpuHoursPerMonth', 30_000);
    await a.ready;
    await t.ok('mutation ($i: UsagePolicyInput!) { setUsagePolicy(input: $i) { id } }', { i: { siteId: w.site, name: 'tiny', cpuHoursPerMonth: 1e-12 } });
    const events = await a.done;
    expect(events[events.length - 1]!.events.alert).toEqual({ metric: 'usage.cpuHoursPerMonth', targetId: w.groupA, state: 'FIRING' });
    const usage = await t.ok('query ($g: ID!) { groupUsage(groupId: $g) { siteId month cpuSeconds cpuHours } }', { g: w.groupA }, w.tokens.viewerA);
    expect(usage.groupUsage[0]).toMatchObject({ siteId: w.site, month: new Date().toISOString().slice(0, 7) });
    expect(usage.groupUsage[0].cpuSeconds).toBeGreaterThan(0);
  });

  test("disk held by a group's environments (filesystem + volumes) is accounted, and a disk policy exceeded raises an alert", async () => {
    const a = collect<{ events: any }>(t.ws({ authorization: `Bearer ${w.tokens.viewerA}` }), 'subscription { events { kind alert { metric targetId state value } } }', {}, (e) => e.events.alert?.metric === 'usage.diskBytes', 30_000);
    await a.ready;
    // A volume with 1 MiB in it, in the environment's volume directory on this host.
    await t.gateway.services.metrics.sampler.measureDisk();
    await t.gateway.services.metrics.usage.flush();
    const before = (await t.ok('query ($g: ID!) { groupUsage(groupId: $g) { diskBytes } }', { g: w.groupA }, w.tokens.viewerA)).groupUsage[0].diskBytes as number;
    expect(before).toBeGreaterThan(0);
    const [volume] = await (t.gateway.agents.local as InProcessAgent).prepareVolumes(env, [{ name: 'blobs', kind: 'data', mountPath: '/blobs', readOnly: false }]);
    await writeFile(join(volume!.hostPath, 'blob'), Buffer.alloc(1024 * 1024, 7));
    await t.gateway.services.metrics.sampler.measureDisk();
    const after = (await t.ok('query ($g: ID!) { groupUsage(groupId: $g) { diskBytes } }', { g: w.groupA }, w.tokens.viewerA)).groupUsage[0].diskBytes as number;
    expect(after - before).toBeGreaterThanOrEqual(1024 * 1024);
    await t.ok('mutation ($i: UsagePolicyInput!) { setUsagePolicy(input: $i) { id } }', { i: { siteId: w.site, name: 'small disks', diskBytes: 512 * 1024 } });
    await t.gateway.services.metrics.usage.flush();
    await t.gateway.services.metrics.sampler.measureDisk();
    await t.gateway.services.metrics.usage.flush();
    const events = await a.done;
    expect(events[events.length - 1]!.events.alert).toMatchObject({ metric: 'usage.diskBytes', targetId: w.groupA, state: 'FIRING' });
    expect(events[events.length - 1]!.events.alert.value).toBeGreaterThanOrEqual(1024 * 1024);
  });

  test('GET /metrics: Prometheus text for site admins only', async () => {
    expect((await fetch(`${t.gateway.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${t.gateway.url}/metrics`, { headers: { authorization: `Bearer ${w.tokens.memberA}` } })).status).toBe(403);
    const res = await fetch(`${t.gateway.url}/metrics`, { headers: { authorization: `Bearer ${t.adminToken}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    const body = await res.text();
    expect(body).toMatch(/^rsp_graphql_requests_total\{operation="query"\} [1-9]/m);
    expect(body).toMatch(/^rsp_graphql_errors_total [1-9]/m);
    expect(body).toMatch(new RegExp(`^rsp_host_memory_bytes\\{host="${w.host1}",kind="total"\\} [1-9]`, 'm'));
    expect(body).toMatch(new RegExp(`^rsp_environment_memory_bytes\\{environment="${env}",group="${w.groupA}"\\}`, 'm'));
    expect(body).toMatch(/^rsp_operations_total\{kind="environment.start",state="SUCCEEDED"\} [1-9]/m);
    expect(body).toMatch(/^# TYPE rsp_graphql_subscriptions gauge/m);
  });
});
