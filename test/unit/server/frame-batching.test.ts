import { createServer, Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { batchFramesPerTurn } from '../../../gateway/server/frame-batching';

/** A ws server on loopback that batches its sockets' frames (or not) and counts the writes each connection hands to the kernel. */
async function serve(batch: boolean, onConnection: (ws: WebSocket) => void): Promise<{ url: string; writes: () => number; close: () => Promise<void> }> {
  const wss = new WebSocketServer({ noServer: true });
  let writes = 0;
  const http: Server = createServer();
  http.on('upgrade', (req, socket: Socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      // Counted from here: the handshake's answer is written already.
      const net = socket as Socket & { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
      for (const method of ['_write', '_writev'] as const) {
        const original = net[method].bind(net);
        net[method] = (...args: unknown[]) => {
          writes++;
          original(...args);
        };
      }
      if (batch) batchFramesPerTurn(ws, socket);
      onConnection(ws);
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  return {
    url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}`,
    writes: () => writes,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise((r) => http.close(r));
    },
  };
}

/** Connects to `url` and resolves with the first `count` messages it reads. */
function receive(url: string, count: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const got: string[] = [];
    const ws = new WebSocket(url);
    ws.on('error', reject);
    ws.on('message', (data: Buffer) => {
      got.push(data.toString());
      if (got.length === count) {
        ws.close();
        resolve(got);
      }
    });
  });
}

const messages = (from: number, n: number) => Array.from({ length: n }, (_, i) => JSON.stringify({ id: `s${from + i}`, type: 'error', payload: [{ message: 'refused' }] }));

describe('frames sent in one turn of the event loop', () => {
  test('leave in one write, in order; those of a later turn in one more, none held', async () => {
    const server = await serve(true, (ws) => {
      for (const m of messages(0, 20)) ws.send(m);
      setTimeout(() => messages(20, 5).forEach((m) => ws.send(m)), 0);
    });
    try {
      expect(await receive(server.url, 25)).toEqual(messages(0, 25));
      expect(server.writes()).toBe(2);
    } finally {
      await server.close();
    }
  });

  test('without the batching each frame is a write of its own (what the batching saves)', async () => {
    const server = await serve(false, (ws) => messages(0, 20).forEach((m) => ws.send(m)));
    try {
      expect(await receive(server.url, 20)).toEqual(messages(0, 20));
      expect(server.writes()).toBe(20);
    } finally {
      await server.close();
    }
  });

  test('a close in the same turn goes after the frames sent before it (a revoked token: its last message, then 4403)', async () => {
    const server = await serve(true, (ws) => {
      for (const m of messages(0, 3)) ws.send(m);
      ws.close(4403, 'Forbidden: the token was revoked');
    });
    try {
      const got = await new Promise<{ messages: string[]; code: number; reason: string }>((resolve, reject) => {
        const received: string[] = [];
        const ws = new WebSocket(server.url);
        ws.on('error', reject);
        ws.on('message', (data: Buffer) => received.push(data.toString()));
        ws.on('close', (code, reason) => resolve({ messages: received, code, reason: reason.toString() }));
      });
      expect(got).toEqual({ messages: messages(0, 3), code: 4403, reason: 'Forbidden: the token was revoked' });
    } finally {
      await server.close();
    }
  });
});
