import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import WebSocket from 'ws';
import { AgentServer, type AgentServerDeps } from '../../../gateway/agent/remote/agent-server';
import { until } from '../../helpers/until';

/** Connections to `/agent` before their handshake are anyone's: the gateway caps how many wait at once. */
describe('agent server: connections waiting for their handshake', () => {
  let http: Server;
  let agents: AgentServer;
  let url = '';
  const open: WebSocket[] = [];

  beforeAll(async () => {
    // Nothing here reaches a handshake: the server needs only its logger and the credentials' revocation hook.
    const deps = { logger: pino({ level: 'silent' }), credentials: { onRevoked: () => undefined }, heartbeatMs: 60_000, silenceMs: 120_000, handshakeTimeoutMs: 60_000, pendingCaps: { total: 3, perAddress: 2 } } as unknown as AgentServerDeps;
    agents = new AgentServer(deps);
    http = createServer();
    http.on('upgrade', (req, socket, head) => agents.handleUpgrade(req, socket, head));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}/agent`;
  });
  afterAll(async () => {
    for (const ws of open) ws.terminate();
    await agents.close();
    await new Promise((resolve) => http.close(resolve));
  });

  /** Dials the agent path from `localAddress`: the socket once open, or the HTTP status it was refused with. */
  const dial = (localAddress = '127.0.0.1') =>
    new Promise<WebSocket | { status: number; retryAfter: string | undefined }>((resolve, reject) => {
      const ws = new WebSocket(url, { localAddress });
      ws.once('open', () => {
        open.push(ws);
        resolve(ws);
      });
      ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined }));
      ws.once('error', (e) => reject(e));
    });
  const closed = (ws: WebSocket) => new Promise<void>((resolve) => (ws.readyState === WebSocket.CLOSED ? resolve() : ws.once('close', () => resolve())));

  test('over the cap per address a connection is refused 429 with Retry-After; a place frees when a waiting one closes; the total cap holds across addresses', async () => {
    const first = await dial();
    const second = await dial();
    expect(first).toBeInstanceOf(WebSocket);
    expect(second).toBeInstanceOf(WebSocket);
    expect(await dial()).toEqual({ status: 429, retryAfter: '5' });
    // Another address has places of its own, up to the total (3).
    expect(await dial('127.0.0.2')).toBeInstanceOf(WebSocket);
    expect(await dial('127.0.0.3')).toEqual({ status: 429, retryAfter: '5' });
    // A waiting connection that goes gives its place back (the server sees the close a little later: retried).
    (first as WebSocket).close();
    await closed(first as WebSocket);
    const again = await until('a place freed by the closed connection', async () => {
      const dialled = await dial();
      return dialled instanceof WebSocket ? dialled : undefined;
    }, 10_000, 20);
    expect(again).toBeInstanceOf(WebSocket);
  });
});
