import { randomUUID } from 'node:crypto';
import type { ChunkData, ChunkTransport } from '../../artifacts/chunk-transport';
import type { ArtifactManifest } from '../../artifacts/manifest';
import { UnavailableError, UnsupportedOperationError } from '../../errors';
import type { FrameChannel } from '../frame-channel';
import type { HostFactsData } from '../host-facts';
import { encodeFrame } from '../frame-codec';
import { PendingCalls } from '../pending-calls';
import { AGENT_PROTOCOL_VERSION } from '../protocol';
import type { HeartbeatAnswer, HeartbeatRequest } from '../protocol';
import type { UpstreamMethod } from './upstream-dispatcher';

/**
 * A remote agent's calls to its gateway: its heartbeats, and its upstream chunk source (the
 * gateway's image store, read through calls over the agent's connection). It outlives connections: `attach` gives it each new one; while none is
 * open, and for calls in flight when one closes, it fails with UNAVAILABLE. Read-only.
 */
export class UpstreamClient implements ChunkTransport {
  readonly location = 'the gateway image store';
  private channel: FrameChannel | undefined;
  private readonly pending = new PendingCalls();
  private protocol = AGENT_PROTOCOL_VERSION;

  /** Sends the calls over `channel` from now on, as frames of `protocol` (the version the connection negotiated). */
  attach(channel: FrameChannel, protocol: number = AGENT_PROTOCOL_VERSION): void {
    this.channel = channel;
    this.protocol = protocol;
    channel.onFrame((text, parsed) => this.pending.receive(text, parsed));
    channel.onClose((reason) => {
      if (this.channel === channel) this.channel = undefined;
      this.pending.failAll((call) => new UnavailableError(`The gateway went away during ${call.method}: ${reason.message}`, { method: call.method }));
    });
  }

  /** Pushes a heartbeat; the answer carries the agent's lease. */
  heartbeat(beat: HeartbeatRequest): Promise<HeartbeatAnswer> {
    return this.call('heartbeat', beat as unknown as Record<string, unknown>) as Promise<HeartbeatAnswer>;
  }

  /** Pushes the agent's facts (when they changed); the answer says how many hosts took them, and the gateway's warnings. */
  reportFacts(facts: HostFactsData): Promise<{ hosts: number; warnings: string[] }> {
    return this.call('reportFacts', { facts }) as Promise<{ hosts: number; warnings: string[] }>;
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
      const id = this.pending.nextId();
      this.pending.add(id, { method, resolve, reject });
      try {
        channel.send(encodeFrame({ type: 'request', id, protocol: this.protocol, method, params, context: { operationId: randomUUID() } }));
      } catch (e) {
        this.pending.settle(id);
        reject(new UnavailableError(`The gateway could not be reached: ${(e as Error).message}`, { method }, { cause: e }));
      }
    });
  }
}
