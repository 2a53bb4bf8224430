import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { describeWithEngine, REDIS_URL } from '../helpers/engines';
import { collect, startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, World } from '../helpers/scenario';

/** Two gateway replicas on one PostgreSQL and one Redis: what one publishes, the other's subscribers get. */
describeWithEngine('redis', 'PubSub over Redis across two gateways', () => {
  let db: TestDatabase;
  let a: TestGateway;
  let b: TestGateway;
  let w: World;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    a = await startTestGateway(db, { REDIS_URL, RSP_METRICS_INTERVAL_MS: '250' });
    // Each replica serves its own in-process agent (the second claiming A's would be refused).
    b = await startTestGateway({ ...db, dataDir: mkdtempSync(join(tmpdir(), 'rsp-replica-b-')) }, { REDIS_URL, RSP_METRICS_INTERVAL_MS: '250', RSP_LOCAL_AGENT_ID: `gw-b-${Date.now().toString(36)}` });
    w = await buildWorld(a);
    // host1 is this machine as B's in-process agent serves it: B samples it, A does not.
    await a.gateway.dataSource.query(`UPDATE "host" SET "agent" = $1 WHERE "id" = $2`, [b.gateway.agents.localId, w.host1]);
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await db?.drop();
  });

  test('a subscriber on replica A receives host metrics sampled and published by replica B', async () => {
    const fromB = b.gateway.services.metrics.source;
    expect(fromB).not.toBe(a.gateway.services.metrics.source);
    const sub = collect<{ hostMetrics: { source: string; memory: { totalBytes: number; usedBytes: number } } }>(
      a.ws(),
      'subscription ($h: ID!) { hostMetrics(hostId: $h) { source memory { totalBytes usedBytes } } }',
      { h: w.host1 },
      (e) => e.hostMetrics.source === fromB,
    );
    const events = await sub.done;
    const last = events[events.length - 1]!.hostMetrics;
    expect(last.source).toBe(fromB);
    expect(last.memory.usedBytes).toBeLessThanOrEqual(last.memory.totalBytes);
  });

  test('an operation run on replica B reaches events on replica A, dates intact', async () => {
    const sub = collect<{ events: { kind: string; operation: { kind: string; state: string; createdAt: string } | null } }>(
      a.ws(),
      'subscription { events { kind operation { kind state createdAt } } }',
      {},
      (e) => e.events.operation?.kind === 'replica.b.work' && e.events.operation.state === 'SUCCEEDED',
    );
    await sub.ready;
    const op = await b.gateway.services.operations.start({ kind: 'replica.b.work', groupId: w.groupA }, async () => ({ done: true }));
    await b.gateway.services.operations.settled(op.id);
    const events = await sub.done;
    const last = events[events.length - 1]!.events.operation!;
    expect(new Date(last.createdAt).getTime()).toBe(op.createdAt.getTime());
  });

  test('a token revoked on replica B stops working on replica A at once, though A had it cached', async () => {
    const issued = (await a.ok('mutation ($i: CreateTokenInput!) { createToken(input: $i) { secret token { id } } }', { i: { groupId: w.groupA, role: 'VIEWER', name: 'short-lived' } })).createToken;
    const me = '{ viewer { name } }';
    expect((await a.ok(me, {}, issued.secret)).viewer.name).toBe('short-lived');
    await b.ok('mutation ($id: ID!) { revokeToken(id: $id) { revokedAt } }', { id: issued.token.id }, a.adminToken);
    let refused: Awaited<ReturnType<TestGateway['gql']>> | undefined;
    // Well within the 2 s a replica trusts a cached token (TOKEN_CACHE_MS): only the published revocation explains a refusal here.
    for (let i = 0; i < 20 && !refused?.errors; i += 1) {
      refused = await a.gql(me, {}, issued.secret);
      if (!refused.errors) await new Promise((r) => setTimeout(r, 10));
    }
    expect(refused?.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });
});
