import type WebSocket from 'ws';
import { UnavailableError } from '../../errors';
import type { FrameChannel } from '../frame-channel';

/**
 * A frame channel over an open WebSocket: each frame is one text message. It closes when the
 * socket does, with the close code and reason in the error. `earlier` are messages that arrived
 * before the channel was made: the first `onFrame` handler gets them on the next microtask (once
 * the caller has set up what reads them; no later message can come before, it needs an I/O turn).
 */
export function websocketChannel(socket: WebSocket, peer: string, earlier: string[] = []): FrameChannel {
  let closed: Error | undefined;
  const closes: Array<(reason: Error) => void> = [];
  socket.on('close', (code: number, reason: Buffer) => {
    closed ??= new UnavailableError(`The connection to ${peer} closed (${code}${reason.length ? `: ${reason.toString()}` : ''})`, { peer, code });
    for (const handler of closes) handler(closed);
  });
  return {
    send(frame) {
      if (closed || socket.readyState !== socket.OPEN) throw closed ?? new UnavailableError(`The connection to ${peer} is not open`, { peer });
      socket.send(frame);
    },
    onFrame(handler) {
      const frames = earlier.splice(0);
      if (frames.length) queueMicrotask(() => frames.forEach(handler));
      socket.on('message', (data: Buffer, isBinary: boolean) => handler(isBinary ? '' : data.toString()));
    },
    onClose(handler) {
      if (closed) handler(closed);
      else closes.push(handler);
    },
  };
}
