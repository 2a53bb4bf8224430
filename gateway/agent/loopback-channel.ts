import { UnavailableError } from '../errors';
import { AgentClient } from './agent-client';
import { AgentDispatcher } from './agent-dispatcher';
import type { FrameChannel } from './frame-channel';
import type { HostAgent } from './host-agent';
import type { Logger } from '../logging/logger';

/** The two ends of an in-process channel; `close` closes both. */
export interface LoopbackPair {
  gatewayEnd: FrameChannel;
  agentEnd: FrameChannel;
  close(reason?: Error): void;
}

/**
 * Two connected frame channels in this process: each frame is JSON text delivered to the other
 * end on a later turn of the event loop, as a network would, never a shared object.
 */
export function loopbackPair(): LoopbackPair {
  let closed: Error | undefined;
  const ends = [0, 1].map(() => ({ frames: [] as Array<(frame: string) => void>, closes: [] as Array<(reason: Error) => void> }));
  const end = (self: number): FrameChannel => ({
    send(frame) {
      if (closed) throw new UnavailableError(`The loopback channel is closed: ${closed.message}`);
      if (typeof frame !== 'string') throw new TypeError('a frame is JSON text');
      setImmediate(() => {
        if (!closed) for (const handler of ends[1 - self]!.frames) handler(frame);
      });
    },
    onFrame(handler) {
      ends[self]!.frames.push(handler);
    },
    onClose(handler) {
      ends[self]!.closes.push(handler);
    },
  });
  return {
    gatewayEnd: end(0),
    agentEnd: end(1),
    close(reason = new Error('closed')) {
      if (closed) return;
      closed = reason;
      for (const e of ends) for (const handler of e.closes) handler(reason);
    },
  };
}

/**
 * `agent` reached through the loopback: a client whose every call and answer is JSON-encoded and
 * checked to be plain data, dispatched to `agent` on the other end.
 */
export function throughLoopback(agent: HostAgent, logger?: Logger): AgentClient {
  const pair = loopbackPair();
  new AgentDispatcher(agent, pair.agentEnd, logger);
  return new AgentClient(agent.id, pair.gatewayEnd);
}
