import { createHash } from 'node:crypto';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, World } from '../helpers/scenario';
import { healthz, openSocket, subscribe } from '../helpers/abuse';

/**
 * The probes of the hardening issue, each refused up front with its code while the gateway keeps
 * answering /healthz: huge documents, alias fan-out, page fan-out, batch caps bypassed with
 * aliases, too many subscriptions, too fast callers, anonymous introspection (floods of sockets
 * without a token: abuse-sockets.test.ts).
 */
describe('abuse limits', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;
  let layerId: string;

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    // Default limits, except lower rates (so that a test can go over them); NODE_ENV=production: anonymous introspection and the IDE off by default.
    t = await startTestGateway(db, { RSP_RATE_QUERIES_PER_MINUTE: '300', RSP_RATE_MUTATIONS_PER_MINUTE: '60', RSP_RATE_GROUP_MUTATIONS_PER_MINUTE: '100', NODE_ENV: 'production' });
    w = await buildWorld(t);
    layerId = (await t.ok('query ($id: ID!) { host(id: $id) { layerId } }', { id: w.host1 })).host.layerId;
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  /** POSTs `query` as `token` from the client address `address` (the gateway believes X-Forwarded-For from loopback). */
  async function post(query: string, variables: Record<string, unknown> = {}, token: string | null = t.adminToken, address?: string) {
    const res = await fetch(t.gateway.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...(address ? { 'x-forwarded-for': address } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as { data?: any; errors?: Array<{ message: string; extensions?: { code?: string; details?: any } }> } };
  }

  /** Sends until a request is refused with 429 (at most `max`): how many were admitted before, and the refusal. */
  async function untilRefused(send: () => ReturnType<typeof post>, max: number) {
    for (let admitted = 0; admitted < max; admitted++) {
      const r = await send();
      if (r.status === 429) return { admitted, over: r };
      expect(r.body.errors?.[0]?.extensions?.code).not.toBe('RATE_LIMITED');
    }
    throw new Error(`${max} requests and none refused`);
  }

  const layerTree = (depth: number) => {
    let tree = 'id name';
    for (let i = 0; i < depth; i++) tree = `id name children { ${tree} effectiveProperties { key value fromLayerId } }`;
    return tree;
  };

  test('300 aliases of a layer tree 20 deep (a VIEWER, ~245 KB) are refused at once, while /healthz answers', async () => {
    const query = `query ($id: ID!) { ${Array.from({ length: 300 }, (_, i) => `l${i}: layer(id: $id) { ${layerTree(20)} }`).join('\n')} }`;
    expect(query.length).toBeGreaterThan(200_000);
    const probes = Array.from({ length: 10 }, () => post(query, { id: layerId }, w.tokens.viewerA));
    const health = await healthz(t.gateway.url);
    for (const r of await Promise.all(probes)) {
      expect(r.status).toBe(400);
      expect(r.body.errors?.[0]?.extensions?.code).toBe('QUERY_TOO_COMPLEX');
      expect(r.body.errors?.[0]?.message).toMatch(/\(RSP_MAX_QUERY_(TOKENS|ALIASES|DEPTH)\)/);
    }
    expect(health.status).toBe(200);
    // Within the token limit, the depth is what refuses one tree.
    const one = await post(`query ($id: ID!) { layer(id: $id) { ${layerTree(20)} } }`, { id: layerId }, w.tokens.viewerA);
    expect(one.body.errors?.[0]).toMatchObject({ message: expect.stringMatching(/depth limit: \d+ > 15 \(RSP_MAX_QUERY_DEPTH\)/), extensions: { code: 'QUERY_TOO_COMPLEX', details: { limit: 'RSP_MAX_QUERY_DEPTH', max: 15 } } });
  });

  test('1,000 aliases are refused; a shallow tree is not', async () => {
    const many = await post(`{ ${Array.from({ length: 1000 }, (_, i) => `a${i}: gateway { site }`).join(' ')} }`);
    expect(many.status).toBe(400);
    expect(many.body.errors?.[0]?.extensions?.code).toBe('QUERY_TOO_COMPLEX');
    const few = await post(`query ($id: ID!) { ${Array.from({ length: 20 }, (_, i) => `l${i}: layer(id: $id) { ${layerTree(3)} }`).join(' ')} }`, { id: layerId }, w.tokens.viewerA);
    expect(few.body.errors).toBeUndefined();
    expect(few.body.data.l0.id).toBe(layerId);
  });

  test('400 aliases of groups(first: 500) are refused, and so are page sizes over 500', async () => {
    const r = await post(`{ ${Array.from({ length: 400 }, (_, i) => `g${i}: groups(first: 500) { nodes { id name slug } }`).join(' ')} }`);
    expect(r.status).toBe(400);
    expect(r.body.errors?.[0]?.extensions?.code).toBe('QUERY_TOO_COMPLEX');
    const page = await post('{ groups(first: 501) { nodes { id } } }');
    expect(page.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  test('the allocateMany cap of 1,000 counts over aliases: 50 aliases × 1,000 requests are refused', async () => {
    const requests = Array.from({ length: 1000 }, () => ({ groupId: w.groupA, resources: [{ type: 'CPU', amount: 1 }] }));
    const aliased = `mutation ($r: [AllocationRequestInput!]!) { ${Array.from({ length: 50 }, (_, i) => `a${i}: allocateMany(requests: $r) { index error { code } }`).join(' ')} }`;
    const r = await post(aliased, { r: requests });
    expect(r.status).toBe(400);
    expect(r.body.errors?.[0]).toMatchObject({ message: expect.stringMatching(/batch items limit: 50000 > 1000 \(RSP_MAX_BATCH_ITEMS\)/), extensions: { code: 'BAD_USER_INPUT' } });
  });

  test('persisted queries are not served: a query registered by its hash with one request cannot run as 50 aliases × 1,000 past the limits checked on its text', async () => {
    const aliased = `mutation ($r: [AllocationRequestInput!]!) { ${Array.from({ length: 50 }, (_, i) => `a${i}: allocateMany(requests: $r) { index error { code } }`).join(' ')} }`;
    const persistedQuery = { version: 1, sha256Hash: createHash('sha256').update(aliased).digest('hex') };
    const send = async (body: Record<string, unknown>) => {
      const res = await fetch(t.gateway.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${t.adminToken}` }, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as { data?: unknown; errors?: Array<{ extensions?: { code?: string } }> } };
    };
    const allocations = async () => Number((await t.gateway.dataSource.query('SELECT (SELECT count(*) FROM "allocation") + (SELECT count(*) FROM "allocation_request") AS n'))[0].n);
    const before = await allocations();
    const registered = await send({ query: aliased, variables: { r: [] }, extensions: { persistedQuery } });
    expect(registered.body.errors?.[0]?.extensions?.code).toBe('PERSISTED_QUERY_NOT_SUPPORTED');
    const byHash = await send({ variables: { r: Array.from({ length: 1000 }, () => ({ groupId: w.groupA, resources: [{ type: 'CPU', amount: 1 }] })) }, extensions: { persistedQuery } });
    expect(byHash.body.errors?.[0]?.extensions?.code).toBe('PERSISTED_QUERY_NOT_SUPPORTED');
    expect(byHash.body.data).toBeUndefined();
    expect(await allocations()).toBe(before);
  });

  test('the same limits hold over graphql-ws, where the connection stays open', async () => {
    const opened = await openSocket(t.gateway.websocketUrl, { authorization: `Bearer ${w.tokens.viewerA}` });
    if (!('ack' in opened)) throw new Error(`socket refused: ${JSON.stringify(opened)}`);
    const deep = await subscribe(opened.socket, 'deep', `query ($id: ID!) { layer(id: $id) { ${layerTree(20)} } }`, { id: layerId });
    expect(deep).toMatchObject({ type: 'error', payload: [{ extensions: { code: 'QUERY_TOO_COMPLEX', details: { limit: 'RSP_MAX_QUERY_DEPTH' } } }] });
    const fine = await subscribe(opened.socket, 'fine', '{ gateway { site } }');
    expect(fine).toMatchObject({ type: 'next', payload: { data: { gateway: { site: 'test-site' } } } });
    opened.socket.close();
  });

  test('a socket runs at most 100 subscriptions at once (RATE_LIMITED for the next)', async () => {
    const opened = await openSocket(t.gateway.websocketUrl, { authorization: `Bearer ${t.adminToken}` });
    if (!('ack' in opened)) throw new Error(`socket refused: ${JSON.stringify(opened)}`);
    const errors: any[] = [];
    opened.socket.on('message', (data: Buffer) => {
      const m = JSON.parse(data.toString());
      if (m.type === 'error') errors.push(m);
    });
    for (let i = 0; i < 100; i++) opened.socket.send(JSON.stringify({ id: `s${i}`, type: 'subscribe', payload: { query: 'subscription { events { __typename } }' } }));
    const over = await subscribe(opened.socket, 'over', 'subscription { events { __typename } }');
    expect(over).toMatchObject({ type: 'error', payload: [{ message: expect.stringMatching(/at most 100 at once \(RSP_MAX_SUBSCRIPTIONS_PER_SOCKET\)/), extensions: { code: 'RATE_LIMITED' } }] });
    expect(errors.filter((e) => e.id !== 'over')).toEqual([]);
    opened.socket.close();
  });

  test('a token going over its mutations a minute gets 429 RATE_LIMITED with Retry-After; another token is not slowed', async () => {
    const token = (await t.ok('mutation ($i: CreateTokenInput!) { createToken(input: $i) { secret } }', { i: { groupId: w.groupA, role: 'VIEWER', name: 'hasty' } })).createToken.secret as string;
    const mutation = 'mutation { revokeToken(id: "00000000-0000-0000-0000-000000000000") { id } }';
    // The bucket refills while the test sends (a minute's worth a minute): it runs dry past 60.
    const { admitted, over } = await untilRefused(() => post(mutation, {}, token), 600);
    expect(admitted).toBeGreaterThanOrEqual(60);
    expect(Number(over.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(over.body.errors?.[0]).toMatchObject({ message: expect.stringMatching(/at most 60 a minute per token \(RSP_RATE_MUTATIONS_PER_MINUTE\)/), extensions: { code: 'RATE_LIMITED' } });
    // Queries have their own bucket.
    expect((await post('{ viewer { role } }', {}, token)).body.data).toEqual({ viewer: { role: 'VIEWER' } });
    expect((await post(mutation, {}, w.tokens.memberA)).status).not.toBe(429);
  });

  test("a group's admins minting tokens do not multiply its rate: its tokens together get RSP_RATE_GROUP_MUTATIONS_PER_MINUTE; another group is not slowed", async () => {
    const minted = await Promise.all([1, 2, 3].map(async (i) => (await t.ok('mutation ($i: CreateTokenInput!) { createToken(input: $i) { secret } }', { i: { groupId: w.groupB, role: 'VIEWER', name: `many${i}` } })).createToken.secret as string));
    const mutation = 'mutation { revokeToken(id: "00000000-0000-0000-0000-000000000000") { id } }';
    let turn = 0;
    // Each token alone would be admitted 60 (its own bucket): taken in turns, the group's 100 run dry first.
    const { admitted, over } = await untilRefused(() => post(mutation, {}, minted[turn++ % minted.length]), 600);
    expect(admitted).toBeGreaterThanOrEqual(100);
    expect(admitted).toBeLessThan(180);
    expect(over.body.errors?.[0]).toMatchObject({ message: expect.stringMatching(/at most 100 a minute for all the tokens of a group together \(RSP_RATE_GROUP_MUTATIONS_PER_MINUTE\)/), extensions: { code: 'RATE_LIMITED' } });
    expect(Number(over.retryAfter)).toBeGreaterThanOrEqual(1);
    expect((await post(mutation, {}, w.tokens.adminA)).status).not.toBe(429);
  });

  test('anonymous queries are limited per client address', async () => {
    const { admitted, over } = await untilRefused(() => post('{ gateway { site } }', {}, null, '198.51.100.7'), 3000);
    expect(admitted).toBeGreaterThanOrEqual(300);
    expect(Number(over.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(over.body.errors?.[0]?.message).toMatch(/per address without a token \(RSP_RATE_QUERIES_PER_MINUTE\)/);
    expect((await post('{ gateway { site } }', {}, null, '198.51.100.8')).status).toBe(200);
  });

  test('with NODE_ENV=production (RSP_INTROSPECTION and RSP_GRAPHIQL unset), introspection needs a token and GET /graphql serves no IDE', async () => {
    const ide = await fetch(t.gateway.graphqlUrl, { headers: { accept: 'text/html' } });
    expect(await ide.text()).not.toMatch(/<title>RSP GraphQL<\/title>/);
    const anonymous = await post('{ __schema { queryType { name } } }', {}, null);
    expect(anonymous.status).toBe(403);
    expect(anonymous.body.errors?.[0]).toMatchObject({ extensions: { code: 'FORBIDDEN' }, message: expect.stringMatching(/RSP_INTROSPECTION/) });
    expect((await post('{ _service { sdl } }', {}, null)).body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await post('{ __schema { queryType { name } } }', {}, w.tokens.viewerA)).body.data).toEqual({ __schema: { queryType: { name: 'Query' } } });
    expect((await post('{ __typename }', {}, null)).body.data).toEqual({ __typename: 'Query' });
  });
});
