import { BadInputError, UnsupportedOperationError } from '../errors';
import type { Logger } from '../logging/logger';
import { AGENT_METHODS } from './host-agent';
import type { AgentMethod, HostAgent } from './host-agent';
import type { FrameChannel } from './frame-channel';
import { decodeFrame, encodeFrame } from './frame-codec';
import { AGENT_METHOD_SINCE, AGENT_PROTOCOL_VERSION } from './protocol';
import type { AgentFrame, AgentHello, RequestFrame } from './protocol';
import { protocolRefusal } from './protocol-refusal';
import { decodeStreamFrame, frameValue, OPEN_SESSION, SESSIONS_FEATURE, SESSIONS_MIN_PROTOCOL } from './stream-frames';
import { SessionServer } from './stream-sessions';
import { toWireError } from './wire-error';
import { answerBound, answerTooLarge, CONTROL_ANSWER_BYTES } from './remote/frame-limits';

/**
 * The agent's end of a frame channel: reads request frames, refuses what it cannot answer (a
 * malformed frame, a protocol version it does not speak, a call its frame's version lacks) with an
 * error frame, calls the agent and answers with its result or its error as data. Calls run
 * concurrently. `protocol` is the version of the connection (negotiated at the handshake; between
 * gateway replicas, this code's newest): frames of that version or of an older one this code
 * still speaks are taken, and `hello` answers with it. On a connection of protocol 5 or newer it
 * serves interactive sessions (`openSession` and `stream` frames, `SessionServer`) when the agent
 * can start them, and says so in `hello` (`features`); a closed channel ends them all.
 */
export class AgentDispatcher {
  private readonly sessions: SessionServer | undefined;

  constructor(
    private readonly agent: HostAgent,
    private readonly channel: FrameChannel,
    private readonly logger?: Logger,
    private readonly protocol: number = AGENT_PROTOCOL_VERSION,
  ) {
    if (protocol >= SESSIONS_MIN_PROTOCOL && (agent.interactiveExec || agent.console)) {
      const sessions = new SessionServer(agent, (text) => channel.send(text), logger);
      channel.onClose(() => sessions.closeAll());
      this.sessions = sessions;
    }
    channel.onFrame((text, parsed) => void this.receive(text, parsed));
  }

  private async receive(text: string, parsed?: unknown): Promise<void> {
    if (this.sessions) {
      // Not JSON (value undefined): decodeFrame below refuses it.
      const { value, isStream } = frameValue(text, parsed);
      parsed = value;
      if (isStream) {
        try {
          return this.sessions.receive(decodeStreamFrame(value));
        } catch (e) {
          this.logger?.warn({ err: e, agent: this.agent.id }, 'dropped a malformed stream frame');
          return;
        }
      }
    }
    let frame: AgentFrame;
    try {
      frame = decodeFrame(text, parsed);
    } catch (e) {
      this.logger?.warn({ err: e, agent: this.agent.id }, 'refused a malformed agent frame');
      const id = (e as { details?: { id?: unknown } }).details?.id;
      return this.answer({ type: 'error', id: typeof id === 'string' ? id : null, error: toWireError(e) });
    }
    if (frame.type !== 'request') {
      return this.answer({ type: 'error', id: frame.id, error: toWireError(new BadInputError(`Host agent ${this.agent.id} takes request frames, not ${frame.type}`)) });
    }
    if (frame.method === OPEN_SESSION && this.sessions && frame.protocol >= SESSIONS_MIN_PROTOCOL) return this.openSession(frame);
    const refusal = this.refusal(frame);
    if (refusal) {
      this.logger?.warn({ agent: this.agent.id, method: frame.method, protocol: frame.protocol, reason: refusal.message }, 'refused an agent call');
      return this.answer({ type: 'error', id: frame.id, error: toWireError(refusal) });
    }
    try {
      const call = this.agent[frame.method as AgentMethod] as (params: unknown, context: unknown) => Promise<unknown>;
      let result = await call.call(this.agent, frame.params ?? {}, frame.context);
      // `hello` says the version of this connection: the agent's own newest, down to the negotiated one.
      if (frame.method === 'hello') result = { ...(result as AgentHello), protocol: Math.min((result as AgentHello).protocol, this.protocol), ...(this.sessions ? { features: [SESSIONS_FEATURE] } : {}) };
      this.answer({ type: 'result', id: frame.id, result: result ?? null }, frame.method);
    } catch (e) {
      this.answer({ type: 'error', id: frame.id, error: toWireError(e) });
    }
  }

  /** Starts a session's process, answers the call, then lets its output flow. */
  private async openSession(frame: RequestFrame): Promise<void> {
    let start: () => void;
    try {
      start = await this.sessions!.open(frame.params);
    } catch (e) {
      return this.answer({ type: 'error', id: frame.id, error: toWireError(e) });
    }
    this.answer({ type: 'result', id: frame.id, result: {} });
    start();
  }

  /** Why a request cannot be answered, or undefined. */
  private refusal(frame: RequestFrame): Error | undefined {
    const by = `host agent ${this.agent.id}`;
    const refused = protocolRefusal(AGENT_METHOD_SINCE, frame, this.protocol, by);
    if (refused) return refused;
    if (!Object.hasOwn(AGENT_METHOD_SINCE, frame.method)) return new UnsupportedOperationError(`the call "${frame.method}"`, by, `its calls are ${AGENT_METHODS.join(', ')}`);
    if (frame.params !== undefined && (typeof frame.params !== 'object' || Array.isArray(frame.params))) return new BadInputError(`The params of ${frame.method} must be an object`, { method: frame.method });
    return undefined;
  }

  /**
   * Sends an answer; an answer that is not plain data goes as an INTERNAL error instead, and the
   * result of `method` over its bound (`AGENT_ANSWER_BOUNDS`) as AGENT_ANSWER_TOO_LARGE: the
   * gateway would refuse it, so it is never sent.
   */
  private answer(frame: AgentFrame, method?: string): void {
    let text: string;
    try {
      text = encodeFrame(frame);
    } catch (e) {
      this.logger?.error({ err: e, agent: this.agent.id }, 'an agent answer is not plain data');
      text = encodeFrame({ type: 'error', id: frame.id, error: toWireError(e) });
    }
    if (method !== undefined && text.length * 3 > CONTROL_ANSWER_BYTES) {
      const bytes = Buffer.byteLength(text);
      if (bytes > answerBound(method)) {
        this.logger?.warn({ agent: this.agent.id, method, bytes }, 'an agent answer is over its bound: AGENT_ANSWER_TOO_LARGE is sent instead');
        text = encodeFrame({ type: 'error', id: frame.id, error: toWireError(answerTooLarge(this.agent.id, method, bytes)) });
      }
    }
    try {
      this.channel.send(text);
    } catch (e) {
      this.logger?.warn({ err: e, agent: this.agent.id }, 'could not send an agent answer: the channel is closed');
    }
  }
}
