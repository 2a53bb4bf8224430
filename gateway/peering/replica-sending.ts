import { policy } from '../auth/policy';
import type { Principal } from '../auth/principal';
import { BadInputError } from '../errors';
import { MemberRole, OperationEntity, ReplicationKind } from '../persistence/entities';
import type { ReplicaRecords } from '../replication/replica-records';
import type { PeerRequest } from './known-peers';
import { sendReplicaToPeer, startPeerSending, type PeerSendingDeps } from './replica-sender';

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
    private readonly deps: PeerSendingDeps,
    private readonly records: ReplicaRecords,
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
    const { stores, logger } = this.deps;
    const spec = { kind: 'replica.send', targetType: 'Replica', targetId: replica.id, groupId: replica.groupId, imageId: replica.source.imageId, what: `replica ${replica.id}`, details: { replicaId }, to };
    return startPeerSending(this.deps, spec, async (op, { client, site, imageDigest }) => {
      const from = await stores.storeOf(replica.storeHostId, op.signal);
      const { id, copied } = await sendReplicaToPeer(
        from,
        client,
        { manifestId: replica.manifestId, bytes: replica.bytes, chunks: replica.chunks, environmentId: replica.environmentId, source: { ...replica.source, restoreCommand: null }, imageDigest },
        { signal: op.signal, onProgress: (p) => void op.progress(replica.chunks ? Math.min(1, p.chunks / replica.chunks) : 0) },
      );
      logger.info({ replica: replica.id, site, peerReplicaId: id, movedBytes: copied.stats.newBytes }, 'sent a replica to another site');
      return { replicaId: replica.id, site, peerReplicaId: id, bytes: replica.bytes, movedBytes: copied.stats.newBytes, writtenChunks: copied.counts.writtenChunks, reusedChunks: copied.counts.reusedChunks };
    });
  }
}
