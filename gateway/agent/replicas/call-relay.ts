import { UnavailableError } from '../../errors';
import type { Logger } from '../../logging/logger';
import { AgentClient } from '../agent-client';
import { AgentDispatcher } from '../agent-dispatcher';
import type { FrameChannel } from '../frame-channel';
import { encodeFrame } from '../frame-codec';
import type { HostAgent } from '../host-agent';
import { toWireError } from '../wire-error';
import { decodeEnvelope, DEFAULT_MAX_RELAY_FRAME_BYTES, encodeEnvelope, RelayFrameTooLargeError } from './relay-envelope';
import { BUS_NAMES, type ReplicaBus } from './relay-transport';

/** Options of a `CallRelay`. */
export interface CallRelayOptions {
  /** This replica's id: its request and reply channels are named after it. */
  replicaId: string;
  bus: ReplicaBus;
  /** The agents connected to this replica (never a relayed one: a call is relayed once). */
  localAgent(agentId: string): HostAgent | undefined;
  logger: Logger;
  /** Largest relayed envelope in bytes; default 16 MiB. */
  maxFrameBytes?: number;
  /** How long past a call's deadline to wait for the other replica's answer. */
  deadlineGraceMs?: number;
  /** The deadline of a relayed call made without one, this many ms off; default 15 minutes. */
  callTimeoutMs?: number;
  /** The newest agent protocol version this replica speaks (default this code's; tests pin a replica to N−1). */
  newestProtocol?: number;
}

/**
 * `details.reason` of the UNAVAILABLE a replica answers a relayed call with when the agent is not
 * connected to it: the call reached no agent, so it can be made again where the agent is now.
 */
export const AGENT_NOT_HERE = 'AGENT_NOT_HERE';

/** True when `error` is a replica's answer that `replicaId` does not hold the agent (`AGENT_NOT_HERE`): the call reached no agent. */
export function agentNotAt(error: unknown, replicaId: string): boolean {
  const e = error as { category?: unknown; details?: { reason?: unknown; replica?: unknown } } | null;
  return e?.category === 'UNAVAILABLE' && e.details?.reason === AGENT_NOT_HERE && e.details.replica === replicaId;
}

/** The default deadline of a relayed call made without one (ms). */
export const DEFAULT_RELAY_CALL_TIMEOUT_MS = 15 * 60_000;

/** One end of a relayed conversation: a frame channel whose frames come from the relay. */
interface RelayLine {
  channel: FrameChannel;
  deliver(frame: string): void;
  close(reason: Error): void;
}

/**
 * Calls between gateway replicas, over Redis. A replica reaches an agent connected to another one
 * through `agentAt(replica, agent)`: an `AgentClient` whose frames travel in envelopes on that
 * replica's request channel and come back on this one's reply channel, so request ids, deadlines
 * (with TIMEOUT and `cancel` sent after them) and cancellation are the agent protocol's own; a call
 * made without a deadline gets one (`callTimeoutMs`), so an answer lost on the bus ends it with
 * TIMEOUT instead of leaving it waiting forever. The
 * other replica serves them with an `AgentDispatcher` over the agent it holds. Each frame carries
 * the oldest protocol version that has its call, so a replica one version older takes it. A frame over the
 * size cap is refused with a clear error; a replica that goes away fails the calls in flight to it
 * with UNAVAILABLE (`replicaGone`).
 */
export class CallRelay {
  private readonly maxBytes: number;
  /** Calls this replica makes, by `<replica>\n<agent>`. */
  private readonly outgoing = new Map<string, { client: AgentClient; line: RelayLine }>();
  /** Calls this replica serves, by `<caller replica>\n<agent>`. */
  private readonly serving = new Map<string, { agent: HostAgent; line: RelayLine }>();
  private stopped = false;

  constructor(private readonly options: CallRelayOptions) {
    this.maxBytes = options.maxFrameBytes ?? DEFAULT_MAX_RELAY_FRAME_BYTES;
  }

  /** Listens on this replica's request and reply channels. */
  async start(): Promise<void> {
    const { bus, replicaId } = this.options;
    bus.onInterrupted((reason) => this.interrupted(reason));
    await bus.subscribe(BUS_NAMES.requests(replicaId), (text) => this.request(text));
    await bus.subscribe(BUS_NAMES.replies(replicaId), (text) => this.reply(text));
  }

  /** Agent `agentId`, connected to replica `replicaId`, reached through the relay. */
  agentAt(replicaId: string, agentId: string): HostAgent {
    const key = `${replicaId}\n${agentId}`;
    const known = this.outgoing.get(key);
    if (known) return known.client;
    const line = this.line(`host agent ${agentId} through gateway replica ${replicaId}`, (envelope) => this.options.bus.publish(BUS_NAMES.requests(replicaId), envelope), agentId, false, () => this.outgoing.delete(key));
    const client = new AgentClient(agentId, line.channel, { protocol: 'per-call', ...(this.options.newestProtocol !== undefined ? { newestProtocol: this.options.newestProtocol } : {}), defaultTimeoutMs: this.options.callTimeoutMs ?? DEFAULT_RELAY_CALL_TIMEOUT_MS, ...(this.options.deadlineGraceMs !== undefined ? { deadlineGraceMs: this.options.deadlineGraceMs } : {}) });
    this.outgoing.set(key, { client, line });
    if (this.stopped) line.close(new UnavailableError('The call relay is stopped'));
    return client;
  }

  /** Replica `replicaId` is gone: the calls in flight to it fail with UNAVAILABLE, and the ones it made here are dropped. */
  replicaGone(replicaId: string, reason: string): void {
    const error = new UnavailableError(`Gateway replica ${replicaId} is gone (${reason})`, { replica: replicaId });
    for (const [key, { line }] of [...this.outgoing, ...this.serving]) if (key.startsWith(`${replicaId}\n`)) line.close(error);
  }

  /** Agent `agentId` left replica `replicaId` (it connected elsewhere): the calls in flight to it there are lost, and fail with UNAVAILABLE. */
  agentMoved(replicaId: string, agentId: string): void {
    this.outgoing.get(`${replicaId}\n${agentId}`)?.line.close(new UnavailableError(`Host agent ${agentId} left gateway replica ${replicaId} (it connected elsewhere)`, { agent: agentId, replica: replicaId }));
  }

  /** Stops listening; every relayed call in flight fails with UNAVAILABLE. */
  async stop(): Promise<void> {
    this.stopped = true;
    const error = new UnavailableError('The call relay of this gateway replica stopped');
    for (const { line } of [...this.outgoing.values(), ...this.serving.values()]) line.close(error);
    const { bus, replicaId } = this.options;
    await Promise.allSettled([bus.unsubscribe(BUS_NAMES.requests(replicaId)), bus.unsubscribe(BUS_NAMES.replies(replicaId))]);
  }

  /**
   * The bus may have lost messages (`reason`): every relayed call and session in flight, both
   * ways, ends with UNAVAILABLE, since a lost frame would be missing output and a lost
   * acknowledgement would stall a session for good. Later calls open new lines.
   */
  private interrupted(reason: string): void {
    if (this.stopped) return;
    const lines = [...this.outgoing.values(), ...this.serving.values()];
    if (!lines.length) return;
    this.options.logger.warn({ replica: this.options.replicaId, lines: lines.length, reason }, 'the bus between gateway replicas was interrupted: ending the relayed calls and sessions in flight');
    const error = new UnavailableError(`The bus between gateway replicas was interrupted (${reason}): relayed calls and sessions in flight may have lost messages; try again`, { replica: this.options.replicaId });
    for (const { line } of lines) line.close(error);
  }

  /** A call from another replica for an agent connected here. */
  private request(text: string): void {
    const envelope = decodeEnvelope(text);
    if (!envelope) return this.options.logger.warn({ replica: this.options.replicaId }, 'dropped a malformed relay envelope');
    const { from, agent: agentId, frame } = envelope;
    const agent = this.options.localAgent(agentId);
    const key = `${from}\n${agentId}`;
    let served = this.serving.get(key);
    if (served && served.agent !== agent) {
      served.line.close(new UnavailableError(`Host agent ${agentId} reconnected`));
      served = undefined;
    }
    if (!agent) {
      const id = requestId(frame);
      const error = toWireError(new UnavailableError(`Host agent ${agentId} is not connected to gateway replica ${this.options.replicaId}`, { agent: agentId, replica: this.options.replicaId, reason: AGENT_NOT_HERE }));
      void this.send(BUS_NAMES.replies(from), encodeFrame({ type: 'error', id, error }), agentId).catch((e: unknown) => this.options.logger.warn({ err: e, replica: from }, 'could not answer a relayed call'));
      return;
    }
    if (!served) {
      const line = this.line(`gateway replica ${from}`, (envelope) => this.options.bus.publish(BUS_NAMES.replies(from), envelope), agentId, true, () => {
        if (this.serving.get(key)?.line === line) this.serving.delete(key);
      });
      new AgentDispatcher(agent, line.channel, this.options.logger, this.options.newestProtocol);
      served = { agent, line };
      this.serving.set(key, served);
    }
    served.line.deliver(frame);
  }

  /** An answer from another replica to a call this one relayed. */
  private reply(text: string): void {
    const envelope = decodeEnvelope(text);
    if (!envelope) return this.options.logger.warn({ replica: this.options.replicaId }, 'dropped a malformed relay envelope');
    this.outgoing.get(`${envelope.from}\n${envelope.agent}`)?.line.deliver(envelope.frame);
  }

  /** Sends a frame for `agentId` in an envelope from this replica. */
  private send(channel: string, frame: string, agentId: string): Promise<void> {
    return this.options.bus.publish(channel, encodeEnvelope({ from: this.options.replicaId, agent: agentId, frame }, this.maxBytes));
  }

  /**
   * A frame channel whose frames go out through `publish` in envelopes. An envelope over the cap
   * throws RelayFrameTooLargeError from `send` on a line of requests (the call fails at once); on a
   * line of `answers` the answer is replaced by an error frame with the same id. A failed publish closes the line.
   */
  private line(peer: string, publish: (envelope: string) => Promise<void>, agentId: string, answers: boolean, onClosed: () => void): RelayLine {
    let closed: Error | undefined;
    const frames: Array<(frame: string) => void> = [];
    const closes: Array<(reason: Error) => void> = [];
    const close = (reason: Error) => {
      if (closed) return;
      closed = reason;
      onClosed();
      for (const handler of closes) handler(reason);
    };
    const wrap = (frame: string) => encodeEnvelope({ from: this.options.replicaId, agent: agentId, frame }, this.maxBytes);
    const channel: FrameChannel = {
      send: (frame) => {
        if (closed) throw new UnavailableError(`The relay to ${peer} is closed: ${closed.message}`, { agent: agentId });
        let envelope: string;
        try {
          envelope = wrap(frame);
        } catch (e) {
          if (!(e instanceof RelayFrameTooLargeError) || !answers) throw e;
          this.options.logger.warn({ err: e, agent: agentId, peer }, 'a relayed answer is over the frame cap: an error goes back instead');
          envelope = wrap(encodeFrame({ type: 'error', id: requestId(frame), error: toWireError(e) }));
        }
        publish(envelope).catch((e: unknown) => close(new UnavailableError(`The relay to ${peer} failed: ${(e as Error).message}`, { agent: agentId }, { cause: e })));
      },
      onFrame: (handler) => void frames.push(handler),
      onClose: (handler) => {
        if (closed) handler(closed);
        else closes.push(handler);
      },
    };
    return {
      channel,
      deliver: (frame) => {
        if (!closed) for (const handler of frames) handler(frame);
      },
      close,
    };
  }
}

/** The id of the frame in `text`, or null when it cannot be read. */
function requestId(text: string): string | null {
  try {
    const id = (JSON.parse(text) as { id?: unknown } | null)?.id;
    return typeof id === 'string' ? id : null;
  } catch {
    return null;
  }
}
