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
 * directions never meet), with its JSON read once here (`parsed`: the lanes' readers do not parse
 * it again). A session's `stream` frame goes to the lane of the side that opens sessions
 * (`streams`: `outgoing` at the gateway, whose client opens them; `incoming` at the agent, whose
 * dispatcher serves them). A message that is not a frame at all goes to `malformed`, with why.
 */
export function callLanes(channel: FrameChannel, malformed: (problem: string) => void, streams: 'incoming' | 'outgoing'): CallLanes {
  type Handler = (frame: string, parsed?: unknown) => void;
  const handlers = { incoming: [] as Handler[], outgoing: [] as Handler[] };
  channel.onFrame((text) => {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return malformed('a message that is not JSON');
    }
    const type = value && typeof value === 'object' && !Array.isArray(value) ? (value as { type?: unknown }).type : undefined;
    if (type === 'request') for (const h of handlers.incoming) h(text, value);
    else if (type === 'result' || type === 'error') for (const h of handlers.outgoing) h(text, value);
    else if (type === 'stream') for (const h of handlers[streams]) h(text, value);
    else malformed(`a message of unknown type ${JSON.stringify(type ?? null)}`);
  });
  const lane = (name: keyof typeof handlers): FrameChannel => ({
    send: (frame) => channel.send(frame),
    onFrame: (handler) => void handlers[name].push(handler),
    onClose: (handler) => channel.onClose(handler),
  });
  return { incoming: lane('incoming'), outgoing: lane('outgoing') };
}
