/**
 * Where agent frames travel: text in, text out, in order. The loopback (`loopback-channel.ts`)
 * is one in this process; a WebSocket is one between machines.
 */
export interface FrameChannel {
  /** Sends one frame (JSON text); throws when the channel is closed. */
  send(frame: string): void;
  /** Calls `handler` with each frame the other end sends. */
  onFrame(handler: (frame: string) => void): void;
  /** Calls `handler` once when the channel closes (the other end went away). */
  onClose(handler: (reason: Error) => void): void;
}
