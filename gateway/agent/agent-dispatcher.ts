import { BadInputError, UnsupportedOperationError } from '../errors';
import type { Logger } from '../logging/logger';
import { AGENT_METHODS } from './host-agent';
import type { AgentMethod, HostAgent } from './host-agent';
import type { FrameChannel } from './frame-channel';
import { decodeFrame, encodeFrame } from './frame-codec';
import { AGENT_PROTOCOL_VERSION } from './protocol';
import type { AgentFrame, RequestFrame } from './protocol';
import { toWireError } from './wire-error';

const METHODS = new Set<string>(AGENT_METHODS);

/**
 * The agent's end of a frame channel: reads request frames, refuses what it cannot answer (a
 * malformed frame, another protocol version, an unknown method) with an error frame, calls the
 * agent and answers with its result or its error as data. Calls run concurrently.
 */
export class AgentDispatcher {
  constructor(
    private readonly agent: HostAgent,
    private readonly channel: FrameChannel,
    private readonly logger?: Logger,
  ) {
    channel.onFrame((text) => void this.receive(text));
  }

  private async receive(text: string): Promise<void> {
    let frame: AgentFrame;
    try {
      frame = decodeFrame(text);
    } catch (e) {
      this.logger?.warn({ err: e, agent: this.agent.id }, 'refused a malformed agent frame');
      const id = (e as { details?: { id?: unknown } }).details?.id;
      return this.answer({ type: 'error', id: typeof id === 'string' ? id : null, error: toWireError(e) });
    }
    if (frame.type !== 'request') {
      return this.answer({ type: 'error', id: frame.id, error: toWireError(new BadInputError(`Host agent ${this.agent.id} takes request frames, not ${frame.type}`)) });
    }
    const refusal = this.refusal(frame);
    if (refusal) {
      this.logger?.warn({ agent: this.agent.id, method: frame.method, protocol: frame.protocol, reason: refusal.message }, 'refused an agent call');
      return this.answer({ type: 'error', id: frame.id, error: toWireError(refusal) });
    }
    try {
      const call = this.agent[frame.method as AgentMethod] as (params: unknown, context: unknown) => Promise<unknown>;
      const result = await call.call(this.agent, frame.params ?? {}, frame.context);
      this.answer({ type: 'result', id: frame.id, result: result ?? null });
    } catch (e) {
      this.answer({ type: 'error', id: frame.id, error: toWireError(e) });
    }
  }

  /** Why a request cannot be answered, or undefined. */
  private refusal(frame: RequestFrame): Error | undefined {
    if (frame.protocol !== AGENT_PROTOCOL_VERSION) {
      return new UnsupportedOperationError(`agent protocol ${frame.protocol}`, `host agent ${this.agent.id}`, `it speaks protocol ${AGENT_PROTOCOL_VERSION}; update the older side`);
    }
    if (!METHODS.has(frame.method)) return new UnsupportedOperationError(`the call "${frame.method}"`, `host agent ${this.agent.id}`, `its calls are ${AGENT_METHODS.join(', ')}`);
    if (frame.params !== undefined && (typeof frame.params !== 'object' || Array.isArray(frame.params))) return new BadInputError(`The params of ${frame.method} must be an object`, { method: frame.method });
    return undefined;
  }

  /** Sends an answer; an answer that is not plain data goes as an INTERNAL error instead. */
  private answer(frame: AgentFrame): void {
    let text: string;
    try {
      text = encodeFrame(frame);
    } catch (e) {
      this.logger?.error({ err: e, agent: this.agent.id }, 'an agent answer is not plain data');
      text = encodeFrame({ type: 'error', id: frame.id, error: toWireError(e) });
    }
    try {
      this.channel.send(text);
    } catch (e) {
      this.logger?.warn({ err: e, agent: this.agent.id }, 'could not send an agent answer: the channel is closed');
    }
  }
}
