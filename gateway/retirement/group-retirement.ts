import { DataSource, EntityManager, In, Not } from 'typeorm';
import { policy } from '../auth/policy';
import { type Principal, SYSTEM } from '../auth/principal';
import { BadInputError, ConflictError, NotFoundError } from '../errors';
import type { TokenService } from '../auth/token-service';
import { type RspPubSub, Topic } from '../events/pubsub';
import type { Logger } from '../logging/logger';
import {
  AlertRuleEntity,
  AllocationClaimEntity,
  AllocationEntity,
  AllocationRequestEntity,
  AllocationStatus,
  ApiTokenEntity,
  EnvironmentEntity,
  EnvironmentStatus,
  GroupEntity,
  HostEntity,
  ImageEntity,
  LayerEntity,
  MemberRole,
  NeedEntity,
  OfferEntity,
  OperationEntity,
  OperationState,
  ReplicaEntity,
  ReplicationPolicyEntity,
  ShareEntity,
  SiteEntity,
  StorageReservationEntity,
} from '../persistence/entities';
import type { EnvironmentService } from '../services/environment-service';
import type { OperationService } from '../services/operation-service';
import { inventoryChanged } from '../placement/inventory-changes';
import type { PlacementService } from '../services/placement-service';
import type { ReplicationService } from '../services/replication-service';
import { Blockers, nameFor } from './blockers';

/** What happens to a deleted group's environments. */
export enum GroupDeletionMode {
  /** Destroyed, with their volumes. */
  DESTROY = 'DESTROY',
  /** Given to another group, with their layers, images, allocations and replication policies. */
  HANDOVER = 'HANDOVER',
}

/** Statuses no step holds: an environment in any other blocks the group's deletion. */
const SETTLED: readonly EnvironmentStatus[] = [EnvironmentStatus.CREATED, EnvironmentStatus.STOPPED, EnvironmentStatus.RUNNING, EnvironmentStatus.FAILED];

/**
 * Deleting a group (its admins, or site admins): its environments destroyed or handed over to a
 * named group (by those who are admins of both: site admins, a token being one group's), its shares revoked, its replicas removed, its offers, needs, tokens, alert rules
 * and allocations gone. Everything that blocks is listed first and nothing changes: hosts or
 * sites it owns, environments a step holds, images or layers other groups build on (DESTROY), or
 * hosts where the receiving group has no share (HANDOVER). One operation.
 */
export class GroupRetirement {
  constructor(
    private readonly dataSource: DataSource,
    private readonly operations: OperationService,
    private readonly environments: EnvironmentService,
    private readonly placement: PlacementService,
    private readonly replication: ReplicationService,
    private readonly logger: Logger,
    private readonly tokens?: TokenService,
    private readonly pubSub?: RspPubSub,
  ) {}

  /** Checks, then deletes the group as an operation (see the class). */
  async deleteGroup(actor: Principal, id: string, mode: GroupDeletionMode, handoverTo?: string | null): Promise<OperationEntity> {
    policy.requireRole(actor, id, MemberRole.ADMIN, 'delete this group');
    const group = await this.dataSource.getRepository(GroupEntity).findOneBy({ id });
    if (!group) throw new NotFoundError('Group', id);
    if (mode === GroupDeletionMode.HANDOVER && !handoverTo) throw new BadInputError('HANDOVER needs the group that receives the environments');
    if (mode === GroupDeletionMode.DESTROY && handoverTo) throw new BadInputError('Name a receiving group only with HANDOVER');
    if (handoverTo === id) throw new BadInputError('A group cannot hand its environments over to itself');
    // What is handed over (environments, images, allocations, policies) lands on the receiving group's shares, quota and usage: its admins decide too.
    if (handoverTo) policy.requireRole(actor, handoverTo, MemberRole.ADMIN, 'hand environments over to this group');
    const heir = handoverTo ? await this.dataSource.getRepository(GroupEntity).findOneBy({ id: handoverTo }) : null;
    if (handoverTo && !heir) throw new NotFoundError('Group', handoverTo);
    const envs = await this.blockersOf(actor, group, mode, heir);

    return this.operations.start({ kind: 'group.delete', targetType: 'Group', targetId: id, groupId: id }, async (op) => {
      if (mode === GroupDeletionMode.DESTROY) {
        const failed: string[] = [];
        for (const [i, env] of envs.entries()) {
          await op.progress((0.8 * i) / Math.max(1, envs.length), `destroying environment ${env.name}`);
          const done = await this.environments.act(SYSTEM, env.id, 'destroy').then((o) => this.operations.settled(o.id), (e: Error) => ({ state: OperationState.FAILED, errorMessage: e.message }));
          if (done.state !== OperationState.SUCCEEDED) failed.push(`environment ${env.name}: ${done.errorMessage ?? 'failed'}`);
        }
        if (failed.length) throw new ConflictError(`Group ${group.slug} is not deleted: ${failed.join('; ')}`, { blockers: failed });
      }
      await op.progress(0.85, 'removing replicas');
      const replicas = await this.dataSource.getRepository(ReplicaEntity).findBy({ groupId: id });
      await this.replication.discardReplicas(replicas);
      let removedTokens: string[] = [];
      let touched: string[] = [];
      const settle = await this.dataSource.transaction(async (m) => {
        await m.getRepository(GroupEntity).findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
        await this.blockersOf(actor, group, mode, heir, m);
        // The hosts where it has a share or a claim: their placement pictures change.
        touched = (await m.query(`SELECT "hostId" FROM share WHERE "groupId" = $1 UNION SELECT "hostId" FROM allocation_claim WHERE "groupId" = $1 AND active`, [id]) as Array<{ hostId: string }>).map((r) => r.hostId);
        let release = () => undefined as void;
        if (heir) await handOver(m, id, heir.id);
        else {
          const active = await m.getRepository(AllocationEntity).findBy({ groupId: id, status: AllocationStatus.ACTIVE });
          if (active.length) release = await this.placement.releaseWithin(m, active.map((a) => a.id));
          await m.getRepository(ReplicationPolicyEntity).delete({ groupId: id });
          await m.getRepository(LayerEntity).delete({ groupId: id });
          await m.getRepository(ImageEntity).delete({ vendorGroupId: id });
        }
        await m.getRepository(ReplicaEntity).delete({ groupId: id });
        await m.getRepository(ShareEntity).delete({ groupId: id });
        await m.getRepository(OfferEntity).delete({ groupId: id });
        await m.getRepository(NeedEntity).delete({ groupId: id });
        removedTokens = (await m.getRepository(ApiTokenEntity).find({ select: { id: true }, where: { groupId: id } })).map((t) => t.id);
        await m.getRepository(ApiTokenEntity).delete({ groupId: id });
        await m.getRepository(AlertRuleEntity).delete({ groupId: id });
        await m.getRepository(StorageReservationEntity).delete({ groupId: id });
        await m.getRepository(GroupEntity).delete({ id });
        return release;
      });
      settle();
      inventoryChanged(this.dataSource, touched);
      // Its tokens' open subscriptions close; streams of what was handed over check again who may see it.
      this.tokens?.removed(removedTokens);
      this.pubSub?.publish(Topic.ACCESS_CHANGED, { kind: 'group', id });
      this.logger.info({ group: group.slug, mode, environments: envs.length }, 'group deleted');
      return { groupId: id, mode, environments: envs.length, replicasRemoved: replicas.length, handedOverTo: heir?.id ?? null };
    });
  }

  /** CONFLICT with every blocker; else the group's environments that are not destroyed. */
  private async blockersOf(actor: Principal, group: GroupEntity, mode: GroupDeletionMode, heir: GroupEntity | null, m: EntityManager = this.dataSource.manager): Promise<EnvironmentEntity[]> {
    const blockers = new Blockers();
    for (const h of await m.getRepository(HostEntity).find({ where: { ownerGroupId: group.id }, order: { hostname: 'ASC' } })) blockers.add(`it owns host ${h.hostname} (drain and delete it first)`);
    for (const s of await m.getRepository(SiteEntity).find({ where: { ownerGroupId: group.id }, order: { name: 'ASC' } })) blockers.add(`it owns site ${s.name} (delete it first)`);
    const envs = await m.getRepository(EnvironmentEntity).find({ where: { groupId: group.id, status: Not(EnvironmentStatus.DESTROYED) }, order: { name: 'ASC' } });
    for (const env of envs) if (!SETTLED.includes(env.status)) blockers.add(`environment ${env.name} is ${env.status}`);
    if (heir) {
      const hostIds = [...new Set(envs.map((e) => e.hostId))];
      const hosts = hostIds.length ? await m.getRepository(HostEntity).findBy({ id: In(hostIds) }) : [];
      const shared = new Set((hostIds.length ? await m.getRepository(ShareEntity).findBy({ groupId: heir.id, hostId: In(hostIds) }) : []).map((s) => s.hostId));
      for (const h of hosts) if (h.ownerGroupId !== heir.id && !shared.has(h.id)) blockers.add(`group ${heir.slug} has no share on host ${h.hostname}, where its environments would run`);
    } else {
      const images = await m.getRepository(ImageEntity).findBy({ vendorGroupId: group.id });
      if (images.length) {
        const users = await m.getRepository(EnvironmentEntity).find({ where: { imageId: In(images.map((i) => i.id)), groupId: Not(group.id), status: Not(EnvironmentStatus.DESTROYED) } });
        for (const image of images) {
          const count = users.filter((u) => u.imageId === image.id).length;
          if (count) blockers.add(`image ${image.name}:${image.version} is used by ${count} environment(s) of other groups`);
        }
      }
      const layers = await m.getRepository(LayerEntity).findBy({ groupId: group.id });
      if (layers.length) {
        const children = await m.getRepository(LayerEntity).find({ where: { parentId: In(layers.map((l) => l.id)), groupId: Not(group.id) } });
        for (const c of children) blockers.add(`${nameFor(policy.isMember(actor, c.groupId), 'layer', c.name)} stands on its layer ${layers.find((l) => l.id === c.parentId)!.name}`);
      }
    }
    blockers.refuse(`Group ${group.slug} cannot be deleted`);
    return envs;
  }
}

/** Gives the group's environments and what they stand on to `heir`, inside the caller's transaction. */
async function handOver(m: EntityManager, from: string, heir: string): Promise<void> {
  // What each group holds of a resource changes: its generation moves, so a claim planned on the old split loses its race.
  await m.query(`UPDATE resource SET generation = generation + 1 WHERE id IN (SELECT "resourceId" FROM allocation_claim WHERE "groupId" = $1 AND active)`, [from]);
  await m.getRepository(EnvironmentEntity).update({ groupId: from }, { groupId: heir });
  await m.getRepository(AllocationEntity).update({ groupId: from }, { groupId: heir });
  await m.getRepository(AllocationClaimEntity).update({ groupId: from }, { groupId: heir });
  await m.getRepository(AllocationRequestEntity).update({ groupId: from }, { groupId: heir });
  await m.getRepository(LayerEntity).update({ groupId: from }, { groupId: heir });
  await m.getRepository(ImageEntity).update({ vendorGroupId: from }, { vendorGroupId: heir });
  await m.getRepository(ReplicationPolicyEntity).update({ groupId: from }, { groupId: heir });
}
