import type { ChunkCheck, VerifyReport } from './artifact-store';
import type { ArtifactManifest } from './manifest';
import type { ScrubPace } from './read-pacer';

/** One chunk in transit: its id and its bytes as the store keeps them (sealed when encrypted), base64. */
export interface ChunkData {
  id: string;
  data: string;
}

/**
 * How chunks and manifests move between artifact stores, as plain data: a store in this process
 * (`StoreChunkTransport`) and a host agent's store (through its calls) offer the same calls, so
 * `copyArtifact` moves only the chunks the target lacks, wherever both ends are.
 */
export interface ChunkTransport {
  /** Names the store (two transports with one location are the same store). */
  readonly location: string;
  hasManifest(manifestId: string): Promise<boolean>;
  /** NOT_FOUND when absent. */
  getManifest(manifestId: string): Promise<ArtifactManifest>;
  /** Writes a manifest whose chunks are all stored (INTEGRITY_ERROR otherwise). */
  putManifest(manifest: ArtifactManifest): Promise<void>;
  /** Which of `ids` the store lacks; the store keeps them from collection a while, for the copy that asked. */
  missingChunks(ids: string[]): Promise<string[]>;
  /**
   * Which of `ids` the store lacks, holds damaged, or cannot vouch for (see
   * `ArtifactStore.checkChunks`); held from collection like `missingChunks`. Optional: a
   * transport without it is only ever copied from.
   */
  checkChunks?(ids: string[]): Promise<ChunkCheck>;
  /** Chunks as stored; NOT_FOUND naming the first absent one. */
  getChunks(ids: string[]): Promise<ChunkData[]>;
  /** Writes chunks as stored; a chunk present with other (damaged) bytes is replaced. */
  putChunks(chunks: ChunkData[]): Promise<void>;
}

/** An artifact store as replication uses it: its chunk transport and its upkeep. */
export interface ArtifactPlace extends ChunkTransport {
  /** Removes a manifest (its chunks go at the next `gc`). */
  deleteManifest(manifestId: string): Promise<void>;
  /** Removes the chunks no manifest references. */
  gc(): Promise<{ removedChunks: number; freedBytes: number }>;
  /** Reads the whole artifact back and checks every chunk (see `ArtifactStore.verify`). */
  verify(manifestId: string, key?: Buffer): Promise<VerifyReport>;
  /** The verify job: re-hashes every chunk once at the pace `pace` sets (see `ArtifactStore.scrub`). */
  scrub(manifestId: string, key?: Buffer, pace?: ScrubPace): Promise<VerifyReport>;
}
