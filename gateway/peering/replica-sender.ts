import type { ChunkTransport } from '../artifacts/chunk-transport';
import { copyArtifact, type CopyOptions, type CopyResult } from '../artifacts/chunk-copy';
import { PeerChunkTransport } from './peer-chunk-transport';
import type { PeerClient } from './peer-site';
import type { PeerReplicaRecord } from './peer-store';

/** What the peer records besides what the copy measured: the replica's size, source and image. */
export type ReplicaToSend = Omit<PeerReplicaRecord, 'movedBytes' | 'reusedChunks' | 'writtenChunks'>;

/**
 * Sends a replica from `from` (a store of this site) to a peer site's store: the transfer begun
 * there (the replica's bytes claimed from the group's storage quota there, its image checked),
 * only the chunks that store lacks copied, then the replica recorded there. On any failure the
 * transfer is aborted, so the peer gives the claimed bytes back. Returns the replica's id there
 * and what the copy moved.
 */
export async function sendReplicaToPeer(from: ChunkTransport, client: PeerClient, replica: ReplicaToSend, options: Pick<CopyOptions, 'signal' | 'onProgress'> = {}): Promise<{ id: string; copied: CopyResult }> {
  const target = new PeerChunkTransport(client);
  await target.begin(replica.bytes, replica.imageDigest);
  try {
    const copied = await copyArtifact(from, target, replica.manifestId, options);
    const there = await target.record({ ...replica, movedBytes: copied.stats.newBytes, reusedChunks: copied.counts.reusedChunks, writtenChunks: copied.counts.writtenChunks });
    return { id: there.id, copied };
  } catch (e) {
    await target.abort();
    throw e;
  }
}
