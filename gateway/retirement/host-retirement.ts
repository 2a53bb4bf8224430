import { DataSource, In, IsNull, Not } from 'typeorm';
import type { AgentLink } from '../agent/agent-link';
import { HostOwners } from '../auth/host-owners';
import { policy } from '../auth/policy';
import { type Principal, SYSTEM } from '../auth/principal';
import { ConflictError, isRspError } from '../errors';
import type { Logger } from '../logging/logger';
import {
  AllocationClaimEntity,
  AllocationEntity,
  AllocationStatus,
  AlertRuleEntity,
  EnvironmentEntity,
  EnvironmentStatus,
  HostEntity,
  HostState,
  LayerEntity,
  OfferEntity,
  OperationEntity,
  OperationState,
  ReplicaEntity,
  ReplicationPolicyEntity,
  ReplicationTargetKind,
  ResourceEntity,
  ShareEntity,
  SiteEntity,
  UsagePolicyEntity,
} from '../persistence/entities';
import { inventoryChanged } from '../placement/inventory-changes';
import { chooseTargetHost } from '../placement/target-host';
import type { MigrationService } from '../services/migration-service';
import type { OperationService } from '../services/operation-service';
import { Blockers, nameFor } from './blockers';

/** Statuses an environment can be migrated from (the rest block a drain). */
const MOVABLE: readonly EnvironmentStatus[] = [EnvironmentStatus.CREATED, EnvironmentStatus.STOPPED, EnvironmentStatus.RUNNING];

/**
 * Retiring hosts and sites (like `nomad node drain` / `incus cluster evacuate`): a host is
 * drained — its environments migrated away through the migration service, one operation — then
 * deleted once empty; a site is deleted once it has no hosts. Allowed to the site admin and to
 * the admins of the group that owns the host or its site (`HostOwners`).
 */
export class HostRetirement {
  private readonly owners: HostOwners;

  constructor(
    private readonly dataSource: DataSource,
    private readonly agents: AgentLink,
    private readonly operations: OperationService,
    private readonly migration: MigrationService,
    private readonly logger: Logger,
  ) {
    this.owners = new HostOwners(dataSource);
  }

  /**
   * Moves every environment off the host, then leaves it DRAINING (no new work) and empty. Each
   * environment's target is checked first: when one cannot move (no host can take it, or it is
   * busy or FAILED) the drain is refused with the list and nothing changes. A migration that fails
   * midway fails the operation with what could not move, and the host returns to its state.
   */
  async drainHost(actor: Principal, id: string): Promise<OperationEntity> {
    const host = await this.hostFor(actor, id, 'drain this host');
    const envs = await this.liveEnvironments(host.id);
    const blockers = new Blockers();
    for (const env of envs) {
      const label = nameFor(policy.isMember(actor, env.groupId), 'environment', env.name);
      if (!MOVABLE.includes(env.status)) {
        blockers.add(`${label} is ${env.status}`);
        continue;
      }
      await chooseTargetHost(this.dataSource, this.agents, env, host).catch((e: unknown) => blockers.add(`${label} cannot move: ${reasonOf(e, env.name, label)}`));
    }
    blockers.refuse(`Host ${host.hostname} cannot be drained`);
    const previous = host.state;
    await this.dataSource.getRepository(HostEntity).update({ id: host.id }, { state: HostState.DRAINING });
    inventoryChanged(this.dataSource, [host.id]);

    return this.operations.start({ kind: 'host.drain', targetType: 'Host', targetId: host.id, groupId: host.ownerGroupId, log: { host: host.hostname } }, async (op) => {
      const moved: string[] = [];
      const failed: string[] = [];
      for (const [i, env] of envs.entries()) {
        await op.progress(i / Math.max(1, envs.length), `moving environment ${i + 1} of ${envs.length}`);
        const label = nameFor(policy.isMember(actor, env.groupId), 'environment', env.name);
        try {
          const migration = await this.migration.migrate(SYSTEM, env.id);
          const done = await this.operations.settled(migration.id);
          if (done.state === OperationState.SUCCEEDED) moved.push(env.id);
          else failed.push(`${label}: ${reasonOf(done.errorMessage, env.name, label)}`);
        } catch (e) {
          failed.push(`${label}: ${reasonOf(e, env.name, label)}`);
        }
      }
      if (failed.length) {
        await this.dataSource.getRepository(HostEntity).update({ id: host.id, state: HostState.DRAINING }, { state: previous });
        inventoryChanged(this.dataSource, [host.id]);
        throw new ConflictError(`Host ${host.hostname} could not be drained: ${failed.join('; ')}`, { blockers: failed, moved: moved.length });
      }
      this.logger.info({ host: host.hostname, moved: moved.length }, 'host drained');
      return { hostId: host.id, moved: moved.length };
    });
  }

  /**
   * Deletes an empty host: refused (with the list) while environments, active allocations,
   * replicas or replication targets are on it or layers stand on its machine layer. Its shares,
   * offers, resources and machine layer go with it, in one transaction.
   */
  async deleteHost(actor: Principal, id: string): Promise<boolean> {
    const host = await this.hostFor(actor, id, 'delete this host');
    await this.dataSource.transaction(async (m) => {
      await m.getRepository(HostEntity).findOne({ where: { id: host.id }, lock: { mode: 'pessimistic_write' } });
      const blockers = new Blockers();
      const onHost = await m.getRepository(EnvironmentEntity).find({ where: { hostId: host.id, status: Not(EnvironmentStatus.DESTROYED) }, order: { name: 'ASC' } });
      for (const env of onHost) {
        blockers.add(`${nameFor(policy.isMember(actor, env.groupId), 'environment', env.name)} is on it (drain the host first)`);
      }
      // Implicit allocations (an environment's or a replica's) are named through what holds them.
      const allocations = await m.getRepository(AllocationEntity).countBy({ hostId: host.id, status: AllocationStatus.ACTIVE, environmentId: IsNull(), replicaId: IsNull() });
      if (allocations) blockers.add(`${allocations} active allocation(s) hold capacity on it`);
      const replicas = await m.getRepository(ReplicaEntity).countBy({ storeHostId: host.id });
      if (replicas) blockers.add(`${replicas} replica(s) are stored on it`);
      const policies = await m.getRepository(ReplicationPolicyEntity).find({ where: [{ storeHostId: host.id }, { targetKind: ReplicationTargetKind.HOST, targetId: host.id }] });
      for (const p of policies) blockers.add(`${nameFor(policy.isMember(actor, p.groupId), 'replication policy', p.name)} replicates to it`);
      // The layers of environments destroyed here go with the host; any other layer on its machine layer blocks.
      const destroyed = new Set((await m.getRepository(EnvironmentEntity).findBy({ hostId: host.id, status: EnvironmentStatus.DESTROYED })).map((e) => e.layerId));
      const live = new Set(onHost.map((e) => e.layerId));
      const children = host.layerId ? await m.getRepository(LayerEntity).find({ where: { parentId: host.layerId }, order: { name: 'ASC' } }) : [];
      for (const l of children) if (!destroyed.has(l.id) && !live.has(l.id)) blockers.add(`${nameFor(policy.isMember(actor, l.groupId), 'layer', l.name)} stands on its machine layer`);
      blockers.refuse(`Host ${host.hostname} cannot be deleted`);
      await m.getRepository(ShareEntity).delete({ hostId: host.id });
      await m.getRepository(OfferEntity).delete({ hostId: host.id });
      await m.getRepository(AllocationClaimEntity).delete({ hostId: host.id, active: false });
      await m.getRepository(ResourceEntity).delete({ hostId: host.id });
      for (const l of children) await m.getRepository(LayerEntity).delete({ id: l.id });
      if (host.layerId) await m.getRepository(LayerEntity).delete({ id: host.layerId });
      await m.getRepository(HostEntity).delete({ id: host.id });
    });
    inventoryChanged(this.dataSource, [host.id]);
    this.logger.info({ host: host.hostname }, 'host deleted');
    return true;
  }

  /** Deletes a site without hosts (refused with their names otherwise); its usage policies and alert rules go with it. */
  async deleteSite(actor: Principal, id: string): Promise<boolean> {
    await this.owners.requireGovernsSite(actor, id, 'delete this site');
    const site = await this.dataSource.getRepository(SiteEntity).findOneByOrFail({ id });
    await this.dataSource.transaction(async (m) => {
      await m.getRepository(SiteEntity).findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
      const blockers = new Blockers();
      for (const h of await m.getRepository(HostEntity).find({ where: { siteId: id }, order: { hostname: 'ASC' } })) blockers.add(`host ${h.hostname} is in it (drain and delete it first)`);
      for (const p of await m.getRepository(ReplicationPolicyEntity).findBy({ targetKind: ReplicationTargetKind.SITE, targetId: id })) {
        blockers.add(`${nameFor(policy.isMember(actor, p.groupId), 'replication policy', p.name)} replicates to it`);
      }
      blockers.refuse(`Site ${site.name} cannot be deleted`);
      await m.getRepository(UsagePolicyEntity).delete({ siteId: id });
      await m.getRepository(AlertRuleEntity).delete({ siteId: id });
      await m.getRepository(SiteEntity).delete({ id });
    });
    return true;
  }

  /** The host, after checking the caller governs it (site admin, or an admin of the group owning it or its site). */
  private async hostFor(actor: Principal, id: string, action: string): Promise<HostEntity> {
    await this.owners.requireGovernsHost(actor, id, action);
    return this.dataSource.getRepository(HostEntity).findOneByOrFail({ id });
  }

  /** The environments on a host that are not destroyed, by name. */
  private liveEnvironments(hostId: string): Promise<EnvironmentEntity[]> {
    return this.dataSource.getRepository(EnvironmentEntity).find({ where: { hostId, status: Not(In([EnvironmentStatus.DESTROYED])) }, order: { name: 'ASC' } });
  }
}

/** The message of an error (or a stored one), with another group's environment name replaced by its label. */
function reasonOf(e: unknown, name: string, label: string): string {
  const message = typeof e === 'string' ? e : e === null || e === undefined ? 'failed' : isRspError(e) || e instanceof Error ? (e as Error).message : String(e);
  return label.startsWith('a ') ? message.split(name).join('it') : message;
}
