import type { ChunkCheck } from '../artifacts/artifact-store';
import type { ChunkData, ChunkTransport } from '../artifacts/chunk-transport';
import type { ArtifactManifest } from '../artifacts/manifest';
import { UnsupportedOperationError } from '../errors';
import type { PeerClient } from './peer-site';

/**
 * Another site's gateway store as a copy target, through its peer store (`POST /peer/store`) with
 * the token it issued: `copyArtifact` asks it which chunks it lacks and sends only those, then the
 * manifest. Nothing is read back from it: a peer's store is written to, and restored from there.
 */
export class PeerChunkTransport implements ChunkTransport {
  readonly location: string;

  constructor(private readonly client: PeerClient) {
    this.location = `peer:${client.base}`;
  }

  hasManifest(manifestId: string): Promise<boolean> {
    return this.client.store<boolean>('hasManifest', { manifestId });
  }

  getManifest(manifestId: string): Promise<ArtifactManifest> {
    throw new UnsupportedOperationError('getManifest', `The store of site ${this.client.peer.name}`, `it is written to from here, never read; restore manifest ${manifestId} there`);
  }

  async putManifest(manifest: ArtifactManifest): Promise<void> {
    await this.client.store('putManifest', { manifest });
  }

  missingChunks(ids: string[]): Promise<string[]> {
    return this.client.store<string[]>('missingChunks', { ids });
  }

  checkChunks(ids: string[]): Promise<ChunkCheck> {
    return this.client.store<ChunkCheck>('checkChunks', { ids });
  }

  getChunks(ids: string[]): Promise<ChunkData[]> {
    throw new UnsupportedOperationError('getChunks', `The store of site ${this.client.peer.name}`, `it is written to from here, never read (${ids.length} chunk(s) asked)`);
  }

  async putChunks(chunks: ChunkData[]): Promise<void> {
    await this.client.store('putChunks', { chunks });
  }
}
