/**
 * Where agent frames travel: text in, text out, in order. The loopback (`loopback-channel.ts`)
 * is one in this process; a WebSocket is one between machines.
 */
export interface FrameChannel {
  /** Sends one frame (JSON text); throws when the channel is closed. */
  send(frame: string): void;
  /**
   * Calls `handler` with each frame the other end sends. A channel that already read the JSON
   * (the call lanes, to route it) passes it as `parsed`, so that no frame is parsed twice.
   */
  onFrame(handler: (frame: string, parsed?: unknown) => void): void;
  /** Calls `handler` once when the channel closes (the other end went away). */
  onClose(handler: (reason: Error) => void): void;
}
