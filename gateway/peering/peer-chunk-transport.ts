import type { ChunkCheck } from '../artifacts/artifact-store';
import type { ChunkData, ChunkTransport } from '../artifacts/chunk-transport';
import type { ArtifactManifest } from '../artifacts/manifest';
import { UnsupportedOperationError } from '../errors';
import type { PeerClient } from './peer-site';
import type { PeerReplicaRecord } from './peer-store';

/**
 * Another site's gateway store as a copy target, through its peer store (`POST /peer/store`) with
 * the token it issued: `copyArtifact` asks it which chunks it lacks and sends only those, then the
 * manifest. Nothing is read back from it: a peer's store is written to, and restored from there.
 * Writes happen within a transfer (`begin`): the peer claims the replica's bytes from the group's
 * storage quota first, and settles them with `record` or gives them back on `abort`. The questions
 * name the transfer too: the peer answers what the group holds there (see `PeerStore`).
 */
export class PeerChunkTransport implements ChunkTransport {
  readonly location: string;
  private transfer: string | undefined;

  constructor(private readonly client: PeerClient) {
    this.location = `peer:${client.base}`;
  }

  /**
   * Begins the transfer of a replica of `bytes` of environment `environmentId` (its id at the
   * source site: the peer deduplicates against the replicas it keeps of it) whose environment runs
   * the image of `imageDigest` (the peer's CONFLICT when its quota or image is missing).
   */
  async begin(bytes: number, imageDigest: string, environmentId?: string): Promise<void> {
    this.transfer = (await this.client.store<{ transfer: string }>('begin', { bytes, imageDigest, ...(environmentId ? { environmentId } : {}) })).transfer;
  }

  /** Records the replica at the peer (ending the transfer there); returns its id there. */
  async record(record: PeerReplicaRecord): Promise<{ id: string }> {
    const there = await this.client.store<{ id: string }>('recordReplica', { ...record, transfer: this.transfer });
    this.transfer = undefined;
    return there;
  }

  /** Ends a begun transfer without a replica (its bytes go back to the group's quota there); never throws. */
  async abort(): Promise<void> {
    if (!this.transfer) return;
    const transfer = this.transfer;
    this.transfer = undefined;
    await this.client.store('abort', { transfer }).catch(() => undefined);
  }

  hasManifest(manifestId: string): Promise<boolean> {
    return this.client.store<boolean>('hasManifest', { manifestId, transfer: this.transfer });
  }

  getManifest(manifestId: string): Promise<ArtifactManifest> {
    throw new UnsupportedOperationError('getManifest', `The store of site ${this.client.peer.name}`, `it is written to from here, never read; restore manifest ${manifestId} there`);
  }

  async putManifest(manifest: ArtifactManifest): Promise<void> {
    await this.client.store('putManifest', { manifest, transfer: this.transfer });
  }

  missingChunks(ids: string[]): Promise<string[]> {
    return this.client.store<string[]>('missingChunks', { ids, transfer: this.transfer });
  }

  checkChunks(ids: string[]): Promise<ChunkCheck> {
    return this.client.store<ChunkCheck>('checkChunks', { ids, transfer: this.transfer });
  }

  getChunks(ids: string[]): Promise<ChunkData[]> {
    throw new UnsupportedOperationError('getChunks', `The store of site ${this.client.peer.name}`, `it is written to from here, never read (${ids.length} chunk(s) asked)`);
  }

  async putChunks(chunks: ChunkData[]): Promise<void> {
    await this.client.store('putChunks', { chunks, transfer: this.transfer });
  }
}
