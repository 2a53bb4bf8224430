import type { DataSource } from 'typeorm';
import { policy } from '../auth/policy';
import type { Principal } from '../auth/principal';
import { BadInputError, ConflictError } from '../errors';
import type { Logger } from '../logging/logger';
import { ImageEntity, MemberRole, OperationEntity, ReplicationKind } from '../persistence/entities';
import type { ReplicaRecords } from '../replication/replica-records';
import type { ReplicaStores } from '../replication/replica-stores';
import type { OperationService } from '../services/operation-service';
import type { PeerRequest } from './known-peers';
import type { Peering } from './peering';
import { PeerClient } from './peer-site';
import { sendReplicaToPeer } from './replica-sender';

/**
 * A replica this site keeps sent on to another site (one of its known peers), where it is then
 * restored: the replica kept at site C of an environment of site A, restored at site B. Built on
 * the chunk transfer of replicas kept at another site: the other site claims the bytes from its
 * group's storage quota first, only the chunks its store lacks are sent, and the replica is
 * recorded there in the group of the token it issued. This site's authorization decides who may
 * send its replica (members of the replica's group), the other site's what is kept there.
 */
export class ReplicaSending {
  constructor(
    private readonly dataSource: DataSource,
    private readonly operations: OperationService,
    private readonly stores: ReplicaStores,
    private readonly records: ReplicaRecords,
    private readonly peering: Peering,
    private readonly logger: Logger,
  ) {}

  /**
   * Sends replica `replicaId` to site `to` as an operation whose result names the replica there
   * (`peerReplicaId`) and what moved. BAD_USER_INPUT for a replica kept at another site already, an
   * encrypted one (the other site has not this group's key) or an INTERNAL one; FORBIDDEN for a
   * site that is not a known peer, before any request.
   */
  async send(actor: Principal, replicaId: string, to: PeerRequest): Promise<OperationEntity> {
    const replica = await this.records.replica(actor, replicaId);
    policy.requireRole(actor, replica.groupId, MemberRole.MEMBER, 'send replicas of this group to another site');
    this.records.requireHere(replica);
    if (replica.encrypted) throw new BadInputError(`Replica ${replica.id} is encrypted with this site's group key: another site could not restore it`, { replicaId });
    if (replica.kind !== ReplicationKind.EXTERNAL) throw new BadInputError(`Replica ${replica.id} is INTERNAL (a command's output inside its environment): only EXTERNAL replicas are restored at another site`, { replicaId });
    const image = replica.source.imageId ? await this.dataSource.getRepository(ImageEntity).findOneBy({ id: replica.source.imageId }) : null;
    if (!image?.digest) throw new ConflictError(`The image of replica ${replica.id} has no digest here: another site cannot restore it`, { replicaId });
    const peer = this.peering.peerFor(to);
    return this.operations.start({ kind: 'replica.send', targetType: 'Replica', targetId: replica.id, groupId: replica.groupId }, async (op) => {
      const from = await this.stores.storeOf(replica.storeHostId, op.signal);
      const { id, copied } = await sendReplicaToPeer(
        from,
        new PeerClient(peer),
        { manifestId: replica.manifestId, bytes: replica.bytes, chunks: replica.chunks, environmentId: replica.environmentId, source: { ...replica.source, restoreCommand: null }, imageDigest: image.digest! },
        { signal: op.signal, onProgress: (p) => void op.progress(replica.chunks ? Math.min(1, p.chunks / replica.chunks) : 0) },
      );
      this.logger.info({ replica: replica.id, site: peer.name, peerReplicaId: id, movedBytes: copied.stats.newBytes }, 'sent a replica to another site');
      return { replicaId: replica.id, site: peer.name, peerReplicaId: id, bytes: replica.bytes, movedBytes: copied.stats.newBytes, writtenChunks: copied.counts.writtenChunks, reusedChunks: copied.counts.reusedChunks };
    });
  }
}
