import { randomUUID } from 'node:crypto';
import type { ChunkData, ChunkTransport } from '../../artifacts/chunk-transport';
import type { ArtifactManifest } from '../../artifacts/manifest';
import { UnavailableError, UnsupportedOperationError } from '../../errors';
import type { FrameChannel } from '../frame-channel';
import { decodeFrame, encodeFrame } from '../frame-codec';
import { AGENT_PROTOCOL_VERSION } from '../protocol';
import { fromWireError } from '../wire-error';
import type { UpstreamMethod } from './upstream-dispatcher';

interface Pending {
  method: string;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/**
 * A remote agent's upstream chunk source: the gateway's image store, read through calls over the
 * agent's connection. It outlives connections: `attach` gives it each new one; while none is
 * open, and for calls in flight when one closes, it fails with UNAVAILABLE. Read-only.
 */
export class UpstreamClient implements ChunkTransport {
  readonly location = 'the gateway image store';
  private channel: FrameChannel | undefined;
  private readonly pending = new Map<string, Pending>();
  private next = 0;

  /** Sends the calls over `channel` from now on. */
  attach(channel: FrameChannel): void {
    this.channel = channel;
    channel.onFrame((text) => this.receive(text));
    channel.onClose((reason) => {
      if (this.channel === channel) this.channel = undefined;
      for (const [id, entry] of [...this.pending]) {
        this.pending.delete(id);
        entry.reject(new UnavailableError(`The gateway went away during ${entry.method}: ${reason.message}`, { method: entry.method }));
      }
    });
  }

  hasManifest(manifestId: string): Promise<boolean> {
    return this.call('hasManifest', { manifestId }) as Promise<boolean>;
  }

  getManifest(manifestId: string): Promise<ArtifactManifest> {
    return this.call('getManifest', { manifestId }) as Promise<ArtifactManifest>;
  }

  missingChunks(ids: string[]): Promise<string[]> {
    return this.call('missingChunks', { ids }) as Promise<string[]>;
  }

  getChunks(ids: string[]): Promise<ChunkData[]> {
    return this.call('getChunks', { ids }) as Promise<ChunkData[]>;
  }

  async putManifest(): Promise<void> {
    throw new UnsupportedOperationError('writing', this.location, 'an agent only reads images from the gateway');
  }

  async putChunks(): Promise<void> {
    throw new UnsupportedOperationError('writing', this.location, 'an agent only reads images from the gateway');
  }

  private call(method: UpstreamMethod, params: Record<string, unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const channel = this.channel;
      if (!channel) return reject(new UnavailableError(`The gateway is not connected: cannot ${method}`, { method }));
      const id = String(++this.next);
      this.pending.set(id, { method, resolve, reject });
      try {
        channel.send(encodeFrame({ type: 'request', id, protocol: AGENT_PROTOCOL_VERSION, method, params, context: { operationId: randomUUID() } }));
      } catch (e) {
        this.pending.delete(id);
        reject(new UnavailableError(`The gateway could not be reached: ${(e as Error).message}`, { method }, { cause: e }));
      }
    });
  }

  private receive(text: string): void {
    let frame;
    try {
      frame = decodeFrame(text);
    } catch {
      return;
    }
    if (frame.type === 'request' || frame.id === null) return;
    const entry = this.pending.get(frame.id);
    if (!entry) return;
    this.pending.delete(frame.id);
    if (frame.type === 'result') entry.resolve(frame.result ?? undefined);
    else entry.reject(fromWireError(frame.error));
  }
}
