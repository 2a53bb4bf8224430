import { readdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, World } from '../helpers/scenario';
import { until } from '../helpers/until';
import { MAX_PEER_BODY_BYTES } from '../../gateway/server/peer-http';

/** Sends `text` on a raw connection to the gateway at `url` and answers what came back once it closes (or after a moment). */
function raw(url: string, text: string): Promise<string> {
  return new Promise((resolve) => {
    const { hostname, port } = new URL(url);
    let out = '';
    const socket = connect(Number(port), hostname, () => socket.write(text));
    socket.on('data', (d: Buffer) => {
      out += d.toString('latin1');
      // An upgrade's answer ends its headers; a 101 would then hold the socket open.
      if (/\r\n\r\n/.test(out) && / 101 /.test(out.split('\r\n')[0])) socket.destroy();
    });
    socket.on('close', () => resolve(out));
    socket.on('error', () => resolve(out));
  });
}

/** A WebSocket upgrade request for `path` with extra header lines. */
const upgrade = (path: string, headers: string[]) =>
  [`GET ${path} HTTP/1.1`, 'Host: gateway', 'Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', ...headers, '', ''].join('\r\n');

/**
 * The gateway's HTTP and WebSocket endpoints other than GraphQL, attacked from outside (no token,
 * a bad one, another origin) and by a member of another group: each test names the way in.
 */
describe('HTTP and WebSocket endpoints under attack', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db);
    w = await buildWorld(t);
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test('a graphql-ws client (or any client not speaking rsp.exec.v1) is refused on /exec before its handshake, even with a good token', async () => {
    const answer = await raw(t.gateway.url, upgrade('/exec', [`Authorization: Bearer ${w.tokens.memberA}`, 'Sec-WebSocket-Protocol: graphql-transport-ws']));
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)).errors[0].extensions.code).toBe('BAD_REQUEST');
    const none = await raw(t.gateway.url, upgrade('/exec', [`Authorization: Bearer ${w.tokens.memberA}`]));
    expect(none.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
    // The exec protocol offered (beside the token entry, as browsers do) is still taken.
    const exec = await raw(t.gateway.url, upgrade('/exec', [`Sec-WebSocket-Protocol: rsp.exec.v1, rsp.bearer.${w.tokens.memberA}`]));
    expect(exec.split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols');
    expect(exec).toMatch(/Sec-WebSocket-Protocol: rsp\.exec\.v1\r\n/i);
  });

  test('the GraphQL IDE page may not be framed by another site, sniffed or referred', async () => {
    const res = await fetch(`${t.gateway.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    await res.arrayBuffer();
  });

  test('a path or method nothing serves is a GraphQL-shaped 404 NOT_FOUND that echoes nothing (TRACE included)', async () => {
    for (const [method, path] of [['GET', '/nope<script>'], ['POST', '/metrics'], ['DELETE', '/images/x/content'], ['PUT', '/admin/backup']]) {
      const res = await fetch(`${t.gateway.url}${path}`, { method, headers: { accept: 'application/json' } });
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      const text = await res.text();
      expect(JSON.parse(text).errors[0].extensions.code).toBe('NOT_FOUND');
      expect(text).not.toMatch(/nope|script|metrics|admin/);
    }
    const trace = await raw(t.gateway.url, 'TRACE /metrics HTTP/1.1\r\nHost: gateway\r\nCookie: secret=1\r\nConnection: close\r\n\r\n');
    expect(trace.split('\r\n')[0]).toBe('HTTP/1.1 404 Not Found');
    expect(trace).toMatch(/"code":"NOT_FOUND"/);
    expect(trace).not.toMatch(/secret=1|Cannot TRACE/);
  });

  test('no credentialed cross-origin read: no CORS headers for another origin, on the API or the files', async () => {
    for (const path of ['/graphql', '/metrics', '/images/content/sha256:' + '0'.repeat(64), '/']) {
      const res = await fetch(`${t.gateway.url}${path}`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } });
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      expect(res.headers.get('access-control-allow-credentials')).toBeNull();
      await res.arrayBuffer();
    }
    const post = await fetch(`${t.gateway.url}/graphql`, { method: 'POST', headers: { origin: 'https://evil.example', 'content-type': 'application/json', authorization: `Bearer ${w.tokens.memberA}` }, body: JSON.stringify({ query: '{ viewer { groupId } }' }) });
    expect(post.headers.get('access-control-allow-origin')).toBeNull();
    await post.arrayBuffer();
  });

  test('traversal in digests, ids and static paths leads nowhere, and no redirect leaves the gateway', async () => {
    const member = { authorization: `Bearer ${w.tokens.memberA}` };
    for (const digest of ['..%2f..%2fetc%2fpasswd', 'sha256:..%2f..%2f..%2fetc%2fpasswd', 'sha256:' + 'a'.repeat(63) + '%00']) {
      const res = await fetch(`${t.gateway.url}/images/content/${digest}`, { headers: member });
      expect(res.status).toBe(400);
      expect((await res.json()).errors[0].extensions.code).toBe('BAD_USER_INPUT');
    }
    const upload = await fetch(`${t.gateway.url}/images/..%2f..%2fx/content`, { method: 'PUT', headers: member, body: 'x' });
    expect([upload.status, (await upload.json()).errors[0].extensions.code]).toEqual([400, 'BAD_USER_INPUT']);
    for (const path of ['/..%2f..%2fpackage.json', '/assets/..%2f..%2f..%2fpackage.json', '/%2e%2e/%2e%2e/package.json']) {
      const res = await fetch(`${t.gateway.url}${path}`, { headers: { accept: 'application/json' } });
      expect(res.status).toBe(404);
      expect(await res.text()).not.toMatch(/"name"\s*:\s*"@rsp/);
    }
    for (const path of ['//evil.example/assets', '/assets', '//evil.example/%2e%2e/assets', '/%5Cevil.example/assets']) {
      const res = await fetch(`${t.gateway.url}${path}`, { redirect: 'manual', headers: { accept: 'text/html' } });
      const location = res.headers.get('location');
      if (location !== null) expect(new URL(location, t.gateway.url).origin).toBe(new URL(t.gateway.url).origin);
      await res.arrayBuffer();
    }
  });

  test("another group's admin reads neither the site's metrics nor its backup; a bad, malformed or missing token is 401 with a code", async () => {
    for (const path of ['/metrics', '/admin/backup']) {
      const admin = await fetch(`${t.gateway.url}${path}`, { headers: { authorization: `Bearer ${w.tokens.adminA}` } });
      expect(admin.status).toBe(403);
      expect((await admin.json()).errors[0].extensions.code).toBe('FORBIDDEN');
      for (const authorization of [undefined, 'Bearer rsp_nope', 'Basic Zm9vOmJhcg==', 'Bearer']) {
        const res = await fetch(`${t.gateway.url}${path}`, { headers: authorization ? { authorization } : {} });
        expect(res.status).toBe(401);
        expect((await res.json()).errors[0].extensions.code).toBe('UNAUTHENTICATED');
      }
    }
    expect((await fetch(`${t.gateway.url}/admin/backup`, { headers: { authorization: `Bearer ${t.adminToken}` } })).status).toBe(200);
  });
  test('/peer/store reads no body before the token is a member\'s, the length announced and within bounds; the bodies it holds at once are capped', async () => {
    // Headers alone: every refusal comes without the body being sent.
    const head = (token: string, length: string | undefined) =>
      [`POST /peer/store HTTP/1.1`, 'Host: gateway', 'Content-Type: application/json', `Authorization: Bearer ${token}`, ...(length === undefined ? ['Transfer-Encoding: chunked'] : [`Content-Length: ${length}`]), '', ''].join('\r\n');
    const status = (answer: string) => Number(answer.split(' ')[1]);
    const codeOf = (answer: string) => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)).errors[0].extensions.code as string;
    const full = String(MAX_PEER_BODY_BYTES);
    const anonymous = await raw(t.gateway.url, head('rsp_nope', full));
    expect([status(anonymous), codeOf(anonymous)]).toEqual([401, 'UNAUTHENTICATED']);
    const viewer = await raw(t.gateway.url, head(w.tokens.viewerA, full));
    expect([status(viewer), codeOf(viewer)]).toEqual([403, 'FORBIDDEN']);
    const chunked = await raw(t.gateway.url, head(w.tokens.memberA, undefined));
    expect([status(chunked), codeOf(chunked)]).toEqual([411, 'BAD_REQUEST']);
    const huge = await raw(t.gateway.url, head(w.tokens.memberA, String(MAX_PEER_BODY_BYTES + 1)));
    expect([status(huge), codeOf(huge)]).toEqual([413, 'BAD_REQUEST']);

    // Members of two groups announcing two of the largest bodies each (each group's share) and sending them slowly hold what the gateway takes at once: a third group's call waits its turn.
    const groupC = (await t.ok<{ createGroup: { id: string } }>('mutation { createGroup(input: { slug: "gamma", name: "Gamma" }) { id } }')).createGroup.id;
    const memberC = (await t.ok<{ createToken: { secret: string } }>('mutation ($i: CreateTokenInput!) { createToken(input: $i) { secret } }', { i: { groupId: groupC, role: 'MEMBER', name: 'mc' } })).createToken.secret;
    const small = async () => {
      const res = await fetch(`${t.gateway.url}/peer/store`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${memberC}` }, body: JSON.stringify({ call: 'nothing', args: {} }) });
      return { status: res.status, code: (await res.json()).errors?.[0]?.extensions?.code as string | undefined, retryAfter: res.headers.get('retry-after') };
    };
    expect(await small()).toMatchObject({ status: 400, code: 'BAD_USER_INPUT' });
    // One that came while a probe was read is refused (the budget was short of the probe's bytes): it is sent again.
    const held: Socket[] = [];
    const hold = (token: string) =>
      new Promise<Socket>((resolve) => {
        const { hostname, port } = new URL(t.gateway.url);
        const socket = connect(Number(port), hostname, () => socket.write(head(token, full) + '{', () => resolve(socket)));
        socket.once('data', () => socket.destroy());
        socket.on('error', () => undefined);
      });
    const holders = [w.tokens.memberA, w.tokens.memberA, w.tokens.memberB, w.tokens.memberB];
    try {
      const refused = await until(
        'a call refused while four large bodies are held',
        async () => {
          for (const [i, token] of holders.entries()) if (!held[i] || held[i].destroyed) held[i] = await hold(token);
          const answer = await small();
          return answer.status === 429 && answer;
        },
        20_000,
      );
      expect(refused).toEqual({ status: 429, code: 'RATE_LIMITED', retryAfter: '1' });
    } finally {
      held.forEach((socket) => socket.destroy());
    }
    // Once those went, calls are read again.
    await until('calls read again once the held bodies went', async () => (await small()).status === 400, 20_000);
  });

  test('backups asked for at once each come whole (each its own file: none removes another\'s)', async () => {
    const take = async () => {
      const res = await fetch(`${t.gateway.url}/admin/backup`, { headers: { authorization: `Bearer ${t.adminToken}` } });
      const text = await res.text();
      return { status: res.status, length: Number(res.headers.get('content-length')), bytes: Buffer.byteLength(text), complete: text.endsWith('\n') };
    };
    for (const b of await Promise.all([take(), take(), take(), take()])) {
      expect(b.status).toBe(200);
      expect(b.bytes).toBe(b.length);
      expect(b.complete).toBe(true);
    }
    // Each file is removed once sent (after its answer ended).
    await until('every backup file removed', () => readdirSync(join(db.dataDir, 'backups')).every((f) => !f.startsWith('online-')), 20_000);
  });

});
