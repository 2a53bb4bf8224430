import type { DataSource } from 'typeorm';
import type { ChunkTransport } from '../artifacts/chunk-transport';
import { copyArtifact, type CopyOptions, type CopyResult } from '../artifacts/chunk-copy';
import { ConflictError } from '../errors';
import type { Logger } from '../logging/logger';
import { ImageEntity } from '../persistence/entities';
import type { ReplicaStores } from '../replication/replica-stores';
import type { OperationControl, OperationService, NewOperation } from '../services/operation-service';
import type { PeerRequest } from './known-peers';
import type { Peering } from './peering';
import { PeerClient } from './peer-site';
import { PeerChunkTransport } from './peer-chunk-transport';
import type { PeerReplicaRecord } from './peer-store';

/** What sending to another site needs of this one (EnvironmentTransfer, ReplicaSending). */
export interface PeerSendingDeps {
  dataSource: DataSource;
  operations: OperationService;
  stores: ReplicaStores;
  peering: Peering;
  logger: Logger;
}

/**
 * What sending something of this site to another site starts with, for a copy of an environment
 * and a replica sent on alike: the digest of its image (which the other site checks its copy
 * against; CONFLICT, naming `what`, when it has none), the other site among the known peers
 * (FORBIDDEN before any request otherwise), then `work` as an operation with a client of that site.
 */
export async function startPeerSending(
  deps: PeerSendingDeps,
  spec: NewOperation & { imageId: string | null | undefined; what: string; details: Record<string, unknown>; to: PeerRequest },
  work: (op: OperationControl, send: { client: PeerClient; site: string; imageDigest: string }) => Promise<Record<string, unknown>>,
) {
  const { imageId, what, details, to, ...operation } = spec;
  const image = imageId ? await deps.dataSource.getRepository(ImageEntity).findOneBy({ id: imageId }) : null;
  if (!image?.digest) throw new ConflictError(`The image of ${what} has no digest here: another site cannot restore it`, details);
  const imageDigest = image.digest;
  const peer = deps.peering.peerFor(to);
  return deps.operations.start(operation, (op) => work(op, { client: new PeerClient(peer), site: peer.name, imageDigest }));
}

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
  await target.begin(replica.bytes, replica.imageDigest, replica.environmentId);
  try {
    const copied = await copyArtifact(from, target, replica.manifestId, options);
    const there = await target.record({ ...replica, movedBytes: copied.stats.newBytes, reusedChunks: copied.counts.reusedChunks, writtenChunks: copied.counts.writtenChunks });
    return { id: there.id, copied };
  } catch (e) {
    await target.abort();
    throw e;
  }
}
