import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';

/**
 * Makes the messages `ws` sends within one turn of the event loop leave in one write: the first
 * send of a turn corks the connection and the next turn (`setImmediate`) uncorks it. A client that
 * sends 20 subscriptions at once gets their 20 answers in one system call instead of 20 — in a
 * burst of sockets those calls are most of the gateway's time. Frames are never held longer than
 * the turn that sent them.
 */
export function batchFramesPerTurn(ws: WebSocket, socket: Duplex): void {
  const send = ws.send.bind(ws) as (...args: unknown[]) => void;
  let corked = false;
  ws.send = ((...args: unknown[]) => {
    if (!corked && !socket.destroyed) {
      corked = true;
      socket.cork();
      setImmediate(() => {
        corked = false;
        socket.uncork();
      });
    }
    send(...args);
  }) as WebSocket['send'];
}
