import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { describeWithEngine, REDIS_URL } from '../helpers/engines';
import { collect, startTestGateway, TestGateway } from '../helpers/gateway';
import { TcpProxy } from '../helpers/tcp-proxy';
import { until } from '../helpers/until';

/** An answer a request may get while Redis is unreachable: served, or retryable (never a 500). */
function expectServedOrRetryable(answer: { status: number; errors?: Array<{ extensions?: Record<string, any> }> }, retryAfter: string | null): void {
  if (answer.status === 200 && !answer.errors) return;
  expect(answer.status).toBe(503);
  expect(retryAfter).toMatch(/^\d+$/);
  expect(answer.errors?.map((e) => e.extensions?.code)).toEqual(['UNAVAILABLE']);
  expect(answer.errors?.[0]?.extensions?.details).toMatchObject({ dependency: 'redis' });
}

/**
 * Redis going away under a gateway that uses it for its event bus and replica directory: requests
 * are served or answered retryable (503 UNAVAILABLE with Retry-After, never 500), publishing
 * fails no one, and once Redis is back the same gateway's subscriptions deliver again, without a
 * restart.
 */
describeWithEngine('redis', 'a Redis outage is not a 500, and the gateway recovers by itself', () => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  let t: TestGateway;
  let groupId: string;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    const url = new URL(REDIS_URL);
    proxy = new TcpProxy({ host: url.hostname, port: Number(url.port || 6379) });
    await proxy.up();
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    t = await startTestGateway(db, { REDIS_URL: url.toString() });
    groupId = (await t.ok('mutation { createGroup(input: { slug: "redis-outage", name: "Redis outage" }) { id } }')).createGroup.id;
  });
  afterAll(async () => {
    await proxy?.up().catch(() => undefined);
    await t?.close();
    await proxy?.down();
    await db?.drop();
  });

  /** Runs an operation of `kind` on the gateway (it publishes its updates on the bus). */
  const runOperation = async (kind: string) => {
    const op = await t.gateway.services.operations.start({ kind, groupId }, async () => ({ done: true }));
    await t.gateway.services.operations.settled(op.id);
  };
  const succeeded = (kind: string) => (e: { events: { operation: { kind: string; state: string } | null } }) => e.events.operation?.kind === kind && e.events.operation.state === 'SUCCEEDED';
  const subscription = 'subscription { events { operation { kind state } } }';
  /** POSTs `query` as the site admin: the body and the `Retry-After` header. */
  const post = async (query: string) => {
    const res = await fetch(t.gateway.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${t.adminToken}` }, body: JSON.stringify({ query }) });
    return { answer: { status: res.status, ...((await res.json()) as { errors?: Array<{ extensions?: Record<string, any> }> }) }, retryAfter: res.headers.get('retry-after') };
  };

  test('queries and mutations are served or retryable while Redis is unreachable; events flow again once it is back', async () => {
    // Through Redis first: an operation's update reaches the subscriber (each collector on its own connection).
    const before = collect(t.ws(), subscription, {}, succeeded('redis.before'));
    await before.ready;
    await runOperation('redis.before');
    await before.done;

    const after = collect(t.ws(), subscription, {}, succeeded('redis.back'), 90_000);
    await after.ready;
    await proxy.down();
    // A publish while Redis is away fails neither the operation nor the caller.
    await runOperation('redis.lost');
    for (let i = 0; i < 5; i++) {
      const query = await post('{ groups { totalCount } }');
      expectServedOrRetryable(query.answer, query.retryAfter);
      const mutation = await post(`mutation { createGroup(input: { slug: "during-outage-${i}", name: "During the outage ${i}" }) { id } }`);
      expectServedOrRetryable(mutation.answer, mutation.retryAfter);
    }
    expect((await fetch(`${t.gateway.url}/healthz`)).status).toBe(200);

    await proxy.up();
    // ioredis reconnects and subscribes again by itself: an operation run once it has is delivered.
    await until('an event published after Redis is back to reach the subscriber', async () => {
      await runOperation('redis.back');
      return after.events.some(succeeded('redis.back'));
    }, 60_000, 500);
    await after.done;
    const served = await post('{ groups { totalCount } }');
    expect(served.answer).toMatchObject({ status: 200, data: { groups: { totalCount: expect.any(Number) } } });
  });
});
