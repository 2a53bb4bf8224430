import { BadInputError, UnsupportedOperationError } from '../../errors';
import type { ChunkData, ChunkTransport } from '../../artifacts/chunk-transport';
import type { Logger } from '../../logging/logger';
import type { FrameChannel } from '../frame-channel';
import { checkedFacts, type HostFactsData } from '../host-facts';
import { decodeFrame, encodeBuiltFrame, encodeFrame } from '../frame-codec';
import { AGENT_PROTOCOL_VERSION, UPSTREAM_METHOD_SINCE } from '../protocol';
import { protocolRefusal } from '../protocol-refusal';
import type { AgentFrame, FencedEnvironment, HeartbeatAnswer, HeartbeatRequest } from '../protocol';
import { toWireError } from '../wire-error';

/** The calls a remote agent may make to the gateway: its heartbeat, its facts when they change, and reading the image store's chunks. */
export const UPSTREAM_METHODS = ['heartbeat', 'reportFacts', 'hasManifest', 'getManifest', 'missingChunks', 'getChunks'] as const;

/** Chunk ids an agent asks about at once (a copy asks 4096 at most). */
export const MAX_UPSTREAM_IDS = 4096;

/**
 * Bytes of chunks (as base64 text) an agent's `getChunks` reads at once: a copy asks for a batch of
 * about 4 MiB (plus one chunk), far below it.
 */
export const MAX_UPSTREAM_CHUNK_BYTES = 32 * 1024 * 1024;

/** Chunks read from the store between two checks of the bytes read. */
const CHUNKS_READ_AT_ONCE = 16;

/** One of `UPSTREAM_METHODS`. */
export type UpstreamMethod = (typeof UPSTREAM_METHODS)[number];

/** Where the heartbeats agents push are taken (the host health service). */
export interface HeartbeatReceiver {
  /** Records a heartbeat of `agentId` and answers with its lease: at once when it can, else once known. */
  receiveHeartbeat(agentId: string, beat: HeartbeatRequest): HeartbeatAnswer | Promise<HeartbeatAnswer>;
}

/** Where the facts agents push when they change are recorded (the host facts service). */
export interface FactsReceiver {
  /** Records `agentId`'s facts on the hosts it serves: their technologies, facts and inventories. */
  recordFacts(agentId: string, facts: HostFactsData): Promise<{ hosts: unknown[]; warnings: Array<{ message: string }> }>;
}

/**
 * The gateway's end of a remote agent's calls: takes its heartbeats (answered with its lease), its
 * facts when they change (recorded on its own hosts only, as at its connection), and
 * serves the image store's chunk transport, read-only (an agent fetches the chunks of the images
 * it creates environments from). Any other call, a protocol version the connection does not speak or bad params are
 * refused with an error frame. A heartbeat — every agent's, every beat — costs one parse of its
 * frame and one JSON text of its answer (built here, so not walked for plain data).
 */
export class UpstreamDispatcher {
  constructor(
    private readonly heartbeats: HeartbeatReceiver,
    private readonly source: ChunkTransport,
    private readonly channel: FrameChannel,
    private readonly agentId: string,
    private readonly logger: Logger,
    private readonly facts: FactsReceiver,
    /** The connection's negotiated protocol version: frames of it (or of an older one this code speaks) are taken. */
    private readonly protocol: number = AGENT_PROTOCOL_VERSION,
  ) {
    channel.onFrame((text, parsed) => this.receive(text, parsed));
  }

  /** One frame of the agent: a heartbeat answered at once when its lease is (no promise on the way), any other call when done. */
  private receive(text: string, parsed?: unknown): void {
    let frame: AgentFrame;
    try {
      frame = decodeFrame(text, parsed);
    } catch (e) {
      this.logger.warn({ err: e, agent: this.agentId }, 'refused a malformed upstream call of an agent');
      return this.answer({ type: 'error', id: null, error: toWireError(e) });
    }
    if (frame.type !== 'request') return;
    const { id } = frame;
    const fail = (e: unknown) => this.answer({ type: 'error', id, error: toWireError(e) });
    try {
      const refused = protocolRefusal(UPSTREAM_METHOD_SINCE, frame, this.protocol, 'the gateway');
      if (refused) throw refused;
      const params = (frame.params ?? {}) as Record<string, unknown>;
      if (frame.method === 'heartbeat') {
        const lease = this.heartbeats.receiveHeartbeat(this.agentId, heartbeatOf(params));
        const sendLease = (result: HeartbeatAnswer) => this.send(encodeBuiltFrame({ type: 'result', id, result }));
        if (lease instanceof Promise) lease.then(sendLease, fail);
        else sendLease(lease);
        return;
      }
      this.call(frame.method, params).then((result) => this.answer({ type: 'result', id, result: result ?? null }), fail);
    } catch (e) {
      fail(e);
    }
  }

  private call(method: string, params: Record<string, unknown>): Promise<unknown> {
    const manifestId = () => {
      if (typeof params.manifestId !== 'string') throw new BadInputError(`${method} needs a manifestId`, { method });
      return params.manifestId;
    };
    const ids = () => {
      if (!Array.isArray(params.ids) || params.ids.length > MAX_UPSTREAM_IDS || !params.ids.every((id) => typeof id === 'string')) throw new BadInputError(`${method} needs ids, a list of at most ${MAX_UPSTREAM_IDS} chunk ids`, { method, maxIds: MAX_UPSTREAM_IDS });
      return params.ids as string[];
    };
    switch (method as UpstreamMethod) {
      case 'reportFacts':
        return this.recordFacts(params.facts);
      case 'hasManifest':
        return this.source.hasManifest(manifestId());
      case 'getManifest':
        return this.source.getManifest(manifestId());
      case 'missingChunks':
        return this.source.missingChunks(ids());
      case 'getChunks':
        return this.chunks(ids());
      default:
        this.logger.warn({ agent: this.agentId, method }, 'refused an upstream call an agent may not make');
        throw new UnsupportedOperationError(`the call "${method}"`, 'the gateway', `an agent may call ${UPSTREAM_METHODS.join(', ')}`);
    }
  }

  /**
   * The chunks of `ids`, read a few at a time: past MAX_UPSTREAM_CHUNK_BYTES (base64) the call is
   * refused, so no agent makes the gateway read more at once than a copy's batch.
   */
  private async chunks(ids: string[]): Promise<ChunkData[]> {
    const out: ChunkData[] = [];
    let chars = 0;
    for (let i = 0; i < ids.length; i += CHUNKS_READ_AT_ONCE) {
      for (const chunk of await this.source.getChunks(ids.slice(i, i + CHUNKS_READ_AT_ONCE))) {
        chars += chunk.data.length;
        if (chars > MAX_UPSTREAM_CHUNK_BYTES) throw new BadInputError(`getChunks: more than ${MAX_UPSTREAM_CHUNK_BYTES} bytes (base64) of chunks at once: ask for fewer`, { method: 'getChunks', maxBytes: MAX_UPSTREAM_CHUNK_BYTES });
        out.push(chunk);
      }
    }
    return out;
  }

  /** Records facts the agent pushed; answers how many hosts took them and the warnings, as text. */
  private async recordFacts(value: unknown): Promise<{ hosts: number; warnings: string[] }> {
    const recorded = await this.facts.recordFacts(this.agentId, checkedFacts(value));
    this.logger.info({ agent: this.agentId, hosts: recorded.hosts.length, warnings: recorded.warnings.length }, "recorded a host agent's changed facts");
    return { hosts: recorded.hosts.length, warnings: recorded.warnings.map((w) => w.message) };
  }

  private answer(frame: AgentFrame): void {
    let text: string;
    try {
      text = encodeFrame(frame);
    } catch (e) {
      this.logger.error({ err: e, agent: this.agentId }, 'an upstream answer is not plain data');
      text = encodeFrame({ type: 'error', id: frame.id, error: toWireError(e) });
    }
    this.send(text);
  }

  private send(text: string): void {
    try {
      this.channel.send(text);
    } catch (e) {
      this.logger.warn({ err: e, agent: this.agentId }, 'could not answer an upstream call: the connection is closed');
    }
  }
}

/** The params of a `heartbeat` call, checked (BAD_USER_INPUT otherwise). */
export function heartbeatOf(params: Record<string, unknown>): HeartbeatRequest {
  if (typeof params.sentAt !== 'number' || !Number.isFinite(params.sentAt)) throw new BadInputError('heartbeat needs sentAt, a time in ms', { method: 'heartbeat' });
  const fenced = params.fenced ?? [];
  const isFenced = (f: unknown): f is FencedEnvironment => {
    const e = f as FencedEnvironment;
    return !!e && typeof e.id === 'string' && typeof e.driver === 'string' && typeof e.at === 'number';
  };
  if (!Array.isArray(fenced) || !fenced.every(isFenced)) throw new BadInputError('heartbeat: fenced must be a list of { id, driver, at }', { method: 'heartbeat' });
  return { sentAt: params.sentAt, fenced };
}
