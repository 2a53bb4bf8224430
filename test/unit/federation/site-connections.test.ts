import { createServer, Server, Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { SiteConnections, type SiteOutcome } from '../../../gateway/federation/site-connections';

/**
 * The federation's own HTTP/1.1 connections to a site (site-http's transport): what it writes, how
 * it reads each way a server may frame an answer — delivered a byte at a time, so no answer is read
 * whole by chance — and when it keeps a connection for the next request.
 */
describe('rsp federate: connections to a site', () => {
  let server: Server;
  let url: URL;
  /** What the site answers a request (its head and body as received; the how-manieth on its connection), written byte by byte unless `whole`; `drop`: the connection is reset instead. */
  let reply: (request: string, nth: number) => { bytes: string; close?: boolean; whole?: boolean; drop?: boolean } = () => ({ bytes: '' });
  let connections = 0;
  const received: string[] = [];
  const pools: SiteConnections[] = [];

  beforeAll(async () => {
    server = createServer((socket: Socket) => {
      connections++;
      let text = '';
      let nth = 0;
      socket.setEncoding('latin1');
      socket.on('error', () => undefined);
      socket.on('data', (chunk: string) => {
        text += chunk;
        const head = text.indexOf('\r\n\r\n');
        if (head < 0) return;
        const length = Number(/\r\nContent-Length: (\d+)\r\n/.exec(text.slice(0, head + 2))?.[1] ?? 0);
        if (text.length < head + 4 + length) return;
        const request = text.slice(0, head + 4 + length);
        text = text.slice(request.length);
        received.push(request);
        const { bytes, close, whole, drop } = reply(request, ++nth);
        if (drop) return void socket.resetAndDestroy();
        void (async () => {
          if (whole) socket.write(bytes);
          else for (const byte of bytes) await new Promise<void>((resolve) => socket.write(byte, () => resolve()));
          if (close) socket.end();
        })();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql?x=1`);
  });
  afterAll(async () => {
    for (const pool of pools) pool.close();
    await new Promise((resolve) => server.close(resolve));
  });

  const pool = (maxAnswerBytes = 1024 * 1024) => {
    const connections = new SiteConnections(url, maxAnswerBytes);
    pools.push(connections);
    return connections;
  };
  const post = (connections: SiteConnections, body = '{"query":"{ a }"}', headers: Record<string, string> = {}, options: { replayable?: boolean } = {}) =>
    new Promise<SiteOutcome>((resolve) => connections.post(body, headers, resolve, options));
  const answered = (outcome: SiteOutcome) => (outcome.kind === 'answer' ? { status: outcome.status, body: outcome.body.toString('utf8') } : outcome);

  test('writes one POST with its headers and JSON body; reads an answer by Content-Length, chunked (extensions, trailers) or after 100 Continue, on one kept connection', async () => {
    const site = pool();
    const before = connections;
    reply = () => ({ bytes: 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 18\r\nKeep-Alive: timeout=5\r\n\r\n{"data":{"a":"é"}}'.replace('18', String(Buffer.byteLength('{"data":{"a":"é"}}'))) });
    expect(answered(await post(site, '{"query":"{ a }","variables":{"v":"ü"}}', { authorization: 'Bearer t0ken' }))).toEqual({ status: 200, body: '{"data":{"a":"é"}}' });
    const request = received.at(-1)!;
    expect(request.split('\r\n').slice(0, 2)).toEqual(['POST /graphql?x=1 HTTP/1.1', `Host: ${url.host}`]);
    expect(request).toContain('\r\nauthorization: Bearer t0ken\r\n');
    expect(request).toContain(`\r\nContent-Length: ${Buffer.byteLength('{"query":"{ a }","variables":{"v":"ü"}}')}\r\n`);
    expect(Buffer.from(request.slice(request.indexOf('\r\n\r\n') + 4), 'latin1').toString('utf8')).toBe('{"query":"{ a }","variables":{"v":"ü"}}');

    reply = () => ({ bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\n{"dat\r\nA\r\na":{"a":1}\r\n1\r\n}\r\n0\r\nX-Trailer: y\r\n\r\n' });
    expect(answered(await post(site))).toEqual({ status: 200, body: '{"data":{"a":1}}' });

    reply = () => ({ bytes: 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}' });
    expect(answered(await post(site))).toEqual({ status: 200, body: '{}' });
    expect(connections - before).toBe(1);
  });

  test('a connection the site closes, or says it will close, or keeps under a second, is not used again; a body up to the close is read', async () => {
    const site = pool();
    const before = connections;
    reply = () => ({ bytes: 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}', close: true });
    expect(answered(await post(site))).toEqual({ status: 200, body: '{}' });
    reply = () => ({ bytes: 'HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\n\r\nno length', close: true });
    expect(answered(await post(site))).toEqual({ status: 502, body: 'no length' });
    reply = () => ({ bytes: 'HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\nContent-Length: 2\r\n\r\n{}' });
    expect(answered(await post(site))).toEqual({ status: 200, body: '{}' });
    expect(answered(await post(site))).toEqual({ status: 200, body: '{}' });
    expect(connections - before).toBe(4);
  });

  test('an answer that is not HTTP, a hang-up, an answer over the limit (declared or chunked) and a header that would split the request are failures', async () => {
    const site = pool(100);
    const errorOf = (outcome: SiteOutcome) => (outcome.kind === 'error' ? outcome.error.message : outcome.kind);
    reply = () => ({ bytes: 'SSH-2.0-OpenSSH\r\n\r\n' });
    expect(errorOf(await post(site))).toBe('Parse Error: Expected HTTP/');
    reply = () => ({ bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{"da', close: true });
    expect(errorOf(await post(site))).toBe('socket hang up');
    reply = () => ({ bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n', whole: true });
    expect(await post(site)).toEqual({ kind: 'too-large', status: 200, bytes: 101 });
    reply = () => ({ bytes: `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n${'x'.repeat(64)}\r\n40\r\n${'x'.repeat(64)}\r\n0\r\n\r\n`, whole: true });
    expect(await post(site)).toEqual({ kind: 'too-large', status: 200, bytes: 128 });
    const sent = received.length;
    expect(errorOf(await post(site, '{}', { 'x-evil': 'a\r\nHost: elsewhere' }))).toBe('Invalid character in header "x-evil"');
    expect(received.length).toBe(sent);
  });

  test('a kept-alive connection the site closed meanwhile: a query is sent again once on a fresh connection, a mutation is not (the site may have done it)', async () => {
    const site = pool();
    // The site keeps a connection for one answer: the next request on it finds it closed (reset), as when the site's idle timeout ends it while the request is on its way.
    reply = (_request, nth) => (nth === 1 ? { bytes: 'HTTP/1.1 200 OK\r\nKeep-Alive: timeout=60\r\nContent-Length: 2\r\n\r\n{}', whole: true } : { bytes: '', drop: true });
    const before = connections;
    const sent = received.length;
    expect(answered(await post(site))).toEqual({ status: 200, body: '{}' });
    expect(answered(await post(site, '{"query":"{ a }"}', {}, { replayable: true }))).toEqual({ status: 200, body: '{}' });
    // The second request twice: on the kept connection (reset), then on a fresh one (answered).
    expect({ connections: connections - before, requests: received.length - sent }).toEqual({ connections: 2, requests: 3 });

    const mutation = '{"query":"mutation { b }"}';
    const failed = await post(site, mutation);
    expect(failed).toMatchObject({ kind: 'error', error: { code: 'ECONNRESET' } });
    expect({ connections: connections - before, requests: received.length - sent }).toEqual({ connections: 2, requests: 4 });

    // A fresh connection the site resets is not tried again, query or not.
    const fresh = pool();
    reply = () => ({ bytes: '', drop: true });
    expect(await post(fresh, '{"query":"{ a }"}', {}, { replayable: true })).toMatchObject({ kind: 'error', error: { code: 'ECONNRESET' } });
    expect({ connections: connections - before, requests: received.length - sent }).toEqual({ connections: 3, requests: 5 });
  });
});
