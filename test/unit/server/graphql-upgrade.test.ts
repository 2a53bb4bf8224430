import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import pino from 'pino';
import { WebSocketServer } from 'ws';
import { loadConfig } from '../../../gateway/config/config';
import { RefusalLog } from '../../../gateway/limits/refusal-log';
import { RequestLimits } from '../../../gateway/limits/request-limits';
import { UnauthenticatedSockets } from '../../../gateway/limits/socket-admission';
import { graphqlUpgrade, MAX_UPGRADES_WAITING } from '../../../gateway/server/graphql-upgrade';

/** Everything written to `socket` until it ended. */
function written(socket: PassThrough): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.on('end', () => resolve(text));
  });
}

describe('graphql-ws upgrades waiting for their slice', () => {
  test('past maxWaiting waiting, an upgrade is refused at once: 503 RATE_LIMITED with Retry-After, before any check; the waiting ones are taken in their turn', async () => {
    expect(MAX_UPGRADES_WAITING).toBe(4096);
    const wsServer = new WebSocketServer({ noServer: true });
    const counted: string[] = [];
    const refusals = new RefusalLog(pino({ level: 'silent' }));
    refusals.count = (limit: string) => void counted.push(limit);
    const upgrade = graphqlUpgrade({
      limits: new RequestLimits(loadConfig({})),
      unauthenticated: new UnauthenticatedSockets({ total: 100, perAddress: 16 }),
      refusals,
      authenticate: async () => null,
      wsServer,
      maxWaiting: 2,
    });
    const req = { headers: {}, socket: { remoteAddress: '192.0.2.1' } } as unknown as IncomingMessage;
    const sockets = Array.from({ length: 3 }, () => new PassThrough());
    const answers = sockets.map(written);
    // Three arrive in one turn: two wait for their slice, the third is over the bound.
    const handled = sockets.map((socket) => upgrade.handle(req, socket, Buffer.alloc(0)));
    await handled[2];
    expect(counted).toEqual(['upgrades waiting']);
    const refused = await answers[2]!;
    expect(refused).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\nRetry-After: 1\r\n/);
    expect(JSON.parse(refused.split('\r\n\r\n')[1]!)).toEqual({ errors: [{ message: expect.stringMatching(/busy: 2 connections wait/), extensions: { code: 'RATE_LIMITED' } }] });
    // The two that waited were checked in their turn (their clients went meanwhile: nothing more to do), and the bound lets the next one wait.
    sockets[0]!.destroy();
    sockets[1]!.destroy();
    await Promise.all(handled);
    const next = new PassThrough();
    const waited = upgrade.handle(req, next, Buffer.alloc(0));
    next.destroy();
    await waited;
    expect(counted).toEqual(['upgrades waiting']);
    wsServer.close();
  });
});
