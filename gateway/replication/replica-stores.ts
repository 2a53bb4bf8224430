import { DataSource, IsNull, Repository } from 'typeorm';
import { AgentArtifacts } from '../agent/agent-artifacts';
import type { AgentLink } from '../agent/agent-link';
import type { HostAgent } from '../agent/host-agent';
import type { ArtifactStore } from '../artifacts/artifact-store';
import type { ArtifactPlace } from '../artifacts/chunk-transport';
import { StoreChunkTransport } from '../artifacts/store-chunk-transport';
import { ConflictError, ForbiddenError, NotFoundError, UnavailableError } from '../errors';
import type { Logger } from '../logging/logger';
import { EnvironmentEntity, HostEntity, HostState, ReplicaEntity, ReplicationPolicyEntity, ReplicationTargetKind } from '../persistence/entities';

/**
 * The hosts of a replication target (HOST / SITE / GROUP) that may keep a group's replicas: those
 * it owns or has a share on (a replica is data put on a host, claimed against the group's share).
 */
export async function replicaHostsFor(dataSource: DataSource, groupId: string, kind: ReplicationTargetKind, targetId: string): Promise<string[]> {
  const column = kind === ReplicationTargetKind.HOST ? 'id' : kind === ReplicationTargetKind.SITE ? '"siteId"' : '"ownerGroupId"';
  const rows: Array<{ id: string }> = await dataSource.query(
    `SELECT h.id FROM host h WHERE h.${column} = $1 AND (h."ownerGroupId" = $2 OR EXISTS (SELECT 1 FROM share s WHERE s."hostId" = h.id AND s."groupId" = $2))`,
    [targetId, groupId],
  );
  return rows.map((r) => r.id);
}

/**
 * Where replicas live: the store of a host's agent (HOST / SITE / GROUP targets, and the source
 * host's staging copy) or the gateway's own store (STORE target, one-off copies), and which host
 * keeps a policy's replicas.
 */
export class ReplicaStores {
  private readonly hosts: Repository<HostEntity>;
  /** The gateway's store as a place replicas are copied to and from. */
  readonly gatewayPlace: ArtifactPlace;

  constructor(
    private readonly dataSource: DataSource,
    private readonly agents: AgentLink,
    /** The gateway's store (RSP_ARTIFACT_DIR). */
    readonly gatewayStore: ArtifactStore,
    private readonly logger: Logger,
  ) {
    this.hosts = dataSource.getRepository(HostEntity);
    this.gatewayPlace = new StoreChunkTransport(gatewayStore);
  }

  /**
   * The store of a host's agent, reached through its calls (cancelled on the agent when `signal`
   * aborts; UNAVAILABLE when the host is gone, DOWN or its agent not connected), or the gateway's for null.
   */
  async storeOf(hostId: string | null, signal?: AbortSignal): Promise<ArtifactPlace> {
    if (!hostId) return this.gatewayPlace;
    const host = await this.hosts.findOneBy({ id: hostId });
    if (!host) throw new UnavailableError(`The host ${hostId} whose store kept this replica no longer exists`, { hostId });
    return new AgentArtifacts(await this.agents.forHost(host), signal);
  }

  /** Deletes a manifest from the store at `hostId` (null: the gateway's) unless a replica there still uses it. */
  async dropUnused(hostId: string | null, store: ArtifactPlace, manifestId: string): Promise<void> {
    const here = hostId ? [{ manifestId, storeHostId: hostId }, { manifestId, stagingHostId: hostId }] : [{ manifestId, storeHostId: IsNull(), peerSite: IsNull() }];
    if (await this.dataSource.getRepository(ReplicaEntity).existsBy(here)) return;
    if (await store.hasManifest(manifestId)) await store.deleteManifest(manifestId);
  }

  /** A host that can keep a replica now (UP, agent connected), or UNAVAILABLE / NOT_FOUND. */
  async usableHost(hostId: string): Promise<HostEntity> {
    const host = await this.hosts.findOneBy({ id: hostId });
    if (!host) throw new NotFoundError('Host', hostId);
    await this.agents.forHost(host);
    return host;
  }

  /**
   * The host whose store keeps a run's replica; null: the gateway's store (STORE target, one-off).
   * HOST: that host. SITE / GROUP: the host chosen before while it is still usable and not the
   * source, else an UP host of the site / owned by the group other than the source — preferring
   * another agent than the source's (another machine) — remembered on the policy.
   */
  async holderFor(pol: ReplicationPolicyEntity | null, env: EnvironmentEntity): Promise<HostEntity | null> {
    if (!pol || pol.targetKind === ReplicationTargetKind.STORE) return null;
    const allowed = new Set(await replicaHostsFor(this.dataSource, env.groupId, pol.targetKind, pol.targetId!));
    if (pol.targetKind === ReplicationTargetKind.HOST) {
      if (!allowed.has(pol.targetId!)) throw new ForbiddenError(`The group has no share on the policy's target host ${pol.targetId}: replicas are kept only on hosts the group owns or has a share on`, { policyId: pol.id, hostId: pol.targetId, missing: 'share' });
      return this.usableHost(pol.targetId!);
    }
    const where = pol.targetKind === ReplicationTargetKind.SITE ? { siteId: pol.targetId! } : { ownerGroupId: pol.targetId! };
    const source = await this.hosts.findOneByOrFail({ id: env.hostId });
    // An agent arriving (just moved between gateway replicas) counts: the run reaches it once announced (agentOf).
    const reachable = (h: HostEntity) => h.id !== source.id && h.state === HostState.UP && this.agents.presence(h.agent) !== 'gone' && allowed.has(h.id);
    if (pol.storeHostId) {
      const chosen = await this.hosts.findOneBy({ id: pol.storeHostId, ...where });
      if (chosen && reachable(chosen)) return chosen;
    }
    const candidates = (await this.hosts.find({ where: { ...where, state: HostState.UP }, order: { hostname: 'ASC' } })).filter(reachable);
    const chosen = candidates.find((h) => h.agent !== source.agent) ?? candidates[0];
    if (!chosen) throw new ConflictError(`No UP host of the policy's ${pol.targetKind.toLowerCase()} that the group owns or has a share on, other than the source host ${source.hostname}, can keep the replica`, { policyId: pol.id, targetKind: pol.targetKind, targetId: pol.targetId });
    if (pol.storeHostId) this.logger.warn({ policy: pol.id, previous: pol.storeHostId, chosen: chosen.id }, 'the host chosen to keep the replicas is no longer usable; chose another');
    await this.dataSource.getRepository(ReplicationPolicyEntity).update({ id: pol.id }, { storeHostId: chosen.id });
    pol.storeHostId = chosen.id;
    return chosen;
  }

  /** The agent of a host (UNAVAILABLE when it is not connected or the host is DOWN). */
  async agentOf(hostId: string): Promise<HostAgent> {
    return this.agents.forHost(await this.hosts.findOneByOrFail({ id: hostId }));
  }
}
