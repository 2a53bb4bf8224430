import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { EventEmitter, once } from 'node:events';
import { loadConfig } from '../../../gateway/config/config';
import { capConnections, type ConnectionCapLimit, type ConnectionCaps } from '../../../gateway/server/connection-cap';
import type { Logger } from '../../../gateway/logging/logger';

/** A logger that keeps the warnings. */
function recordingLogger(): { logger: Logger; warnings: string[] } {
  const warnings: string[] = [];
  const logger = { warn: (_o: unknown, msg: string) => void warnings.push(msg), info: () => undefined, debug: () => undefined, error: () => undefined } as unknown as Logger;
  return { logger, warnings };
}

/** A port capped as the health port is, with what it counts. */
async function cappedServer(caps: ConnectionCaps) {
  const server: Server = createServer((_req, res) => res.end('{"ok":true}'));
  const { logger, warnings } = recordingLogger();
  const events = new EventEmitter();
  let opened = 0;
  const refused: ConnectionCapLimit[] = [];
  const cap = capConnections(server, 'health', caps, logger, {
    opened: () => events.emit('opened', ++opened),
    closed: () => events.emit('closed'),
    refused: (limit) => {
      refused.push(limit);
      events.emit('refused', limit);
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  /** Waits until `n` connections were admitted in all. */
  const admitted = async (n: number) => {
    while (opened < n) await once(events, 'opened');
  };
  return { server, port, cap, warnings, refused, events, admitted };
}

/** A client connection from `localAddress` (any 127.x address is this machine's). */
function dial(port: number, localAddress = '127.0.0.1'): Socket {
  const socket = connect({ port, host: '127.0.0.1', localAddress });
  socket.on('error', () => undefined);
  return socket;
}

/** The health port's caps when its settings are not set (RSP_HEALTH_MAX_CONNECTIONS, RSP_HEALTH_MAX_CONNECTIONS_PER_ADDRESS). */
const HEALTH_PORT_CONNECTION_CAPS: ConnectionCaps = { total: 512, perAddress: 64 };

describe('connection caps (the health port: RSP_HEALTH_PORT)', () => {
  const sockets: Socket[] = [];
  afterEach(() => {
    for (const s of sockets.splice(0)) s.destroy();
  });

  test('the health port takes at most 512 connections, 64 from one address, unless its settings say otherwise', () => {
    const caps = (env: NodeJS.ProcessEnv) => {
      const c = loadConfig(env);
      return { total: c.healthMaxConnections, perAddress: c.healthMaxConnectionsPerAddress };
    };
    expect(caps({})).toEqual(HEALTH_PORT_CONNECTION_CAPS);
    expect(caps({ RSP_HEALTH_MAX_CONNECTIONS: '2048', RSP_HEALTH_MAX_CONNECTIONS_PER_ADDRESS: '0' })).toEqual({ total: 2048, perAddress: 0 });
    expect(() => loadConfig({ RSP_HEALTH_MAX_CONNECTIONS_PER_ADDRESS: '-1' })).toThrow(/RSP_HEALTH_MAX_CONNECTIONS_PER_ADDRESS: must be ≥ 0/);
  });

  test('one address over its share is refused (closed as it comes), others still get in, and a closed connection frees its place', async () => {
    const t = await cappedServer({ total: 0, perAddress: 3 });
    try {
      for (let i = 0; i < 3; i++) sockets.push(dial(t.port));
      await t.admitted(3);
      const over = dial(t.port);
      sockets.push(over);
      await once(over, 'close');
      expect(t.refused).toEqual(['per_address']);
      expect(t.warnings).toEqual(['refused a connection: the port holds as many as it takes']);
      // Another address is not held to the first one's share.
      sockets.push(dial(t.port, '127.0.0.2'));
      await t.admitted(4);
      expect(t.cap.open()).toBe(4);
      // One of the first address's closes: its place is free again.
      const closed = once(t.events, 'closed');
      sockets[0]!.destroy();
      await closed;
      sockets.push(dial(t.port));
      await t.admitted(5);
      expect(t.cap.open()).toBe(4);
    } finally {
      t.server.close();
    }
  });

  test('over the total every address is refused; an admitted connection is served', async () => {
    const t = await cappedServer({ total: 2, perAddress: 0 });
    try {
      sockets.push(dial(t.port, '127.0.0.3'), dial(t.port, '127.0.0.4'));
      await t.admitted(2);
      const over = dial(t.port, '127.0.0.5');
      sockets.push(over);
      await once(over, 'close');
      expect(t.refused).toEqual(['total']);
      // The two admitted are answered as the health port answers.
      const answer = new Promise<string>((resolve) => {
        let text = '';
        sockets[0]!.on('data', (d: Buffer) => {
          text += d.toString();
          if (text.includes('{"ok":true}')) resolve(text);
        });
      });
      sockets[0]!.write('GET /healthz HTTP/1.1\r\nHost: health\r\n\r\n');
      expect(await answer).toMatch(/^HTTP\/1\.1 200 /);
    } finally {
      t.server.close();
    }
  });

  test('the health port caps themselves: the 65th connection of one address and the 513th in all are refused', async () => {
    const t = await cappedServer(HEALTH_PORT_CONNECTION_CAPS);
    try {
      for (let i = 0; i < 64; i++) sockets.push(dial(t.port));
      await t.admitted(64);
      const overAddress = dial(t.port);
      sockets.push(overAddress);
      await once(overAddress, 'close');
      expect(t.refused).toEqual(['per_address']);
      for (let a = 2; a <= 8; a++) for (let i = 0; i < 64; i++) sockets.push(dial(t.port, `127.0.0.${a}`));
      await t.admitted(512);
      const overTotal = dial(t.port, '127.0.0.9');
      sockets.push(overTotal);
      await once(overTotal, 'close');
      expect(t.refused).toEqual(['per_address', 'total']);
      expect(t.cap.open()).toBe(512);
    } finally {
      t.server.close();
    }
  });
});
