import pino from 'pino';
import WebSocket from 'ws';
import { AGENT_PROTOCOL_VERSION } from '../../../gateway/agent/protocol';
import type { AgentServerDeps } from '../../../gateway/agent/remote/agent-server';
import { until } from '../../helpers/until';
import { serveAgentServer } from './served-agent-server';

/** Connections to `/agent` before their handshake are anyone's: the gateway caps how many wait at once. */
describe('agent server: connections waiting for their handshake', () => {
  let served: Awaited<ReturnType<typeof serveAgentServer>>;
  let url = '';
  const open: WebSocket[] = [];

  beforeAll(async () => {
    // Nothing here reaches a handshake: the server needs only its logger and the credentials' revocation hook.
    const deps = { logger: pino({ level: 'silent' }), credentials: { onRevoked: () => undefined }, heartbeatMs: 60_000, silenceMs: 120_000, handshakeTimeoutMs: 60_000, pendingCaps: { total: 3, perAddress: 2 } } as unknown as AgentServerDeps;
    served = await serveAgentServer(deps);
    url = served.url;
  });
  afterAll(async () => {
    for (const ws of open) ws.terminate();
    await served.close();
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

/** A handshake is no credential: until its secret is authenticated the connection is still anyone's. */
describe('agent server: connections whose secret is being checked', () => {
  let served: Awaited<ReturnType<typeof serveAgentServer>>;
  let url = '';
  const open: WebSocket[] = [];
  /** Secrets being checked: the test decides when (and that) they are refused. */
  const checks: Array<(e: Error) => void> = [];

  beforeAll(async () => {
    const authenticate = () => new Promise((_resolve, reject) => checks.push(reject));
    const deps = { logger: pino({ level: 'silent' }), credentials: { onRevoked: () => undefined, authenticate }, heartbeatMs: 60_000, silenceMs: 120_000, handshakeTimeoutMs: 60_000, pendingCaps: { total: 10, perAddress: 1 } } as unknown as AgentServerDeps;
    served = await serveAgentServer(deps);
    url = served.url;
  });
  afterAll(async () => {
    for (const reject of checks) reject(new Error('the test is over'));
    for (const ws of open) ws.terminate();
    await served.close();
  });

  const dial = () =>
    new Promise<WebSocket | { status: number }>((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.once('open', () => {
        open.push(ws);
        resolve(ws);
      });
      ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0 }));
      ws.once('error', (e) => reject(e));
    });
  const handshake = JSON.stringify({ type: 'handshake', protocol: AGENT_PROTOCOL_VERSION, secret: 'rspj_made_up', software: 'x' });

  test('it keeps its place while its secret is checked, and more than 64 KiB then cuts it', async () => {
    const first = (await dial()) as WebSocket;
    expect(first).toBeInstanceOf(WebSocket);
    const closed = new Promise<number>((resolve) => first.once('close', (code) => resolve(code)));
    first.on('error', () => undefined);
    first.send(handshake);
    await until('its secret being checked', async () => checks.length === 1 || undefined, 10_000, 10);
    // Its address has one place, still held: a handshake (with any secret) does not give it back.
    expect(await dial()).toEqual({ status: 429 });
    // Frames of up to 256 MiB are for welcomed agents only.
    first.send('x'.repeat(1024 * 1024));
    expect(await closed).toBe(1006);
    // Cut, it gave its place back.
    const again = await until('the place freed by the cut connection', async () => {
      const dialled = await dial();
      return dialled instanceof WebSocket ? dialled : undefined;
    }, 10_000, 20);
    expect(again).toBeInstanceOf(WebSocket);
  });
});

