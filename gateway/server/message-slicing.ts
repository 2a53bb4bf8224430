import type { WebSocket } from 'ws';
import type { TurnSlices } from './turn-slices';

/**
 * Messages a socket may have waiting for their slice before it stops reading (it reads again once
 * they are all handled): a client sending faster than its turns come fills no unbounded queue.
 */
export const MESSAGES_WAITING_PER_SOCKET = 64;

/**
 * Hands `ws`'s incoming messages to its listeners (graphql-ws) through `slices`, shared by every
 * socket: at once while a turn of the event loop has had few, else in the coming turns — a burst
 * of sockets each sending 20 subscriptions at once is handled so many messages per turn, in the
 * order they came, with other requests (a `/healthz` check, a query) answered between the slices
 * instead of after all of them. A message still waiting when its socket closes is dropped (its
 * operation would have nowhere to answer).
 */
export function sliceMessages(ws: WebSocket, slices: TurnSlices): void {
  const emit = ws.emit.bind(ws) as (event: string | symbol, ...args: unknown[]) => boolean;
  let waiting = 0;
  ws.emit = ((event: string | symbol, ...args: unknown[]): boolean => {
    if (event !== 'message') return emit(event, ...args);
    if (++waiting > MESSAGES_WAITING_PER_SOCKET && !ws.isPaused) ws.pause();
    slices.runSoon(() => {
      waiting--;
      if (ws.readyState === ws.OPEN) emit(event, ...args);
      if (waiting === 0 && ws.isPaused) ws.resume();
    });
    return ws.listenerCount('message') > 0;
  }) as WebSocket['emit'];
}
