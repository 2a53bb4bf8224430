import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { addFederationGroup, joinSite } from '../../../gateway/federation/config';
import { federationLimits, startFederationGateway, type FederationGateway } from '../../../gateway/federation/server';

/** The federation gateway holds bodies and graphql-ws messages to a site's 2 MiB, as a site does. */
describe('rsp federate: request size limits', () => {
  let gateway: FederationGateway;
  const big = 3 * 1024 * 1024;

  beforeAll(async () => {
    // No site needs to answer: every request here is refused before any site is asked.
    gateway = await startFederationGateway({ sites: [{ name: 'a', url: 'http://127.0.0.1:9/graphql' }], groups: [] }, { port: 0 });
  });
  afterAll(async () => {
    await gateway?.close();
  });

  test('a body over 2 MiB is answered 413 with a readable error; a small one reaches the GraphQL server', async () => {
    const res = await fetch(gateway.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: `{ __typename } #${'x'.repeat(big)}` }) });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0]!.extensions.code).toBe('BAD_REQUEST');
    const small = await fetch(gateway.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ __typename }' }) });
    expect([411, 413]).not.toContain(small.status);
    expect(Object.keys((await small.json()) as object)).toEqual(expect.arrayContaining([expect.stringMatching(/^(data|errors)$/)]));
  });

  test('a POST without a length (chunked) is answered 411 before its body is read', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(gateway.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write('{"query":');
      req.end('"{ __typename }"}');
    });
    expect(status).toBe(411);
  });

  test('a graphql-ws message over 2 MiB closes its socket with 1009', async () => {
    const socket = new WebSocket(gateway.graphqlUrl.replace(/^http/, 'ws'), 'graphql-transport-ws');
    socket.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('unexpected-response', () => reject(new Error('upgrade refused')));
    });
    const printed = jest.spyOn(console, 'error');
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    socket.send(JSON.stringify({ type: 'connection_init', payload: { pad: 'x'.repeat(big) } }));
    expect(await closed).toBe(1009);
    // Refused quietly: no stack printed per refused message.
    expect(printed).not.toHaveBeenCalled();
    printed.mockRestore();
  });
});

/**
 * The federation sends each root field to each site it goes to in a request of its own, so a site's
 * operation limits never see a federation request whole: the federation holds every operation to
 * them itself (RSP_MAX_QUERY_*, a site's defaults), before any site is asked — over HTTP (its own
 * POST handler and Yoga alike) and graphql-ws.
 */
describe('rsp federate: operation limits', () => {
  let site: Server;
  let gateway: FederationGateway;
  let key = '';
  let asked = 0;

  beforeAll(async () => {
    site = createServer((req, res) => {
      asked += 1;
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"data":{"viewer":null}}'));
    });
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
    const added = addFederationGroup({ sites: [], groups: [] }, 'alliance');
    key = added.key;
    const config = joinSite(added.config, { site: 'a', url: `http://127.0.0.1:${(site.address() as AddressInfo).port}/graphql`, group: 'alliance', token: 'ta' });
    gateway = await startFederationGateway(config, { port: 0, limits: { ...federationLimits({}), maxAliases: 5, maxCost: 1000 } });
  });
  afterAll(async () => {
    await gateway?.close();
    await new Promise((resolve) => site?.close(resolve));
  });

  /** `n` aliased root fields: without the limit, `n` requests to each linked site. */
  const aliased = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `v${i}: viewer { groupId }`).join(' ')} }`;
  const post = async (query: string, headers: Record<string, string> = {}) => {
    const res = await fetch(gateway.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...headers }, body: JSON.stringify({ query }) });
    return { status: res.status, body: (await res.json()) as { errors?: Array<{ message: string; extensions: { code: string; details?: Record<string, unknown> } }> } };
  };

  test('a site reads its limits from the same settings: the federation has a site\'s defaults', () => {
    expect(federationLimits({})).toEqual({ maxDepth: 15, maxAliases: 50, maxTokens: 5000, maxDirectives: 50, maxCost: 40_000_000, maxBatchItems: 1000 });
    expect(federationLimits({ RSP_MAX_QUERY_ALIASES: '7' }).maxAliases).toBe(7);
    expect(() => federationLimits({ RSP_MAX_QUERY_DEPTH: '-1' })).toThrow(/RSP_MAX_QUERY_DEPTH/);
  });

  test('an operation over a limit is refused 400 QUERY_TOO_COMPLEX before any site is asked, by the POST handler, Yoga and graphql-ws alike', async () => {
    asked = 0;
    for (const headers of [{}, { origin: "http://elsewhere.example" }] as Array<Record<string, string>>) {
      const refused = await post(aliased(200), headers);
      expect(refused.status).toBe(400);
      expect(refused.body.errors?.[0]?.extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX', details: { limit: 'RSP_MAX_QUERY_ALIASES', max: 5 } });
    }
    const deep = await post(`{ viewer { ${'groups { '.repeat(20)}id${' }'.repeat(20)} } }`);
    expect([deep.status, deep.body.errors?.[0]?.extensions.code]).toEqual([400, 'QUERY_TOO_COMPLEX']);
    // The cost, which depends on the variables too: a page of 500 hosts with their resources.
    const costly = await fetch(gateway.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify({ query: 'query ($n: Int!) { hosts(first: $n) { nodes { id resources { id } } } }', variables: { n: 500 } }) });
    expect(costly.status).toBe(400);
    expect(((await costly.json()) as { errors: Array<{ extensions: { details: { limit: string } } }> }).errors[0]!.extensions.details.limit).toBe('RSP_MAX_QUERY_COST');
    const get = await fetch(`${gateway.graphqlUrl}?query=${encodeURIComponent(aliased(200))}`, { headers: { authorization: `Bearer ${key}` } });
    expect(get.status).toBe(400);
    const socket = new WebSocket(gateway.graphqlUrl.replace(/^http/, 'ws'), 'graphql-transport-ws');
    const messages: Array<{ type: string; payload?: Array<{ extensions: { code: string } }> }> = [];
    const errored = new Promise<void>((resolve) =>
      socket.on('message', (data) => {
        const message = JSON.parse(data.toString());
        messages.push(message);
        if (message.type === 'connection_ack') socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: aliased(200) } }));
        if (message.type === 'error') resolve();
      }),
    );
    socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${key}` } })));
    await errored;
    socket.close();
    expect(messages.find((m) => m.type === 'error')?.payload?.[0]?.extensions.code).toBe('QUERY_TOO_COMPLEX');
    expect(asked).toBe(0);
    // Within the limits, each root field still goes to the site.
    const within = await post(aliased(3));
    expect(within.status).toBe(200);
    expect(asked).toBe(3);
  });
  test('variables of the wrong shape (an input object of 100,000 unknown fields) are refused 400 BAD_USER_INPUT in one pass, before any site is asked, by the POST handler, Yoga and graphql-ws alike', async () => {
    asked = 0;
    const message = 'Variable "$i" got an invalid value at "i.k0": Field "k0" is not defined by type "CreateResourceInput" (and 99999 more unknown fields)';
    const query = 'mutation ($i: CreateResourceInput!) { createResource(input: $i) { id } }';
    const variables = `{"i":{"hostId":"00000000-0000-0000-0000-000000000000","type":"GPU","unit":"COUNT","total":1,${Array.from({ length: 100_000 }, (_, i) => `"k${i}":${i}`).join(',')}}}`;
    // Without an Origin the POST handler answers; with one, Yoga.
    for (const headers of [{}, { origin: 'http://elsewhere.example' }] as Array<Record<string, string>>) {
      const res = await fetch(gateway.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...headers }, body: `{"query":${JSON.stringify(query)},"variables":${variables}}` });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { errors: unknown[] }).errors).toEqual([{ message, extensions: { code: 'BAD_USER_INPUT', details: { variable: 'i', path: 'i.k0' } } }]);
    }
    const socket = new WebSocket(gateway.graphqlUrl.replace(/^http/, 'ws'), 'graphql-transport-ws');
    const refused = new Promise<{ payload: Array<{ message: string; extensions: { code: string } }> }>((resolve) =>
      socket.on('message', (data) => {
        const m = JSON.parse(data.toString());
        if (m.type === 'connection_ack') socket.send(`{"id":"1","type":"subscribe","payload":{"query":${JSON.stringify(query)},"variables":${variables}}}`);
        if (m.type === 'error') resolve(m);
      }),
    );
    socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${key}` } })));
    const error = await refused;
    socket.close();
    expect(error.payload[0]).toMatchObject({ message, extensions: { code: 'BAD_USER_INPUT' } });
    expect(asked).toBe(0);
  });
});
