import type { FrameChannel } from '../frame-channel';

/** The two directions of calls sharing one channel. */
export interface CallLanes {
  /** Calls the other side makes: its requests come in here, the answers go out. For a dispatcher. */
  incoming: FrameChannel;
  /** Calls this side makes: its requests go out here, the answers come in. For a client. */
  outgoing: FrameChannel;
}

/**
 * Splits one channel so that both sides can call each other: a request frame goes to the
 * `incoming` lane, a result or error frame to the `outgoing` lane (request ids of the two
 * directions never meet). A message that is not a frame at all goes to `malformed`, with why.
 */
export function callLanes(channel: FrameChannel, malformed: (problem: string) => void): CallLanes {
  const handlers = { incoming: [] as Array<(frame: string) => void>, outgoing: [] as Array<(frame: string) => void> };
  channel.onFrame((text) => {
    let type: unknown;
    try {
      const value: unknown = JSON.parse(text);
      type = value && typeof value === 'object' && !Array.isArray(value) ? (value as { type?: unknown }).type : undefined;
    } catch {
      return malformed('a message that is not JSON');
    }
    if (type === 'request') for (const h of handlers.incoming) h(text);
    else if (type === 'result' || type === 'error') for (const h of handlers.outgoing) h(text);
    else malformed(`a message of unknown type ${JSON.stringify(type ?? null)}`);
  });
  const lane = (name: keyof typeof handlers): FrameChannel => ({
    send: (frame) => channel.send(frame),
    onFrame: (handler) => void handlers[name].push(handler),
    onClose: (handler) => channel.onClose(handler),
  });
  return { incoming: lane('incoming'), outgoing: lane('outgoing') };
}
