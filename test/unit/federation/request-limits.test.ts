import { request } from 'node:http';
import WebSocket from 'ws';
import { startFederationGateway, type FederationGateway } from '../../../gateway/federation/server';

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
