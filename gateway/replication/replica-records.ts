import { DataSource, In, IsNull, Repository } from 'typeorm';
import type { VerifyReport } from '../artifacts/artifact-store';
import { policy } from '../auth/policy';
import type { Principal } from '../auth/principal';
import { BadInputError, IntegrityError, NotFoundError } from '../errors';
import { Peering } from '../peering/peering';
import type { Logger } from '../logging/logger';
import { MemberRole, ReplicaEntity, ReplicaVerifyState, ReplicationKind, ReplicationPolicyEntity } from '../persistence/entities';
import type { GroupKeys } from './group-keys';
import type { PlacementService } from '../services/placement-service';
import type { ReplicaStores } from './replica-stores';

/** What verify jobs found of a policy's replicas (see `ReplicaRecords.policyVerification`). */
export interface PolicyVerification {
  verifyState: ReplicaVerifyState | null;
  lastVerifiedAt: Date | null;
  damagedReplicaIds: string[];
}

/**
 * Replica records: the replicas a caller may see, the newest readable one of an environment,
 * checksum verification, and deletion from the stores they live in.
 */
export class ReplicaRecords {
  private readonly replicaRepo: Repository<ReplicaEntity>;
  private readonly dataSource: DataSource;

  constructor(
    dataSource: DataSource,
    /** Where replicas live: host agents' stores and the gateway's. */
    private readonly stores: ReplicaStores,
    private readonly keys: GroupKeys,
    private readonly logger: Logger,
    /** Where the bytes of replicas kept on hosts are released. */
    private readonly placement?: PlacementService,
    /** How a replica kept at another site is reached there (a known site, the policy's sealed token). */
    private readonly peering: Peering = Peering.none(),
  ) {
    this.dataSource = dataSource;
    this.replicaRepo = dataSource.getRepository(ReplicaEntity);
  }

  /** A replica the caller may see. */
  async replica(actor: Principal, id: string): Promise<ReplicaEntity> {
    policy.requireAuthenticated(actor);
    const found = await this.replicaRepo.findOneBy({ id });
    if (!found || !policy.isMember(actor, found.groupId)) throw new NotFoundError('Replica', id);
    return found;
  }

  /**
   * What verify jobs found of a policy's replicas (the caller may see the policy): DAMAGED naming
   * the damaged ones, OK when every one verified checks out, null before any was verified; and
   * the latest verification.
   */
  async policyVerification(policyId: string): Promise<PolicyVerification> {
    const rows = await this.replicaRepo.find({ where: { policyId }, select: { id: true, verifyState: true, verifiedAt: true }, order: { createdAt: 'DESC', id: 'DESC' } });
    const verified = rows.filter((r) => r.verifyState !== null);
    const damagedReplicaIds = verified.filter((r) => r.verifyState === ReplicaVerifyState.DAMAGED).map((r) => r.id);
    const times = verified.map((r) => r.verifiedAt?.getTime() ?? 0).filter((t) => t > 0);
    return {
      verifyState: damagedReplicaIds.length ? ReplicaVerifyState.DAMAGED : verified.length ? ReplicaVerifyState.OK : null,
      lastVerifiedAt: times.length ? new Date(Math.max(...times)) : null,
      damagedReplicaIds,
    };
  }

  /** Replicas the caller may see, of an environment or a policy, newest first. */
  async listReplicas(actor: Principal, filter: { environmentId?: string; policyId?: string }): Promise<ReplicaEntity[]> {
    const p = policy.requireAuthenticated(actor);
    const where: Record<string, unknown> = {};
    if (filter.environmentId) where.environmentId = filter.environmentId;
    if (filter.policyId) where.policyId = filter.policyId;
    if (!p.siteAdmin) where.groupId = p.groupId ?? '00000000-0000-0000-0000-000000000000';
    return this.replicaRepo.find({ where, order: { createdAt: 'DESC', id: 'DESC' }, take: 500 });
  }

  /**
   * The newest replica of an environment that can be read now (EXTERNAL ones: they hold the whole
   * environment), or null: it lives in the gateway's store or on an UP host with a connected agent
   * (never on a DOWN host, e.g. the one failing over), and that store has its manifest.
   */
  async newestReplica(environmentId: string): Promise<ReplicaEntity | null> {
    const all = await this.replicaRepo.find({ where: { environmentId, kind: ReplicationKind.EXTERNAL, peerSite: IsNull() }, order: { createdAt: 'DESC', id: 'DESC' }, take: 100 });
    for (const replica of all) {
      const store = await this.stores.storeOf(replica.storeHostId).catch(() => undefined);
      if (store && (await store.hasManifest(replica.manifestId).catch(() => false))) return replica;
      this.logger.info({ replica: replica.id, storeHostId: replica.storeHostId }, 'replica not reachable; trying an older one');
    }
    return null;
  }

  /** Deletes a replica (members of its group) from the store it lives in, and collects that store. */
  async deleteReplica(actor: Principal, id: string): Promise<ReplicaEntity> {
    const found = await this.replica(actor, id);
    policy.requireRole(actor, found.groupId, MemberRole.MEMBER, 'delete replicas of this group');
    await this.discardReplicas([found]);
    return found;
  }

  /**
   * Deletes replicas, and from each store that held them (where they live, and the source host's
   * store that keeps the export) their manifests no other replica there shares, then collects
   * those stores. A store that cannot be reached now (its host is DOWN) keeps them: logged.
   */
  async discardReplicas(doomed: Array<Pick<ReplicaEntity, 'id' | 'manifestId'>>): Promise<void> {
    if (!doomed.length) return;
    const rows = await this.replicaRepo.findBy({ id: In(doomed.map((r) => r.id)) });
    const placement = this.placement;
    const released = await this.dataSource.transaction(async (m): Promise<() => void> => {
      await m.getRepository(ReplicaEntity).delete({ id: In(doomed.map((r) => r.id)) });
      return placement ? placement.releaseHeldWithin(m, { replicaIds: doomed.map((r) => r.id) }) : () => undefined;
    });
    released();
    const places = new Map<string, { hostId: string | null; manifests: Set<string> }>();
    for (const r of rows) {
      // One kept at another site is deleted there; here only the source host's export.
      if (r.peerSite) await this.discardAtPeer(r);
      for (const hostId of new Set([...(r.peerSite ? [] : [r.storeHostId]), ...(r.stagingHostId ? [r.stagingHostId] : [])])) {
        const place = places.get(hostId ?? '') ?? { hostId, manifests: new Set<string>() };
        place.manifests.add(r.manifestId);
        places.set(hostId ?? '', place);
      }
    }
    for (const { hostId, manifests } of places.values()) {
      try {
        const store = await this.stores.storeOf(hostId);
        for (const manifestId of manifests) await this.stores.dropUnused(hostId, store, manifestId);
        await store.gc();
      } catch (e) {
        this.logger.warn({ err: e, storeHostId: hostId, manifests: [...manifests] }, 'could not delete discarded replicas from their store; they stay there until the next prune');
      }
    }
  }

  /** Deletes a replica kept at another site there (its policy's peer and token); a failure is logged: it stays there. */
  private async discardAtPeer(r: ReplicaEntity): Promise<void> {
    const pol = r.policyId ? await this.dataSource.getRepository(ReplicationPolicyEntity).findOneBy({ id: r.policyId }) : null;
    if (!pol?.peerName || !r.peerReplicaId) return void this.logger.warn({ replica: r.id, site: r.peerSite }, 'a replica kept at another site has no policy to reach it by: it stays there');
    try {
      await this.peering.clientOfPolicy(pol).graphql('mutation ($id: ID!) { deleteReplica(id: $id) { id } }', { id: r.peerReplicaId });
    } catch (e) {
      this.logger.warn({ err: e, replica: r.id, site: r.peerSite, peerReplicaId: r.peerReplicaId }, 'could not delete a replica kept at another site; it stays there');
    }
  }

  /** BAD_USER_INPUT for a replica kept at another site: it is verified and restored there. */
  requireHere(replica: Pick<ReplicaEntity, 'id' | 'peerSite' | 'peerReplicaId'>): void {
    if (replica.peerSite) throw new BadInputError(`Replica ${replica.id} is kept at site ${replica.peerSite} (replica ${replica.peerReplicaId} there): verify and restore it there`, { replicaId: replica.id, peer: replica.peerSite, peerReplicaId: replica.peerReplicaId });
  }

  /** Verifies every chunk of a replica; records when it passed and returns what was checked, throws the store's IntegrityError otherwise. */
  async verify(replica: ReplicaEntity, key?: Buffer): Promise<VerifyReport> {
    this.requireHere(replica);
    const k = key ?? (replica.encrypted ? await this.keys.keyFor(replica.groupId) : undefined);
    const report = await (await this.stores.storeOf(replica.storeHostId)).verify(replica.manifestId, k);
    if (!report.ok) {
      const first = report.problems[0]!;
      throw new IntegrityError(replica.manifestId, first.chunk ?? undefined, `${first.reason} (replica ${replica.id}: ${report.problems.length} problem(s) found; nothing was restored)`, { replicaId: replica.id, problems: report.problems.slice(0, 20) });
    }
    replica.verifiedAt = new Date();
    await this.replicaRepo.update({ id: replica.id }, { verifiedAt: replica.verifiedAt });
    return report;
  }
}
