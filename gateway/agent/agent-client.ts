import { randomUUID } from 'node:crypto';
import { RspError, TimeoutError, UnavailableError, UnsupportedOperationError } from '../errors';
import type { InteractiveProcess } from '../../drivers/contract';
import type { AgentMethod, EnvironmentTarget, HostAgent } from './host-agent';
import type { FrameChannel } from './frame-channel';
import { encodeFrame } from './frame-codec';
import { PendingCalls, type PendingCall } from './pending-calls';
import { AGENT_METHOD_SINCE, AGENT_PROTOCOL_VERSION, OLDEST_AGENT_PROTOCOL_VERSION } from './protocol';
import type { AgentHello, CallContext, RequestFrame } from './protocol';
import { decodeStreamFrame, frameValue, OPEN_SESSION, SESSIONS_FEATURE, SESSIONS_MIN_PROTOCOL } from './stream-frames';
import type { OpenSessionParams } from './stream-frames';
import { SessionClient } from './stream-sessions';
import { RSP_VERSION } from '../version';
import type { Logger } from '../logging/logger';

/** How long an agent has to start a session's process. */
const OPEN_SESSION_MS = 60_000;

/** How long after a call's deadline the client stops waiting for the agent's own TIMEOUT answer. */
const DEFAULT_DEADLINE_GRACE_MS = 5_000;

/** Options of an `AgentClient`. */
export interface AgentClientOptions {
  /** How long past a call's deadline to wait for the agent's answer before failing it here with TIMEOUT. */
  deadlineGraceMs?: number;
  /**
   * A call made without a deadline gets one this many ms off, sent to the agent like any other
   * (the relay between gateway replicas sets it: an answer lost on the way must not hang a call).
   */
  defaultTimeoutMs?: number;
  /**
   * The protocol version of the connection (negotiated at the handshake; default this code's
   * newest): every frame carries it, and a call that came in a later version is refused here with
   * UNSUPPORTED_OPERATION. `per-call` (between gateway replicas, which have no handshake): each
   * frame carries the oldest version that has its call, so a replica one version older takes it.
   */
  protocol?: number | 'per-call';
  /**
   * With `per-call`: the newest version this end speaks (default this code's newest). A call that
   * came in a later one is refused here with UNSUPPORTED_OPERATION, as a replica of that version,
   * which lacks it, would (tests pin a replica to N−1 with it).
   */
  newestProtocol?: number;
  /** Where a session the agent broke the protocol of is logged (stream-sessions.ts). */
  logger?: Logger;
}

type Params<M extends AgentMethod> = Parameters<HostAgent[M]>[0];
type Answer<M extends AgentMethod> = Awaited<ReturnType<HostAgent[M]>>;

/**
 * A host agent on the other end of a frame channel: each call is a request frame
 * `{ id, protocol, method, params, context }`; the answer frame with the same id resolves it, an
 * error frame rejects it with the RspError subclass of its category. A call past its deadline (and
 * the grace) fails here with TIMEOUT and its operation is cancelled on the agent; a closed channel
 * fails every call in flight with UNAVAILABLE.
 */
export class AgentClient implements HostAgent {
  private readonly pending = new PendingCalls();
  private readonly graceMs: number;
  private readonly defaultTimeoutMs: number | undefined;
  /** The protocol version of the connection, or `per-call` (see `AgentClientOptions.protocol`). */
  readonly protocol: number | 'per-call';
  private readonly newestProtocol: number;
  private closed: Error | undefined;
  /** What the agent said at `connect`: its RSP version and features. */
  private greeting: AgentHello | undefined;
  private readonly sessions: SessionClient;

  constructor(
    /** The id of the agent on the other end. */
    readonly id: string,
    private readonly channel: FrameChannel,
    options: AgentClientOptions = {},
  ) {
    this.graceMs = options.deadlineGraceMs ?? DEFAULT_DEADLINE_GRACE_MS;
    this.defaultTimeoutMs = options.defaultTimeoutMs;
    this.protocol = options.protocol ?? AGENT_PROTOCOL_VERSION;
    this.newestProtocol = options.newestProtocol ?? AGENT_PROTOCOL_VERSION;
    this.sessions = new SessionClient((text) => channel.send(text), undefined, `host agent ${id}`, options.logger);
    channel.onFrame((text, parsed) => {
      const { value, isStream } = frameValue(text, parsed);
      // Not JSON (value undefined): the pending calls drop it.
      if (!isStream) return this.pending.receive(text, value);
      try {
        this.sessions.receive(decodeStreamFrame(value));
      } catch (e) {
        // A malformed stream frame ends the session it names, if any.
        this.sessions.malformed((value as { session?: unknown }).session, (e as Error).message);
      }
    });
    channel.onClose((reason) => this.fail(reason));
  }

  /** The method of the call of request id `id` while it is in flight (its answer not come yet); undefined otherwise. */
  methodInFlight(id: string): string | undefined {
    return this.pending.methodOf(id);
  }

  /** Fails call `id` with `error` (its answer was refused unread, e.g. over its bound); nothing when it is not in flight. */
  refuseAnswer(id: string, error: Error): void {
    this.pending.settle(id)?.reject(error);
  }

  /** The handshake: asks the agent who it is; UNSUPPORTED_OPERATION when it speaks another protocol version than the connection's, CONFLICT when it is another agent. */
  async connect(context?: CallContext): Promise<AgentHello> {
    const hello = await this.hello({}, context);
    const expected = this.protocol === 'per-call' ? AGENT_PROTOCOL_VERSION : this.protocol;
    if (hello.protocol !== expected) {
      throw new UnsupportedOperationError(`agent protocol ${expected}`, `host agent ${this.id}`, `it speaks protocol ${hello.protocol}`);
    }
    if (hello.agentId !== this.id) throw new RspError('CONFLICT', `The agent on this channel is "${hello.agentId}", not "${this.id}"`, { expected: this.id, got: hello.agentId });
    this.greeting = hello;
    return hello;
  }

  /**
   * Starts an interactive process on the agent: its streams travel as the session's frames on
   * this connection. UNSUPPORTED_OPERATION, naming the agent's version, when the agent did not
   * say it serves sessions at `connect` (an older release). Through another gateway replica
   * (`per-call`) the frames go in the relay's envelopes to the replica holding the agent, whose
   * relay serves the session over its own connection to the agent with the same windows and acks
   * on each leg: each leg holds at most a window per direction, whatever the readers' pace.
   */
  interactiveExec(params: EnvironmentTarget & { command: string[]; tty?: boolean; columns?: number; rows?: number }): Promise<InteractiveProcess> {
    return this.openSession('interactive exec', params);
  }

  /** Attaches to the environment's console on the agent, as a session (see `interactiveExec`). */
  console(params: EnvironmentTarget): Promise<InteractiveProcess> {
    return this.openSession('console', { ...params, console: true });
  }

  /** How many sessions are open on this connection. */
  get openSessions(): number {
    return this.sessions.size;
  }

  private async openSession(what: string, params: Omit<OpenSessionParams, 'session'>): Promise<InteractiveProcess> {
    const by = `host agent ${this.id}`;
    if (this.closed) throw this.notConnected(this.closed);
    if (this.protocol === 'per-call') {
      // Through another gateway replica: that replica serves the session over the agent it holds
      // (its relay's dispatcher), and refuses it there when that agent does not carry sessions.
      if (this.newestProtocol < SESSIONS_MIN_PROTOCOL) throw new UnsupportedOperationError(what, 'this gateway replica', `it speaks agent protocol ${this.newestProtocol} and sessions came in protocol ${SESSIONS_MIN_PROTOCOL}: upgrade it to RSP ${RSP_VERSION}`);
    } else if (!this.greeting?.features?.includes(SESSIONS_FEATURE)) {
      const runs = this.greeting ? `it runs RSP ${this.greeting.software} (agent protocol ${this.greeting.protocol}), which does not carry interactive sessions` : 'it did not say it carries interactive sessions';
      throw new UnsupportedOperationError(what, by, `${runs}: upgrade the agent to RSP ${RSP_VERSION}`);
    }
    const deadline = new Date(Date.now() + OPEN_SESSION_MS).toISOString();
    return this.sessions.open(params, (p) => this.request(OPEN_SESSION, p, { operationId: randomUUID(), deadline }));
  }

  hello(params: Params<'hello'> = {}, context?: CallContext) {
    return this.call('hello', params, context);
  }

  cancel(params: Params<'cancel'>, context?: CallContext) {
    return this.call('cancel', params, context);
  }

  drivers(params: Params<'drivers'> = {}, context?: CallContext) {
    return this.call('drivers', params, context);
  }

  hostFacts(params: Params<'hostFacts'> = {}, context?: CallContext) {
    return this.call('hostFacts', params, context);
  }

  hostSample(params: Params<'hostSample'> = {}, context?: CallContext) {
    return this.call('hostSample', params, context);
  }

  createEnvironment(params: Params<'createEnvironment'>, context?: CallContext) {
    return this.call('createEnvironment', params, context);
  }

  startEnvironment(params: Params<'startEnvironment'>, context?: CallContext) {
    return this.call('startEnvironment', params, context);
  }

  stopEnvironment(params: Params<'stopEnvironment'>, context?: CallContext) {
    return this.call('stopEnvironment', params, context);
  }

  destroyEnvironment(params: Params<'destroyEnvironment'>, context?: CallContext) {
    return this.call('destroyEnvironment', params, context);
  }

  resizeEnvironment(params: Params<'resizeEnvironment'>, context?: CallContext) {
    return this.call('resizeEnvironment', params, context);
  }

  snapshotEnvironment(params: Params<'snapshotEnvironment'>, context?: CallContext) {
    return this.call('snapshotEnvironment', params, context);
  }

  environmentSnapshots(params: Params<'environmentSnapshots'>, context?: CallContext) {
    return this.call('environmentSnapshots', params, context);
  }

  rollbackSnapshot(params: Params<'rollbackSnapshot'>, context?: CallContext) {
    return this.call('rollbackSnapshot', params, context);
  }

  deleteSnapshot(params: Params<'deleteSnapshot'>, context?: CallContext) {
    return this.call('deleteSnapshot', params, context);
  }

  inspectEnvironment(params: Params<'inspectEnvironment'>, context?: CallContext) {
    return this.call('inspectEnvironment', params, context);
  }

  listEnvironments(params: Params<'listEnvironments'>, context?: CallContext) {
    return this.call('listEnvironments', params, context);
  }

  environmentStats(params: Params<'environmentStats'>, context?: CallContext) {
    return this.call('environmentStats', params, context);
  }

  exec(params: Params<'exec'>, context?: CallContext) {
    return this.call('exec', params, context);
  }

  environmentLog(params: Params<'environmentLog'>, context?: CallContext) {
    return this.call('environmentLog', params, context);
  }

  volumesBytes(params: Params<'volumesBytes'>, context?: CallContext) {
    return this.call('volumesBytes', params, context);
  }

  removeVolumes(params: Params<'removeVolumes'>, context?: CallContext) {
    return this.call('removeVolumes', params, context);
  }

  exportEnvironment(params: Params<'exportEnvironment'>, context?: CallContext) {
    return this.call('exportEnvironment', params, context);
  }

  importEnvironment(params: Params<'importEnvironment'>, context?: CallContext) {
    return this.call('importEnvironment', params, context);
  }

  hasArtifact(params: Params<'hasArtifact'>, context?: CallContext) {
    return this.call('hasArtifact', params, context);
  }

  deleteArtifact(params: Params<'deleteArtifact'>, context?: CallContext) {
    return this.call('deleteArtifact', params, context);
  }

  collectArtifacts(params: Params<'collectArtifacts'> = {}, context?: CallContext) {
    return this.call('collectArtifacts', params, context);
  }

  verifyArtifact(params: Params<'verifyArtifact'>, context?: CallContext) {
    return this.call('verifyArtifact', params, context);
  }

  scrubArtifact(params: Params<'scrubArtifact'>, context?: CallContext) {
    return this.call('scrubArtifact', params, context);
  }

  checkChunks(params: Params<'checkChunks'>, context?: CallContext) {
    return this.call('checkChunks', params, context);
  }

  getManifest(params: Params<'getManifest'>, context?: CallContext) {
    return this.call('getManifest', params, context);
  }

  putManifest(params: Params<'putManifest'>, context?: CallContext) {
    return this.call('putManifest', params, context);
  }

  missingChunks(params: Params<'missingChunks'>, context?: CallContext) {
    return this.call('missingChunks', params, context);
  }

  getChunks(params: Params<'getChunks'>, context?: CallContext) {
    return this.call('getChunks', params, context);
  }

  putChunks(params: Params<'putChunks'>, context?: CallContext) {
    return this.call('putChunks', params, context);
  }

  /** Sends one request and waits for its answer. */
  private call<M extends AgentMethod>(method: M, params: Params<M>, context?: CallContext): Promise<Answer<M>> {
    return new Promise<Answer<M>>((resolve, reject) => {
      if (this.closed) return reject(this.notConnected(this.closed, method));
      const since = AGENT_METHOD_SINCE[method];
      if (this.protocol !== 'per-call' && since > this.protocol) {
        return reject(new UnsupportedOperationError(method, `host agent ${this.id}`, `it speaks agent protocol ${this.protocol} and ${method} came in protocol ${since}: upgrade the agent to RSP ${RSP_VERSION}`));
      }
      if (this.protocol === 'per-call' && since > this.newestProtocol) {
        return reject(new UnsupportedOperationError(method, 'this gateway replica', `it speaks agent protocol ${this.newestProtocol} and ${method} came in protocol ${since}: upgrade it to RSP ${RSP_VERSION}`));
      }
      const protocol = this.protocol === 'per-call' ? Math.max(since, OLDEST_AGENT_PROTOCOL_VERSION) : this.protocol;
      this.request(method, params, context, protocol).then(resolve as (value: unknown) => void, reject);
    });
  }

  /** Sends one request of `protocol` (default the connection's) and waits for its answer. */
  private request(method: string, params: unknown, context?: CallContext, protocol: number = this.protocol === 'per-call' ? AGENT_PROTOCOL_VERSION : this.protocol): Promise<unknown> {
    return new Promise<unknown>((resolve, reject) => {
      if (this.closed) return reject(this.notConnected(this.closed, method));
      const frame: RequestFrame = { type: 'request', id: this.pending.nextId(), protocol, method, params: params ?? {}, context: this.withDeadline(context ?? { operationId: randomUUID() }) };
      let text: string;
      try {
        text = encodeFrame(frame);
      } catch (e) {
        return reject(e);
      }
      const entry: PendingCall = { method, resolve, reject };
      const deadline = frame.context.deadline ? Date.parse(frame.context.deadline) : NaN;
      if (!Number.isNaN(deadline)) {
        const waitMs = Math.max(0, deadline - Date.now()) + this.graceMs;
        entry.timer = setTimeout(() => {
          this.pending.settle(frame.id);
          reject(new TimeoutError(`${method} on host agent ${this.id}`, waitMs, { agent: this.id, operationId: frame.context.operationId, deadline: frame.context.deadline }));
          void this.cancel({ operationId: frame.context.operationId }).catch(() => undefined);
        }, waitMs);
        entry.timer.unref?.();
      }
      this.pending.add(frame.id, entry);
      try {
        this.channel.send(text);
      } catch (e) {
        // A channel's own refusal (a closed channel, a frame over its size cap) keeps its category.
        const error = e instanceof RspError ? e : new UnavailableError(`Host agent ${this.id} could not be reached: ${(e as Error).message}`, { agent: this.id, method }, { cause: e });
        this.pending.settle(frame.id)?.reject(error);
      }
    });
  }

  /** `context`, with the default deadline when it has none and this client has a default. */
  private withDeadline(context: CallContext): CallContext {
    if (context.deadline || this.defaultTimeoutMs === undefined) return context;
    return { ...context, deadline: new Date(Date.now() + this.defaultTimeoutMs).toISOString() };
  }

  /** The UNAVAILABLE of a call (`method`) or session asked after the channel closed (`reason`). */
  private notConnected(reason: Error, method?: string): UnavailableError {
    return new UnavailableError(`Host agent ${this.id} is not connected: ${reason.message}`, { agent: this.id, ...(method !== undefined ? { method } : {}) });
  }

  /** The channel closed: every call in flight fails with UNAVAILABLE, and so does every later call. */
  private fail(reason: Error): void {
    this.closed ??= reason;
    this.pending.failAll((call) => new UnavailableError(`Host agent ${this.id} went away during ${call.method}: ${reason.message}`, { agent: this.id, method: call.method }));
    this.sessions.failAll(new UnavailableError(`Host agent ${this.id} went away during the session: ${reason.message}`, { agent: this.id }));
  }
}
