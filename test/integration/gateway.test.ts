import { collect, startTestGateway, TestGateway } from '../helpers/gateway';
import { createTestDatabase, DATABASE_KINDS, TestDatabase } from '../helpers/databases';
import { describeWithEngine } from '../helpers/engines';
import type { OperationControl } from '../../gateway/services';
import { ConflictError } from '../../gateway/errors';

/** Runs the gateway suite on one database kind. */
function gatewaySuite(kind: 'pglite' | 'postgres') {
  let db: TestDatabase;
  let t: TestGateway;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    t = await startTestGateway(db);
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test('answers {__typename} and says what it is', async () => {
    const data = await t.ok('{ __typename gateway { site version database } }');
    expect(data).toEqual({ __typename: 'Query', gateway: { site: 'test-site', version: expect.stringMatching(/^\d+\.\d+\.\d+/), database: kind } });
  });

  test('health and readiness', async () => {
    expect(await (await fetch(`${t.gateway.url}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${t.gateway.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', checks: { database: true } });
  });

  test('malformed requests get clear errors with codes, never a crash', async () => {
    const badJson = await fetch(t.gateway.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' });
    expect(badJson.status).toBe(400);
    expect((await badJson.json()).errors[0]).toMatchObject({ extensions: { code: 'BAD_REQUEST' }, message: expect.stringMatching(/not valid JSON/) });

    const syntax = await t.gql('{ gateway { site ');
    expect(syntax.status).toBe(400);
    expect(syntax.errors?.[0]?.extensions?.code).toBe('GRAPHQL_PARSE_FAILED');

    const unknownField = await t.gql('{ nope }');
    expect(unknownField.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');

    const badVariable = await t.gql('query ($n: Int) { operations(first: $n) { totalCount } }', { n: 'ten' });
    expect(badVariable.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');

    const outOfRange = await t.gql('{ operations(first: 100000) { totalCount } }');
    expect(outOfRange.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' }, message: expect.stringMatching(/first/) });

    const badId = await t.gql('{ operation(id: "not-a-uuid") { id } }');
    expect(badId.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');

    const missing = await t.gql('{ operation(id: "00000000-0000-4000-8000-000000000000") { id } }');
    expect(missing.errors?.[0]).toMatchObject({ extensions: { code: 'NOT_FOUND' }, message: 'Operation 00000000-0000-4000-8000-000000000000 was not found' });

    // still serving
    expect((await t.ok('{ __typename }')).__typename).toBe('Query');
  });

  test('GraphQL POSTs: request ids, body limit, and bodies the fast path leaves to express', async () => {
    const named = await fetch(t.gateway.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'req-42' }, body: JSON.stringify({ query: '{ __typename }' }) });
    expect(named.headers.get('x-request-id')).toBe('req-42');
    expect(await named.json()).toEqual({ data: { __typename: 'Query' } });
    const unnamed = await fetch(t.gateway.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ __typename }' }) });
    expect(unnamed.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);

    const huge = await fetch(t.gateway.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ __typename }', variables: { pad: 'x'.repeat(3 * 1024 * 1024) } }) });
    expect(huge.status).toBe(413);
    expect((await huge.json()).errors[0]).toMatchObject({ extensions: { code: 'BAD_REQUEST' }, message: expect.stringMatching(/too large/) });

    // A charset other than UTF-8 and an empty JSON body: answered by the express route, as before.
    const latin1 = await fetch(t.gateway.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json; charset=iso-8859-1' }, body: JSON.stringify({ query: '{ __typename }' }) });
    expect(latin1.status).toBe(415);
    const empty = await fetch(t.gateway.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '' });
    expect(empty.status).toBe(400);
    expect((await empty.json()).errors[0].message).toMatch(/POST body missing/);
  });

  test('a body over the limit is answered 413, read by the client (no EPIPE), also when the client sends it all first', async () => {
    // fetch writes the whole body before it reads: the gateway drains it (up to 16 MiB), then answers.
    // Closing at once instead made about half of these fail with `write EPIPE` (8 MiB: more than the socket buffers hold).
    const body = JSON.stringify({ query: '{ __typename }', variables: { pad: 'x'.repeat(8 * 1024 * 1024) } });
    const answers = [];
    for (let i = 0; i < 20; i++) {
      const r = await fetch(t.gateway.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      answers.push({ status: r.status, connection: r.headers.get('connection'), body: await r.json() });
    }
    for (const a of answers) {
      expect(a).toEqual({ status: 413, connection: 'close', body: { errors: [{ message: 'The request body is too large', extensions: { code: 'BAD_REQUEST' } }] } });
    }
    // No content-length (chunked): found too large while reading.
    const chunked = await fetch(t.gateway.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: new ReadableStream({
        start(controller) {
          for (let i = 0; i < 5; i++) controller.enqueue(new TextEncoder().encode('x'.repeat(512 * 1024)));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect((await chunked.json()).errors[0].message).toBe('The request body is too large');
    expect((await t.ok('{ __typename }')).__typename).toBe('Query');
  });

  test('a graphql-ws message over the body limit closes its socket with 1009 (anonymous or not); the gateway goes on', async () => {
    const { default: WebSocket } = await import('ws');
    const send = (payload: Record<string, unknown>) =>
      new Promise<number>((resolve, reject) => {
        const ws = new WebSocket(t.gateway.websocketUrl, 'graphql-transport-ws');
        ws.once('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload })));
        ws.once('message', () => ws.close(4000));
        ws.once('close', resolve);
        ws.once('error', reject);
      });
    // A POST body over 2 MiB is a 413; a socket message was taken up to ws's 100 MiB default.
    const printed = jest.spyOn(console, 'error');
    expect(await send({ pad: 'x'.repeat(2 * 1024 * 1024 + 1) })).toBe(1009);
    // Refused quietly: not a stack printed on the console per refused message.
    expect(printed).not.toHaveBeenCalled();
    printed.mockRestore();
    expect(await send({ pad: 'x'.repeat(1024) })).toBe(4000);
    expect((await t.ok('{ __typename }')).__typename).toBe('Query');
  });

  test('an operation streams its progress to a graphql-ws subscriber and is stored', async () => {
    let release!: () => void;
    const go = new Promise<void>((r) => (release = r));
    let control!: OperationControl;
    const started = new Promise<void>((resolveStarted) => {
      void t.gateway.services.operations.start({ kind: 'test.work', targetType: 'Test', targetId: 't1' }, async (c) => {
        control = c;
        resolveStarted();
        await go;
        await c.progress(0.5, 'half way');
        return { answer: 42 };
      });
    });
    await started;
    const id = control.operationId;

    const client = t.ws();
    const sub = collect<{ operationUpdated: { id: string; state: string; progress: number; message: string | null; result: unknown } }>(
      client,
      'subscription ($id: ID) { operationUpdated(id: $id) { id state progress message result } }',
      { id },
      (e) => e.operationUpdated.state === 'SUCCEEDED',
    );
    // Nudge until the subscription is live, then let the work finish.
    let failed: unknown;
    sub.done.catch((e) => (failed = e));
    while (sub.events.length === 0 && !failed) {
      await control.progress(0.1, 'warming up');
      await new Promise((r) => setTimeout(r, 50));
    }
    release();
    const events = await sub.done;
    expect(failed).toBeUndefined();
    expect(events.every((e) => e.operationUpdated.id === id)).toBe(true);
    expect(events.map((e) => e.operationUpdated.message)).toContain('half way');
    expect(events[events.length - 1]!.operationUpdated).toEqual({ id, state: 'SUCCEEDED', progress: 1, message: 'half way', result: { answer: 42 } });

    const stored = await t.ok('query ($id: ID!) { operation(id: $id) { state progress result error { code } startedAt finishedAt } }', { id });
    expect(stored.operation).toMatchObject({ state: 'SUCCEEDED', progress: 1, result: { answer: 42 }, error: null });
    expect(Date.parse(stored.operation.finishedAt)).toBeGreaterThanOrEqual(Date.parse(stored.operation.startedAt));
  });

  test('a failing operation records its error code and message; a cancelled one stops', async () => {
    const failing = await t.gateway.services.operations.start({ kind: 'test.fail' }, async () => {
      throw new ConflictError('the host is busy');
    });
    await t.gateway.services.operations.settled(failing.id);
    const failed = await t.ok('query ($id: ID!) { operation(id: $id) { state error { code message } } }', { id: failing.id });
    expect(failed.operation).toEqual({ state: 'FAILED', error: { code: 'CONFLICT', message: 'the host is busy' } });

    const slow = await t.gateway.services.operations.start({ kind: 'test.slow' }, (c) => new Promise((_resolve, reject) => c.signal.addEventListener('abort', () => reject(c.signal.reason))));
    const cancelled = await t.gql('mutation ($id: ID!) { cancelOperation(id: $id) { id } }', { id: slow.id });
    expect(cancelled.errors).toBeUndefined();
    await t.gateway.services.operations.settled(slow.id);
    const after = await t.ok('query ($id: ID!) { operation(id: $id) { state error { code } } }', { id: slow.id });
    expect(after.operation).toEqual({ state: 'CANCELLED', error: { code: 'CANCELLED' } });

    const again = await t.gql('mutation ($id: ID!) { cancelOperation(id: $id) { id } }', { id: slow.id });
    expect(again.errors?.[0]?.extensions?.code).toBe('CONFLICT');
  });

  test('operations are listed newest first with cursor pagination and filters', async () => {
    const page1 = await t.ok('{ operations(first: 2) { totalCount edges { cursor node { kind createdAt } } pageInfo { hasNextPage endCursor } } }');
    expect(page1.operations.totalCount).toBeGreaterThanOrEqual(3);
    expect(page1.operations.edges).toHaveLength(2);
    expect(page1.operations.pageInfo.hasNextPage).toBe(true);
    const page2 = await t.ok('query ($after: String) { operations(first: 2, after: $after) { edges { node { kind createdAt } } } }', { after: page1.operations.pageInfo.endCursor });
    const all = [...page1.operations.edges, ...page2.operations.edges].map((e: any) => Date.parse(e.node.createdAt));
    expect([...all].sort((a, b) => b - a)).toEqual(all);
    const failedOnly = await t.ok('{ operations(state: FAILED) { nodes { kind state } } }');
    expect(failedOnly.operations.nodes).toEqual([{ kind: 'test.fail', state: 'FAILED' }]);
  });

  test('is a federation subgraph: _service.sdl has @key entities and _entities resolves them', async () => {
    const { _service } = await t.ok('{ _service { sdl } }');
    expect(_service.sdl).toMatch(/type Operation\s+@key\(fields: "id"\)/);
    const { operations } = await t.ok('{ operations(first: 1) { nodes { id kind } } }');
    const ref = operations.nodes[0];
    const entities = await t.ok('query ($r: [_Any!]!) { _entities(representations: $r) { ... on Operation { id kind } } }', { r: [{ __typename: 'Operation', id: ref.id }] });
    expect(entities._entities).toEqual([ref]);
  });

  test('serves the GraphQL IDE from its own assets (no CDN)', async () => {
    const res = await fetch(t.gateway.graphqlUrl, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toMatch(/<title>RSP GraphQL<\/title>/);
    expect(html).not.toMatch(/<script[^>]+src="https?:/);
    expect(html).not.toMatch(/<link[^>]+href="https?:/);
  });
}

describe.each(DATABASE_KINDS.filter((k) => k === 'pglite'))('gateway on %s', (kind) => gatewaySuite(kind));
describeWithEngine('postgres', 'gateway on postgres', () => gatewaySuite('postgres'));
