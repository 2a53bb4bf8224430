import type WebSocket from 'ws';
import { UnavailableError } from '../../errors';
import type { FrameChannel } from '../frame-channel';
import { closeReason } from './handshake';

/** WebSocket's "internal error" close: not one of the final codes, so the other side may dial again. */
const INTERNAL_ERROR_CLOSE = 1011;

/**
 * A frame channel over an open WebSocket: each frame is one text message. It closes when the
 * socket does, with the close code and reason in the error. `earlier` are messages that arrived
 * before the channel was made: the first `onFrame` handler gets them on the next microtask (once
 * the caller has set up what reads them; no later message can come before, it needs an I/O turn).
 * A frame whose handler throws closes the connection (1011) rather than the process: thrown out
 * of the socket's message event, it would be an uncaught exception. `refusal` sees each message
 * before it is read: a reason it gives closes the connection (`refusal.code`) with that reason, the
 * message dropped; null drops the message (the check has dealt with it) and keeps the connection.
 */
export function websocketChannel(socket: WebSocket, peer: string, earlier: string[] = [], refusal?: { code: number; of(data: Buffer): string | null | undefined }): FrameChannel {
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
      const guarded = (frame: string) => {
        try {
          handler(frame);
        } catch (e) {
          socket.close(INTERNAL_ERROR_CLOSE, closeReason(`a frame could not be handled: ${(e as Error).message}`));
        }
      };
      const frames = earlier.splice(0);
      if (frames.length) queueMicrotask(() => frames.forEach(guarded));
      socket.on('message', (data: Buffer, isBinary: boolean) => {
        const refused = refusal?.of(data);
        if (refused === undefined) return guarded(isBinary ? '' : data.toString());
        if (refused === null) return;
        if (socket.readyState === socket.OPEN) socket.close(refusal!.code, closeReason(refused));
      });
    },
    onClose(handler) {
      if (closed) handler(closed);
      else closes.push(handler);
    },
  };
}
