import WebSocket from 'ws';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { healthz, openSocket, SocketOutcome, subscribe, terminateSockets } from '../helpers/abuse';

const SUBSCRIPTION = 'subscription { events { __typename } }';

/** The sockets of `outcomes` that were acknowledged. */
function acknowledged(outcomes: SocketOutcome[]): WebSocket[] {
  return outcomes.flatMap((o) => ('ack' in o ? [o.socket] : []));
}

/** Opens anonymous sockets from `address` until one is acknowledged (places free as sockets close): that one. */
async function admittedAgain(url: string, address: string): Promise<WebSocket | undefined> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const o = await openSocket(url, {}, { headers: { 'x-forwarded-for': address } });
    if ('ack' in o) return o.socket;
    await new Promise((r) => setTimeout(r, 100));
  }
  return undefined;
}

/**
 * Floods of graphql-ws sockets without a token (issue 21: 500 anonymous sockets × 20
 * subscriptions took /healthz to 7.2 s): refused at the HTTP upgrade, before any WebSocket
 * handshake, with RATE_LIMITED and Retry-After; sockets with a token at the upgrade are never
 * refused among them; the gateway answers /healthz throughout (every answer arrives, 200; the
 * latencies are figures of bench/abuse-burst.ts, not asserted here).
 */
describe('abuse: sockets without a token', () => {
  let db: TestDatabase;
  let t: TestGateway;

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    // Default socket limits (100 without a token, 16 per address, connection_init within 3 s); a health port of its own too.
    t = await startTestGateway(db, { RSP_INTROSPECTION: 'false', RSP_HEALTH_PORT: '0' });
  });
  afterEach(() => terminateSockets());
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test('500 anonymous sockets from 500 addresses, 20 subscriptions each: 100 admitted, 400 refused 503 RATE_LIMITED at the upgrade; tokens at the upgrade still connect; /healthz answers throughout, on the gateway\'s port and on the health port', async () => {
    let bursting = true;
    const probes: number[] = [];
    const healthPortProbes: number[] = [];
    const probing = (async () => {
      do probes.push((await healthz(t.gateway.url)).status);
      while (bursting);
    })();
    const probingHealthPort = (async () => {
      do healthPortProbes.push((await healthz(t.gateway.healthUrl!)).status);
      while (bursting);
    })();
    const outcomes = await Promise.all(Array.from({ length: 500 }, (_, i) => openSocket(t.gateway.websocketUrl, {}, { headers: { 'x-forwarded-for': `10.9.${i >> 8}.${i & 255}` } })));
    const admitted = acknowledged(outcomes);
    expect(admitted).toHaveLength(100);
    const refused = outcomes.filter((o): o is Extract<SocketOutcome, { status: number }> => 'status' in o);
    expect(refused).toHaveLength(400);
    for (const o of refused) {
      expect(o).toMatchObject({ status: 503, retryAfter: expect.stringMatching(/^\d+$/) });
      expect(JSON.parse(o.body)).toMatchObject({ errors: [{ message: expect.stringMatching(/at most 100 on this gateway \(RSP_MAX_ANONYMOUS_SOCKETS\)/), extensions: { code: 'RATE_LIMITED' } }] });
    }
    // While the places are taken: a token in the upgrade's Authorization header or in a protocol entry (browsers) connects…
    const byHeader = await openSocket(t.gateway.websocketUrl, {}, { headers: { authorization: `Bearer ${t.adminToken}`, 'x-forwarded-for': '10.9.0.1' } });
    const byProtocol = await openSocket(t.gateway.websocketUrl, {}, { protocols: [`rsp.bearer.${t.adminToken}`] });
    if (!('ack' in byHeader) || !('ack' in byProtocol)) throw new Error(`a socket with a token was refused: ${JSON.stringify([byHeader, byProtocol])}`);
    expect(byProtocol.socket.protocol).toBe('graphql-transport-ws');
    for (const socket of [byHeader.socket, byProtocol.socket]) {
      expect(await subscribe(socket, 'me', '{ viewer { role } }')).toMatchObject({ type: 'next', payload: { data: { viewer: { role: 'ADMIN' } } } });
    }
    // …one that shows its token only in connection_init is one without a token until then: refused too.
    expect(await openSocket(t.gateway.websocketUrl, { authorization: `Bearer ${t.adminToken}` })).toMatchObject({ status: 503 });
    // Subscriptions need a token: each is refused at once (UNAUTHENTICATED), and the socket stays open.
    const answers = await Promise.all(admitted.flatMap((socket) => Array.from({ length: 20 }, (_, i) => subscribe(socket, `e${i}`, SUBSCRIPTION))));
    bursting = false;
    await Promise.all([probing, probingHealthPort]);
    expect(answers).toHaveLength(2000);
    expect(new Set(answers.map((a) => a.payload[0]?.extensions?.code))).toEqual(new Set(['UNAUTHENTICATED']));
    expect(admitted.every((socket) => socket.readyState === WebSocket.OPEN)).toBe(true);
    expect(probes.length).toBeGreaterThan(0);
    expect(probes.every((status) => status === 200)).toBe(true);
    expect(healthPortProbes.length).toBeGreaterThan(0);
    expect(healthPortProbes.every((status) => status === 200)).toBe(true);
    for (const socket of [...admitted, byHeader.socket, byProtocol.socket]) socket.close();
    // Closed sockets free their places.
    const again = await admittedAgain(t.gateway.websocketUrl, '10.9.9.9');
    expect(again).toBeDefined();
    again?.close();
  });

  test('the health port (RSP_HEALTH_PORT) answers /healthz and /readyz as the gateway\'s port does, and nothing else', async () => {
    const health = t.gateway.healthUrl!;
    expect(new URL(health).port).not.toBe(new URL(t.gateway.url).port);
    const live = await fetch(`${health}/healthz`);
    expect([live.status, await live.json()]).toEqual([200, { status: 'ok' }]);
    const ready = await fetch(`${health}/readyz?verbose`);
    const readyBody = await ready.json();
    expect([ready.status, readyBody]).toEqual([200, expect.objectContaining({ status: 'ready', checks: expect.objectContaining({ database: true }) })]);
    // The same checks as the gateway's own /readyz.
    expect(Object.keys(readyBody.checks)).toEqual(Object.keys((await (await fetch(`${t.gateway.url}/readyz`)).json()).checks));
    const head = await fetch(`${health}/healthz`, { method: 'HEAD' });
    expect([head.status, await head.text()]).toEqual([200, '']);
    const graphql = await fetch(`${health}/graphql`);
    expect([graphql.status, await graphql.json()]).toEqual([404, { errors: [expect.objectContaining({ extensions: { code: 'NOT_FOUND' } })] }]);
    const post = await fetch(`${health}/healthz`, { method: 'POST', body: '{}' });
    expect([post.status, await post.json()]).toEqual([405, { errors: [expect.objectContaining({ extensions: { code: 'BAD_REQUEST' } })] }]);
  });

  test('one address holds at most 16 sockets without a token (429 RSP_MAX_ANONYMOUS_SOCKETS_PER_ADDRESS); a socket authenticated in connection_init gives its place back', async () => {
    const headers = { 'x-forwarded-for': '203.0.113.5' };
    const first = await Promise.all(Array.from({ length: 15 }, () => openSocket(t.gateway.websocketUrl, {}, { headers })));
    const withToken = await openSocket(t.gateway.websocketUrl, { authorization: `Bearer ${t.adminToken}` }, { headers });
    expect(acknowledged([...first, withToken])).toHaveLength(16);
    // Authenticated, the 16th no longer holds a place: another anonymous socket gets it, the next does not.
    const sixteenth = await openSocket(t.gateway.websocketUrl, {}, { headers });
    const over = await openSocket(t.gateway.websocketUrl, {}, { headers });
    expect('ack' in sixteenth).toBe(true);
    expect(over).toMatchObject({ status: 429, retryAfter: expect.stringMatching(/^\d+$/) });
    expect(JSON.parse((over as { body: string }).body)).toMatchObject({ errors: [{ message: expect.stringMatching(/from 203\.0\.113\.5: at most 16 \(RSP_MAX_ANONYMOUS_SOCKETS_PER_ADDRESS\)/), extensions: { code: 'RATE_LIMITED' } }] });
    // Another address is not refused.
    const elsewhere = await openSocket(t.gateway.websocketUrl, {}, { headers: { 'x-forwarded-for': '203.0.113.6' } });
    expect('ack' in elsewhere).toBe(true);
    for (const socket of acknowledged([...first, withToken, sixteenth, elsewhere])) socket.close();
  });

  test('a socket that never sends connection_init is closed (4408) within RSP_WS_INIT_TIMEOUT_MS and frees its place', async () => {
    const headers = { 'x-forwarded-for': '203.0.113.7' };
    const silent = await Promise.all(Array.from({ length: 16 }, () => openSocket(t.gateway.websocketUrl, {}, { headers, init: false })));
    for (const o of silent) expect(o).toMatchObject({ code: 4408 });
    const socket = await admittedAgain(t.gateway.websocketUrl, '203.0.113.7');
    expect(socket).toBeDefined();
    socket?.close();
  });

  test('a token at the upgrade that does not authenticate is closed 4403 at connection_init (as graphql-ws clients expect), holding a place among the sockets without a token until then', async () => {
    const byHeader = await openSocket(t.gateway.websocketUrl, {}, { headers: { authorization: 'Bearer rsp_not-a-token' } });
    const byProtocol = await openSocket(t.gateway.websocketUrl, {}, { protocols: ['rsp.bearer.rsp_not-a-token'] });
    for (const o of [byHeader, byProtocol]) expect(o).toMatchObject({ code: 4403, reason: 'Forbidden: the token does not authenticate (unknown, revoked or expired): log in again or make a new token' });
    // Bad tokens do not get around the caps: from one address, the 17th socket is refused at the upgrade.
    const headers = { authorization: 'Bearer rsp_not-a-token', 'x-forwarded-for': '203.0.113.8' };
    const silent = await Promise.all(Array.from({ length: 17 }, () => openSocket(t.gateway.websocketUrl, {}, { headers, init: false })));
    expect(silent.filter((o) => 'status' in o)).toEqual([expect.objectContaining({ status: 429 })]);
    expect(silent.filter((o) => 'code' in o)).toHaveLength(16);
  });
});
