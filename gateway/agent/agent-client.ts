import { randomUUID } from 'node:crypto';
import { RspError, TimeoutError, UnavailableError, UnsupportedOperationError } from '../errors';
import type { AgentMethod, HostAgent } from './host-agent';
import type { FrameChannel } from './frame-channel';
import { encodeFrame } from './frame-codec';
import { PendingCalls, type PendingCall } from './pending-calls';
import { AGENT_PROTOCOL_VERSION } from './protocol';
import type { AgentHello, CallContext, RequestFrame } from './protocol';

/** How long after a call's deadline the client stops waiting for the agent's own TIMEOUT answer. */
const DEFAULT_DEADLINE_GRACE_MS = 5_000;

/** Options of an `AgentClient`. */
export interface AgentClientOptions {
  /** How long past a call's deadline to wait for the agent's answer before failing it here with TIMEOUT. */
  deadlineGraceMs?: number;
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
  private closed: Error | undefined;

  constructor(
    /** The id of the agent on the other end. */
    readonly id: string,
    private readonly channel: FrameChannel,
    options: AgentClientOptions = {},
  ) {
    this.graceMs = options.deadlineGraceMs ?? DEFAULT_DEADLINE_GRACE_MS;
    channel.onFrame((text) => this.pending.receive(text));
    channel.onClose((reason) => this.fail(reason));
  }

  /** The handshake: asks the agent who it is; UNSUPPORTED_OPERATION when it speaks another protocol version, CONFLICT when it is another agent. */
  async connect(context?: CallContext): Promise<AgentHello> {
    const hello = await this.hello({}, context);
    if (hello.protocol !== AGENT_PROTOCOL_VERSION) {
      throw new UnsupportedOperationError(`agent protocol ${AGENT_PROTOCOL_VERSION}`, `host agent ${this.id}`, `it speaks protocol ${hello.protocol}`);
    }
    if (hello.agentId !== this.id) throw new RspError('CONFLICT', `The agent on this channel is "${hello.agentId}", not "${this.id}"`, { expected: this.id, got: hello.agentId });
    return hello;
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
      if (this.closed) return reject(new UnavailableError(`Host agent ${this.id} is not connected: ${this.closed.message}`, { agent: this.id, method }));
      const frame: RequestFrame = { type: 'request', id: this.pending.nextId(), protocol: AGENT_PROTOCOL_VERSION, method, params: params ?? {}, context: context ?? { operationId: randomUUID() } };
      let text: string;
      try {
        text = encodeFrame(frame);
      } catch (e) {
        return reject(e);
      }
      const entry: PendingCall = { method, resolve: resolve as (value: unknown) => void, reject };
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

  /** The channel closed: every call in flight fails with UNAVAILABLE, and so does every later call. */
  private fail(reason: Error): void {
    this.closed ??= reason;
    this.pending.failAll((call) => new UnavailableError(`Host agent ${this.id} went away during ${call.method}: ${reason.message}`, { agent: this.id, method: call.method }));
  }
}
