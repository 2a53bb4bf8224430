import { connect, type Socket } from 'node:net';
import WebSocket from 'ws';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, World } from '../helpers/scenario';
import { until } from '../helpers/until';

/** Writes `text` on a raw connection from `from` (a loopback address) and answers what came back once it closed. */
function raw(url: string, text: string, from = '127.0.0.1'): Promise<string> {
  return new Promise((resolve) => {
    const { hostname, port } = new URL(url);
    let out = '';
    const socket = connect({ port: Number(port), host: hostname, localAddress: from }, () => socket.write(text));
    socket.on('data', (d: Buffer) => (out += d.toString('latin1')));
    socket.on('close', () => resolve(out));
    socket.on('error', () => resolve(out));
  });
}

/** A connection from `from` that sends a request's headers and the first bytes of its body, then nothing: it holds the connection until the body deadline. */
function slowBody(url: string, from: string): Promise<Socket> {
  return new Promise((resolve) => {
    const { hostname, port } = new URL(url);
    const socket = connect({ port: Number(port), host: hostname, localAddress: from }, () =>
      socket.write(['POST /graphql HTTP/1.1', 'Host: gateway', 'Content-Type: application/json', 'Content-Length: 100', '', '{"query":'].join('\r\n'), () => resolve(socket)),
    );
    socket.on('error', () => undefined);
  });
}

const HEALTHZ = 'GET /healthz HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n';
const statusOf = (answer: string) => answer.split('\r\n')[0];

/**
 * The gateway's port under resource-exhaustion attacks on its connections: sockets held open by
 * slow clients are bounded in all and per client address (RSP_MAX_CONNECTIONS…), headers that do
 * not come are cut (RSP_HEADERS_TIMEOUT_MS), and a peer site's member holds only its group's share
 * of the peer store bodies, each cut when it stalls (RSP_UPLOAD_IDLE_TIMEOUT_MS). Loopback addresses
 * (127.0.0.x) stand for different clients.
 */
describe('connection exhaustion', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db, {
      RSP_MAX_CONNECTIONS: '24',
      RSP_MAX_CONNECTIONS_PER_ADDRESS: '8',
      RSP_HEADERS_TIMEOUT_MS: '1000',
      RSP_REQUEST_BODY_TIMEOUT_MS: '600000',
      RSP_UPLOAD_IDLE_TIMEOUT_MS: '300',
    });
    w = await buildWorld(t);
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  const refusedCount = async (limit: string): Promise<number> => {
    const res = await fetch(`${t.gateway.url}/metrics`, { headers: { authorization: `Bearer ${t.adminToken}` } });
    const line = (await res.text()).split('\n').find((l) => l.startsWith('rsp_http_connections_refused_total{') && l.includes('port="gateway"') && l.includes(`limit="${limit}"`));
    return line ? Number(line.split(' ').pop()) : 0;
  };

  test('one address holding its share of connections is refused more, while other addresses are served', async () => {
    const held = await Promise.all(Array.from({ length: 8 }, () => slowBody(t.gateway.url, '127.0.0.2')));
    try {
      // Once the gateway has taken the eight, the ninth from that address is closed unanswered.
      await until('a connection over the address\'s share closed unanswered', async () => (await raw(t.gateway.url, HEALTHZ, '127.0.0.2')) === '', 20_000);
      expect(statusOf(await raw(t.gateway.url, HEALTHZ, '127.0.0.3'))).toBe('HTTP/1.1 200 OK');
    } finally {
      held.forEach((s) => s.destroy());
    }
    await until('the address served again once its connections closed', async () => statusOf(await raw(t.gateway.url, HEALTHZ, '127.0.0.2')) === 'HTTP/1.1 200 OK', 20_000);
    expect(await refusedCount('per_address')).toBeGreaterThanOrEqual(1);
  });

  test('connections over the port\'s total are closed as they come, from any address, until some close', async () => {
    const held = (await Promise.all(['127.0.0.4', '127.0.0.5', '127.0.0.6'].map((from) => Promise.all(Array.from({ length: 8 }, () => slowBody(t.gateway.url, from)))))).flat();
    try {
      await until('a connection over the total closed unanswered', async () => (await raw(t.gateway.url, HEALTHZ, '127.0.0.7')) === '', 20_000);
    } finally {
      held.forEach((s) => s.destroy());
    }
    await until('connections served again once the held ones closed', async () => statusOf(await raw(t.gateway.url, HEALTHZ, '127.0.0.7')) === 'HTTP/1.1 200 OK', 20_000);
    expect(await refusedCount('total')).toBeGreaterThanOrEqual(1);
  });

  test('headers that stop coming are answered 408 and closed; a graphql-ws socket opened before is not cut', async () => {
    const socket = new WebSocket(t.gateway.websocketUrl, 'graphql-transport-ws');
    const messages: string[] = [];
    socket.on('message', (d: Buffer) => messages.push(d.toString()));
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${t.adminToken}` } }));
    await until('connection_ack', () => messages.some((m) => JSON.parse(m).type === 'connection_ack'), 10_000);
    try {
      // Node's own limit is 60 s (checked every 30 s): the test's own timeout ends before.
      const answer = await raw(t.gateway.url, 'GET /healthz HTTP/1.1\r\nHost: gateway\r\n');
      expect(statusOf(answer)).toBe('HTTP/1.1 408 Request Timeout');
      // The upgraded socket, older than the cut one, still answers.
      socket.send(JSON.stringify({ type: 'ping' }));
      await until('pong', () => messages.some((m) => JSON.parse(m).type === 'pong'), 10_000);
      expect(socket.readyState).toBe(WebSocket.OPEN);
    } finally {
      socket.close();
    }
  }, 30_000);

  const peerHead = (token: string, length: number) => [`POST /peer/store HTTP/1.1`, 'Host: gateway', 'Content-Type: application/json', `Authorization: Bearer ${token}`, `Content-Length: ${length}`, '', ''].join('\r\n');
  const peerCall = async (token: string) => {
    const res = await fetch(`${t.gateway.url}/peer/store`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ call: 'nothing', args: {} }) });
    return { status: res.status, code: (await res.json()).errors?.[0]?.extensions?.code as string | undefined };
  };

  test("a member sending peer store bodies slowly holds its group's share of the budget, not the other groups'", async () => {
    // Two of the largest bodies, trickled (each stall is cut): the group's whole share. One that came
    // while a probe below was read is refused (its share was short of a probe's bytes): it is sent again.
    const held: Socket[] = [];
    const hold = () =>
      new Promise<Socket>((resolve) => {
        const { hostname, port } = new URL(t.gateway.url);
        const socket = connect(Number(port), hostname, () => socket.write(peerHead(w.tokens.memberA, 32 * 1024 * 1024) + '{', () => resolve(socket)));
        socket.once('data', () => socket.destroy());
        socket.on('error', () => undefined);
      });
    const trickle = setInterval(() => held.forEach((s) => s.destroyed || s.write(' ')), 50);
    try {
      const refused = await until(
        'a call of the same group refused while its share is held',
        async () => {
          for (const i of [0, 1]) if (!held[i] || held[i].destroyed) held[i] = await hold();
          const answer = await peerCall(w.tokens.memberA);
          return answer.status === 429 && answer;
        },
        20_000,
      );
      expect(refused).toEqual({ status: 429, code: 'RATE_LIMITED' });
      // Another group's call is read (and refused for what it asks, not for the bytes held).
      expect(await peerCall(w.tokens.memberB)).toEqual({ status: 400, code: 'BAD_USER_INPUT' });
    } finally {
      clearInterval(trickle);
      held.forEach((s) => s.destroy());
    }
  });

  test('a peer store body that stops coming is cut once it sent nothing for the idle time, long before the body deadline', async () => {
    const answer = await raw(t.gateway.url, peerHead(w.tokens.memberA, 1024) + '{"call":');
    // The body deadline (600 s) would answer 408: the idle cut closes the connection unanswered.
    expect(answer).toBe('');
    // Its bytes were given back: the group's calls are read again.
    await until('the group\'s calls read again', async () => (await peerCall(w.tokens.memberA)).status === 400, 20_000);
  }, 30_000);
});
