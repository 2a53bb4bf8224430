import { Client } from 'pg';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { describeWithEngine } from '../helpers/engines';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { TcpProxy } from '../helpers/tcp-proxy';
import { until } from '../helpers/until';

describeWithEngine('postgres', 'database outages are retryable answers, and the gateway recovers by itself', () => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  let t: TestGateway;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    const url = new URL(db.databaseUrl!);
    proxy = new TcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
    await proxy.up();
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    t = await startTestGateway({ ...db, databaseUrl: url.toString() });
  });
  afterAll(async () => {
    await proxy?.up().catch(() => undefined);
    await t?.close();
    await proxy?.down();
    await db?.drop();
  });

  test('GraphQL, uploads and /metrics answer 503 UNAVAILABLE with Retry-After while the database is unreachable, and work again once it is back', async () => {
    // Tokens never used yet: their first use has to read the database.
    const fresh = async () => (await t.ok('mutation { createToken(input: { name: "outage", siteAdmin: true }) { secret } }')).createToken.secret as string;
    const [forQuery, forUpload, forMetrics, forSocket] = [await fresh(), await fresh(), await fresh(), await fresh()];
    await proxy.down();

    // Authenticating reads the database: the request is refused as retryable, not as an internal error.
    const query = await t.gql('{ groups { totalCount } }', {}, forQuery);
    expect(query.status).toBe(503);
    expect(query.errors).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'UNAVAILABLE', details: { dependency: 'database', retryAfterSeconds: 2 } }) })]);
    const retryAfter = await fetch(t.gateway.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${forQuery}` }, body: JSON.stringify({ query: '{ groups { totalCount } }' }) });
    expect(retryAfter.status).toBe(503);
    expect(retryAfter.headers.get('retry-after')).toBe('2');

    // A token the gateway knows already (cached) gets past authentication: the resolver's failure is a 503 too.
    const answers = await until('the cached admin token to be refused as unavailable', async () => {
      const res = await fetch(t.gateway.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${t.adminToken}` }, body: JSON.stringify({ query: '{ groups { totalCount } }' }) });
      const body = (await res.json()) as { errors?: Array<{ extensions?: { code?: string } }> };
      return res.status === 503 ? { res, body } : (expect(body.errors?.map((e) => e.extensions?.code)).not.toContain('INTERNAL_SERVER_ERROR'), undefined);
    }, 10_000);
    expect(answers.res.headers.get('retry-after')).toBe('2');
    expect(answers.body.errors?.map((e) => e.extensions?.code)).toEqual(['UNAVAILABLE']);

    // The token is checked before the image is looked up.
    const upload = await fetch(`${t.gateway.url}/images/00000000-0000-0000-0000-000000000000/content`, { method: 'PUT', headers: { 'content-type': 'application/x-tar', authorization: `Bearer ${forUpload}` }, body: new Uint8Array(16) });
    expect(upload.status).toBe(503);
    expect(upload.headers.get('retry-after')).toBe('2');
    expect(await upload.json()).toEqual({ errors: [expect.objectContaining({ extensions: expect.objectContaining({ code: 'UNAVAILABLE', details: expect.objectContaining({ dependency: 'database' }) }) })] });

    const metrics = await fetch(`${t.gateway.url}/metrics`, { headers: { authorization: `Bearer ${forMetrics}` } });
    expect(metrics.status).toBe(503);
    expect(metrics.headers.get('retry-after')).toBe('2');

    // A WebSocket connection that cannot be checked is closed with 1013, "try again later".
    const socketClosed = await new Promise<{ code: number; reason: string }>((resolve) => t.ws({ authorization: `Bearer ${forSocket}` }).on('closed', (e) => resolve(e as { code: number; reason: string })));
    expect(socketClosed.code).toBe(1013);
    expect(socketClosed.reason).toMatch(/database is unreachable/);

    const ready = await fetch(`${t.gateway.url}/readyz`);
    expect(ready.status).toBe(503);

    // Back: the same gateway serves again, without a restart.
    await proxy.up();
    const recovered = await until('the gateway to answer again', async () => {
      const res = await t.gql('{ groups { totalCount } }', {}, forQuery);
      return res.status === 200 && !res.errors ? res : undefined;
    }, 20_000);
    expect(recovered.data?.groups.totalCount).toEqual(expect.any(Number));
    expect((await fetch(`${t.gateway.url}/metrics`, { headers: { authorization: `Bearer ${forMetrics}` } })).status).toBe(200);
    expect((await fetch(`${t.gateway.url}/readyz`)).status).toBe(200);
  });

  test('a PostgreSQL restart (every connection of the gateway terminated, requests in flight) costs at most retryable answers: the pool reconnects by itself', async () => {
    const admin = new Client({ connectionString: db.databaseUrl });
    await admin.connect();
    // What its pool holds dies as in a restart (57P01, "terminating connection due to administrator command"), while requests keep coming.
    const codes = new Set<string>();
    const ask = async () => {
      const res = await t.gql('{ groups { totalCount } hosts { totalCount } }');
      for (const e of res.errors ?? []) codes.add(`${res.status} ${e.extensions?.code}`);
      return res;
    };
    try {
      // Requests side by side first: the pool holds several idle connections, each to die.
      await Promise.all(Array.from({ length: 8 }, ask));
      const killed = await Promise.all([
        admin.query(`SELECT pg_terminate_backend("pid") FROM pg_stat_activity WHERE "datname" = current_database() AND "application_name" = 'rsp gateway'`),
        ...Array.from({ length: 8 }, ask),
      ]);
      expect(killed[0].rowCount).toBeGreaterThan(1);
      const served = await until('the gateway to serve again', async () => {
        const res = await ask();
        return res.status === 200 && !res.errors ? res : undefined;
      }, 20_000);
      expect(served.data?.groups.totalCount).toEqual(expect.any(Number));
      // Every failed answer was a retryable one: never INTERNAL_SERVER_ERROR, never a driver's message.
      expect([...codes].filter((c) => c !== '503 UNAVAILABLE')).toEqual([]);
      expect((await fetch(`${t.gateway.url}/readyz`)).status).toBe(200);
      // A write too: the pool's connections are new ones.
      expect((await t.ok('mutation { createToken(input: { name: "after-restart", siteAdmin: true }) { secret } }')).createToken.secret).toEqual(expect.any(String));
    } finally {
      await admin.end();
    }
  });

  test('a pool that gives no connection in time is a 503 UNAVAILABLE with Retry-After too, and serves again once connections are free', async () => {
    const { dataSource } = t.gateway;
    const poolSize = (dataSource.options as { poolSize?: number }).poolSize!;
    // Every connection of the gateway's pool held, as by long transactions. The gateway may hold
    // one itself for good (alert leadership's lock): those asked for that never come wait in the
    // pool's queue (or time out), and take the first connections freed, before any request does.
    const runners = Array.from({ length: poolSize }, () => dataSource.createQueryRunner());
    const connecting = runners.map((runner) => runner.connect().then(() => runner.query('SELECT 1')).then(() => undefined, () => undefined));
    try {
      const answer = await until('a request to find the pool exhausted', async () => {
        const res = await fetch(t.gateway.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${t.adminToken}` }, body: JSON.stringify({ query: '{ groups { totalCount } }' }) });
        const body = (await res.json()) as { errors?: Array<{ extensions?: { code?: string; details?: unknown } }> };
        expect(body.errors?.map((e) => e.extensions?.code) ?? []).not.toContain('INTERNAL_SERVER_ERROR');
        return res.status === 503 ? { res, body } : undefined;
      }, 60_000);
      expect(answer.res.headers.get('retry-after')).toBe('2');
      expect(answer.body.errors).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'UNAVAILABLE', details: { dependency: 'database', retryAfterSeconds: 2 } }) })]);
    } finally {
      // Each released once connected: one still queued gets its connection from those released.
      await Promise.all(runners.map(async (runner, i) => {
        await connecting[i];
        await runner.release();
      }));
    }
    const served = await t.gql('{ groups { totalCount } }');
    expect(served.status).toBe(200);
    expect(served.data?.groups.totalCount).toEqual(expect.any(Number));
  });
});
