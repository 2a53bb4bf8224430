import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { addFederationGroup, joinSite } from '../../../gateway/federation/config';
import type { FederationConfig } from '../../../gateway/federation/config';
import { startFederationGateway, type FederationGateway } from '../../../gateway/federation/server';

interface GraphQLBody {
  errors?: Array<{ message: string; extensions?: { code?: string; details?: { retryAfter?: number } } }>;
}

/** A site that answers every query with no viewer and acknowledges graphql-ws sockets, whose subscriptions never end; `subscribed` counts the subscriptions it got. */
async function stubSite(): Promise<{ server: Server; url: string; subscribed: () => number; close: () => Promise<void> }> {
  let subscribed = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"data":{"viewer":null}}'));
  });
  const wss = new WebSocketServer({ server, path: '/graphql' });
  wss.on('connection', (socket) =>
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as { type: string };
      if (message.type === 'connection_init') socket.send(JSON.stringify({ type: 'connection_ack' }));
      if (message.type === 'subscribe') subscribed += 1;
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`,
    subscribed: () => subscribed,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A federation of site `a` with two groups, `alliance` and `other`, and their keys. */
function federationOf(siteUrl: string): { config: FederationConfig; keys: Record<'alliance' | 'other', string> } {
  const alliance = addFederationGroup({ sites: [], groups: [] }, 'alliance');
  const other = addFederationGroup(alliance.config, 'other');
  let config = joinSite(other.config, { site: 'a', url: siteUrl, group: 'alliance', token: 'ta' });
  config = joinSite(config, { site: 'a', url: siteUrl, group: 'other', token: 'tb' });
  return { config, keys: { alliance: alliance.key, other: other.key } };
}

function query(gateway: FederationGateway, key: string): Promise<Response> {
  return fetch(gateway.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify({ query: '{ __typename }' }) });
}

/** Everything a raw connection receives until it is closed. */
function received(socket: Socket): Promise<string> {
  let text = '';
  socket.on('data', (chunk) => (text += String(chunk)));
  socket.on('error', () => undefined);
  return new Promise((resolve) => socket.on('close', () => resolve(text)));
}

/** A raw connection to the federation, once connected. */
async function rawConnection(gateway: FederationGateway): Promise<Socket> {
  const { hostname, port } = new URL(gateway.url);
  const socket = connect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  return socket;
}

/** `rsp federate` holds one abusive caller to the gateway's limits, so it cannot load the federation for every group. */
describe('rsp federate: abuse limits', () => {
  let site: Awaited<ReturnType<typeof stubSite>>;
  let gateway: FederationGateway | undefined;

  beforeAll(async () => {
    site = await stubSite();
  });
  afterEach(async () => {
    await gateway?.close();
    gateway = undefined;
  });
  afterAll(async () => {
    await site.close();
  });

  test('a burst of one group over its rate is refused 429 RATE_LIMITED with Retry-After; another group is still served', async () => {
    const { config, keys } = federationOf(site.url);
    gateway = await startFederationGateway(config, { port: 0, guards: { rateQueriesPerMinute: 3 } });
    // 3 a minute: of 10 at once, at least 7 are refused however slowly they go (a token comes back every 20 s).
    const answers = await Promise.all(Array.from({ length: 10 }, () => query(gateway!, keys.alliance)));
    const refused = answers.filter((r) => r.status === 429);
    expect(refused.length).toBeGreaterThanOrEqual(7);
    expect(Number(refused[0]!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const body = (await refused[0]!.json()) as GraphQLBody;
    expect(body.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    expect(body.errors?.[0]?.message).toMatch(/RSP_RATE_QUERIES_PER_MINUTE/);
    const served = answers.find((r) => r.status !== 429)!;
    expect(await served.json()).toEqual({ data: { __typename: 'Query' } });
    const other = await query(gateway, keys.other);
    expect(other.status).toBe(200);
    expect(await other.json()).toEqual({ data: { __typename: 'Query' } });
  });

  test('an operation over RSP_MAX_SUBSCRIPTIONS_PER_SOCKET on one socket gets RATE_LIMITED; the socket stays open', async () => {
    const { config, keys } = federationOf(site.url);
    gateway = await startFederationGateway(config, { port: 0, guards: { maxSubscriptionsPerSocket: 2 } });
    const socket = new WebSocket(gateway.graphqlUrl.replace(/^http/, 'ws'), 'graphql-transport-ws');
    const messages: Array<{ id?: string; type: string; payload?: unknown }> = [];
    const waiters: Array<() => void> = [];
    socket.on('message', (data) => {
      messages.push(JSON.parse(String(data)) as (typeof messages)[number]);
      for (const w of waiters.splice(0)) w();
    });
    const until = async (found: () => boolean) => {
      while (!found()) await new Promise<void>((resolve) => waiters.push(resolve));
    };
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${keys.alliance}` } }));
    await until(() => messages.some((m) => m.type === 'connection_ack'));
    const subscription = { query: 'subscription { operationUpdated { id } }' };
    socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: subscription }));
    socket.send(JSON.stringify({ id: '2', type: 'subscribe', payload: subscription }));
    // Both running: the site got the (shared) subscription and neither ended.
    while (site.subscribed() < 1) await new Promise((r) => setTimeout(r, 10));
    socket.send(JSON.stringify({ id: '3', type: 'subscribe', payload: subscription }));
    await until(() => messages.some((m) => m.id === '3'));
    expect(messages.filter((m) => m.id === '1' || m.id === '2')).toEqual([]);
    const refusal = messages.find((m) => m.id === '3')!;
    expect(refusal.type).toBe('error');
    expect((refusal.payload as Array<{ extensions: { code: string } }>)[0]!.extensions.code).toBe('RATE_LIMITED');
    expect(socket.readyState).toBe(WebSocket.OPEN);
    socket.close();
  });

  test('a socket over RSP_MAX_SOCKETS_PER_ADDRESS is refused at its upgrade: 429 RATE_LIMITED with Retry-After', async () => {
    const { config } = federationOf(site.url);
    gateway = await startFederationGateway(config, { port: 0, guards: { maxSocketsPerAddress: 1 } });
    const url = gateway.graphqlUrl.replace(/^http/, 'ws');
    const first = new WebSocket(url, 'graphql-transport-ws');
    await new Promise<void>((resolve, reject) => {
      first.once('open', () => resolve());
      first.once('error', reject);
    });
    const second = new WebSocket(url, 'graphql-transport-ws');
    second.on('error', () => undefined);
    const response = await new Promise<{ status: number; retryAfter: string | undefined; body: string }>((resolve, reject) => {
      second.once('open', () => reject(new Error('admitted')));
      second.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += String(c)));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body }));
      });
    });
    expect(response.status).toBe(429);
    expect(Number(response.retryAfter)).toBeGreaterThanOrEqual(1);
    expect((JSON.parse(response.body) as GraphQLBody).errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    first.close();
  });

  test('a connection over RSP_FEDERATION_MAX_CONNECTIONS_PER_ADDRESS is answered 429 RATE_LIMITED and closed', async () => {
    const { config } = federationOf(site.url);
    gateway = await startFederationGateway(config, { port: 0, guards: { federationMaxConnectionsPerAddress: 2 } });
    // Two connections the federation has served once (so it counts them), kept alive.
    const held: Socket[] = [];
    for (let i = 0; i < 2; i++) {
      const socket = await rawConnection(gateway);
      const answered = new Promise<void>((resolve) => socket.once('data', () => resolve()));
      socket.write(`GET /healthz HTTP/1.1\r\nHost: federation\r\n\r\n`);
      await answered;
      held.push(socket);
    }
    const third = await rawConnection(gateway);
    const text = received(third);
    third.write(`POST /graphql HTTP/1.1\r\nHost: federation\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`);
    const answer = await text;
    expect(answer).toMatch(/^HTTP\/1\.1 429 /);
    expect(answer).toMatch(/\r\nRetry-After: \d+\r\n/);
    expect(answer).toContain('"code":"RATE_LIMITED"');
    for (const s of held) s.destroy();
  });

  test('a slow-loris request (headers, or a body, that never finish coming) is cut by the timeouts', async () => {
    const { config } = federationOf(site.url);
    gateway = await startFederationGateway(config, { port: 0, guards: { federationHeadersTimeoutMs: 200, federationRequestTimeoutMs: 400 } });
    // Headers that never end: answered 408 and closed.
    const headers = await rawConnection(gateway);
    const headersText = received(headers);
    headers.write('POST /graphql HTTP/1.1\r\nHost: federation\r\nX-Slow: ');
    expect(await headersText).toMatch(/^HTTP\/1\.1 408 /);
    // A body that never ends: closed.
    const body = await rawConnection(gateway);
    const closed = received(body);
    body.write('POST /graphql HTTP/1.1\r\nHost: federation\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"query":');
    await closed;
    expect(body.destroyed).toBe(true);
  });
});
