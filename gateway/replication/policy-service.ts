import { DataSource, Repository } from 'typeorm';
import { policy } from '../auth/policy';
import type { Principal } from '../auth/principal';
import type { PeerRequest } from '../peering/known-peers';
import type { Peering } from '../peering/peering';
import { BadInputError, ConflictError, ForbiddenError, NotFoundError } from '../errors';
import { requireGroupRoom } from '../limits/group-records';
import { Topic, type RspPubSub } from '../events/pubsub';
import {
  EnvironmentEntity,
  EnvironmentStatus,
  GroupEntity,
  HostEntity,
  LayerEntity,
  MemberRole,
  ReplicaEntity,
  ReplicationKind,
  ReplicationPolicyEntity,
  ReplicationTargetKind,
  SiteEntity,
} from '../persistence/entities';
import type { HostAgent } from '../agent/host-agent';
import type { LayerService } from '../services/layer-service';
import { layerRuleViolation } from './layer-rule';
import { replicaHostsFor } from './replica-stores';
import type { ReplicaRecords } from './replica-records';
import { parseSchedule, Schedule } from './schedule';
import type { ReplicationSettings } from './settings';
import { requireSnapshotExport } from './snapshot-copy';

/** What a caller gives to create a replication policy. */
export interface CreateReplicationPolicy {
  environmentId: string;
  /** The layer that replicates; default: the environment's ZONE layer. */
  layerId?: string;
  name?: string;
  targetKind: ReplicationTargetKind;
  targetId?: string | null;
  schedule: string;
  keep?: number;
  kind?: ReplicationKind;
  backupCommand?: string[] | null;
  restoreCommand?: string[] | null;
  autoFailover?: boolean;
  encrypted?: boolean;
  /** EXTERNAL: each run snapshots the environment and exports from the snapshot (UNSUPPORTED_OPERATION when its driver cannot). */
  snapshotBeforeCopy?: boolean;
  enabled?: boolean;
  /** Restore drills of the newest replica on this schedule (EXTERNAL policies); null or "" for none. */
  drillSchedule?: string | null;
  /** STORE of another site (one of `RSP_PEER_SITES`): the replicas go to its gateway's store (see `PeerStore`), and are restored there. */
  peer?: PeerRequest | null;
}

/** What may change on a policy. */
export type UpdateReplicationPolicy = Partial<Omit<CreateReplicationPolicy, 'environmentId'>>;

/**
 * A policy whose replicas go to another site: STORE (that site's store), EXTERNAL, not encrypted
 * (the other site restores it without this group key), without automatic failover or drills here
 * (the replica is restored there).
 */
function checkPeerPolicy(f: Pick<ReplicationPolicyEntity, 'targetKind' | 'kind' | 'encrypted' | 'autoFailover' | 'drillSchedule' | 'snapshotBeforeCopy'>): void {
  if (f.targetKind !== ReplicationTargetKind.STORE) throw new BadInputError('A policy replicating to another site has targetKind STORE: the other site keeps the replicas in its store', { targetKind: f.targetKind });
  if (f.kind !== ReplicationKind.EXTERNAL) throw new BadInputError('Only EXTERNAL replicas go to another site (it restores the whole environment)', { kind: f.kind });
  if (f.encrypted) throw new BadInputError("A replica for another site is not encrypted with this site's group key: the other site could not restore it", { encrypted: true });
  if (f.autoFailover || f.drillSchedule) throw new BadInputError('autoFailover and restore drills are not for replicas kept at another site: restore them there');
  if (f.snapshotBeforeCopy) throw new BadInputError('snapshotBeforeCopy is not offered yet for replicas kept at another site');
}

const POLICY_NAME = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$/;

/** Replication policies: their CRUD and the checks of their fields (layer rule, target, schedule, commands). */
export class ReplicationPolicyService {
  private readonly policies: Repository<ReplicationPolicyEntity>;
  private readonly replicaRepo: Repository<ReplicaEntity>;
  private readonly envs: Repository<EnvironmentEntity>;

  constructor(
    private readonly dataSource: DataSource,
    private readonly layers: LayerService,
    /** Where a deleted policy's replicas go when they go too. */
    private readonly records: ReplicaRecords,
    private readonly settings: ReplicationSettings,
    /** The agent of a host: asked whether an environment's driver can export from a snapshot. */
    private readonly agentOf: (hostId: string) => Promise<HostAgent>,
    /** Which other sites a policy may name; its token sealed with the site's key. */
    private readonly peering: Peering,
    /** Where a change of auto-failover is announced (heartbeats' failover scopes follow it, on every replica). */
    private readonly pubSub?: RspPubSub,
  ) {
    this.policies = dataSource.getRepository(ReplicationPolicyEntity);
    this.replicaRepo = dataSource.getRepository(ReplicaEntity);
    this.envs = dataSource.getRepository(EnvironmentEntity);
  }

  /** Creates a policy after checking the layer rule, the target, the schedule and the commands. */
  async createPolicy(actor: Principal, input: CreateReplicationPolicy): Promise<ReplicationPolicyEntity> {
    const env = await this.visibleEnvironment(actor, input.environmentId);
    policy.requireRole(actor, env.groupId, MemberRole.MEMBER, 'manage replication of this environment');
    const fields = await this.validate(env, {
      name: input.name ?? `${env.name}-${(input.kind ?? ReplicationKind.EXTERNAL).toLowerCase()}`,
      layerId: input.layerId ?? env.layerId ?? '',
      targetKind: input.targetKind,
      targetId: input.targetId ?? null,
      schedule: input.schedule,
      keep: input.keep ?? 3,
      kind: input.kind ?? ReplicationKind.EXTERNAL,
      backupCommand: input.backupCommand ?? null,
      restoreCommand: input.restoreCommand ?? null,
      autoFailover: input.autoFailover ?? false,
      encrypted: input.encrypted ?? false,
      snapshotBeforeCopy: input.snapshotBeforeCopy ?? false,
      enabled: input.enabled ?? true,
      drillSchedule: input.drillSchedule || null,
    });
    if (fields.snapshotBeforeCopy) await requireSnapshotExport(await this.agentOf(env.hostId), env.driver);
    const peer = input.peer ? this.peering.peerFor(input.peer) : null;
    if (peer) checkPeerPolicy(fields);
    const schedule = this.parse(fields.schedule);
    const created = await this.dataSource.transaction(async (m) => {
      const policies = m.getRepository(ReplicationPolicyEntity);
      await requireGroupRoom(policies, { groupId: env.groupId }, env.groupId, 'replicationPolicies');
      return policies.save(
        policies.create({ ...fields, peerName: peer?.name ?? null, peerUrl: peer?.url ?? null, peerToken: peer ? this.peering.seal.seal(peer.token) : null, groupId: env.groupId, environmentId: env.id, failCount: 0, nextRunAt: fields.enabled ? schedule.next(new Date()) : null, nextDrillAt: this.nextDrill(fields, new Date()) }),
      );
    });
    if (created.autoFailover) this.scopeChanged(env);
    return created;
  }

  /** Changes a policy; the same checks as on creation apply to the result. */
  async updatePolicy(actor: Principal, id: string, input: UpdateReplicationPolicy): Promise<ReplicationPolicyEntity> {
    const current = await this.policy(actor, id);
    policy.requireRole(actor, current.groupId, MemberRole.MEMBER, 'manage replication of this environment');
    const env = await this.envs.findOneByOrFail({ id: current.environmentId });
    const defined = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)) as UpdateReplicationPolicy;
    const fields = await this.validate(env, {
      name: current.name,
      layerId: current.layerId,
      targetKind: current.targetKind,
      targetId: current.targetId,
      schedule: current.schedule,
      keep: current.keep,
      kind: current.kind,
      backupCommand: current.backupCommand,
      restoreCommand: current.restoreCommand,
      autoFailover: current.autoFailover,
      encrypted: current.encrypted,
      snapshotBeforeCopy: current.snapshotBeforeCopy,
      enabled: current.enabled,
      drillSchedule: current.drillSchedule,
      ...defined,
      ...(defined.targetKind === ReplicationTargetKind.STORE ? { targetId: null } : {}),
      ...(defined.drillSchedule !== undefined ? { drillSchedule: defined.drillSchedule || null } : {}),
    });
    if (fields.snapshotBeforeCopy && !current.snapshotBeforeCopy) await requireSnapshotExport(await this.agentOf(env.hostId), env.driver);
    if (current.peerName) checkPeerPolicy(fields);
    const rescheduled = fields.schedule !== current.schedule || fields.enabled !== current.enabled;
    const nextRunAt = !fields.enabled ? null : rescheduled ? this.parse(fields.schedule).next(new Date()) : current.nextRunAt;
    const retargeted = fields.targetKind !== current.targetKind || fields.targetId !== current.targetId;
    const redrilled = fields.drillSchedule !== current.drillSchedule || fields.enabled !== current.enabled;
    const nextDrillAt = redrilled ? this.nextDrill(fields, new Date()) : current.nextDrillAt;
    const result = await this.policies.update({ id, version: current.version }, { ...fields, nextRunAt, nextDrillAt, ...(retargeted ? { storeHostId: null } : {}) });
    if (!result.affected) throw new ConflictError(`Replication policy ${current.name} changed meanwhile; try again`, { id });
    if (fields.autoFailover !== current.autoFailover) this.scopeChanged(env);
    return this.policies.findOneByOrFail({ id });
  }

  /**
   * Deletes a policy (not while it runs). The replicas it made stay (restorable, deletable one by
   * one) unless `deleteReplicas`: then they are deleted from the stores they live in too.
   */
  async deletePolicy(actor: Principal, id: string, options: { deleteReplicas?: boolean } = {}): Promise<ReplicationPolicyEntity> {
    const current = await this.policy(actor, id);
    policy.requireRole(actor, current.groupId, MemberRole.MEMBER, 'manage replication of this environment');
    if (current.runningOperationId) throw new ConflictError(`Replication policy ${current.name} is running (operation ${current.runningOperationId}); try again when it ends`, { id });
    await this.policies.delete({ id });
    if (current.autoFailover) {
      const env = await this.envs.findOneBy({ id: current.environmentId });
      if (env) this.scopeChanged(env);
    }
    if (options.deleteReplicas) await this.records.discardReplicas(await this.replicaRepo.findBy({ policyId: id }));
    return current;
  }

  /** Announces that what failover would restart elsewhere may have changed on `env`'s host. */
  private scopeChanged(env: Pick<EnvironmentEntity, 'hostId'>): void {
    this.pubSub?.publish(Topic.FAILOVER_SCOPE_CHANGED, env.hostId);
  }

  /** A policy the caller may see (members of its group; site admins: any). */
  async policy(actor: Principal, id: string): Promise<ReplicationPolicyEntity> {
    policy.requireAuthenticated(actor);
    const found = await this.policies.findOneBy({ id });
    if (!found || !policy.isMember(actor, found.groupId)) throw new NotFoundError('ReplicationPolicy', id);
    return found;
  }

  /** Policies the caller may see, optionally of one environment, oldest first. */
  async listPolicies(actor: Principal, filter: { environmentId?: string }): Promise<ReplicationPolicyEntity[]> {
    const p = policy.requireAuthenticated(actor);
    const where: Record<string, unknown> = {};
    if (filter.environmentId) where.environmentId = filter.environmentId;
    if (!p.siteAdmin) where.groupId = p.groupId ?? '00000000-0000-0000-0000-000000000000';
    return this.policies.find({ where, order: { createdAt: 'ASC', id: 'ASC' } });
  }

  /** Policies with automatic failover on, for an environment (used by failover). */
  async autoFailoverPolicies(environmentId: string): Promise<ReplicationPolicyEntity[]> {
    return this.policies.find({ where: { environmentId, autoFailover: true }, order: { createdAt: 'ASC' } });
  }

  /** The first drill after `after` of an enabled policy with a drill schedule; null otherwise. */
  nextDrill(p: Pick<ReplicationPolicyEntity, 'enabled' | 'drillSchedule'>, after: Date): Date | null {
    return p.enabled && p.drillSchedule ? this.parse(p.drillSchedule).next(after) : null;
  }

  /** Parses a policy schedule, refusing intervals shorter than the gateway allows. */
  parse(expression: string): Schedule {
    return parseSchedule(expression, this.settings.minimumIntervalMinutes);
  }

  /** Checks a policy's fields against the environment and returns them. */
  private async validate(env: EnvironmentEntity, f: Omit<ReplicationPolicyEntity, 'id' | 'groupId' | 'environmentId' | 'lastSyncAt' | 'lastTryAt' | 'lastDurationMs' | 'failCount' | 'nextRunAt' | 'lastError' | 'runningOperationId' | 'lastChunkCounts' | 'nextDrillAt' | 'lastDrill' | 'storeHostId' | 'createdAt' | 'updatedAt' | 'version' | 'peerName' | 'peerUrl' | 'peerToken'>) {
    if (!POLICY_NAME.test(f.name)) throw new BadInputError(`"${f.name}" is not a policy name (letters, digits, space . _ -; up to 100)`, { name: f.name });
    if (!Object.values(ReplicationKind).includes(f.kind)) throw new BadInputError(`kind must be ${Object.values(ReplicationKind).join(' or ')}`, { kind: f.kind });
    if (!Number.isInteger(f.keep) || f.keep < 1 || f.keep > this.settings.maxKeep) throw new BadInputError(`keep must be 1 to ${this.settings.maxKeep}`, { keep: f.keep });
    this.parse(f.schedule);
    if (f.drillSchedule) this.parse(f.drillSchedule);
    if (f.drillSchedule && f.kind === ReplicationKind.INTERNAL) throw new BadInputError('Restore drills need an EXTERNAL policy: an INTERNAL replica is restored into its running environment, not into a scratch one', { drillSchedule: f.drillSchedule });
    await this.validateTarget(f.targetKind, f.targetId, env.groupId);
    const validCommand = (c: string[] | null) => c === null || (c.length > 0 && c.every((a) => typeof a === 'string' && !a.includes('\0')));
    if (!validCommand(f.backupCommand) || !validCommand(f.restoreCommand)) throw new BadInputError('Commands are non-empty argument lists (no shell strings)');
    if (f.kind === ReplicationKind.INTERNAL && !f.backupCommand) throw new BadInputError('An INTERNAL policy needs a backupCommand: the command run inside the environment whose output is the backup');
    if (f.kind === ReplicationKind.EXTERNAL && (f.backupCommand || f.restoreCommand)) throw new BadInputError('An EXTERNAL replica is made by the host from outside: backupCommand and restoreCommand are for INTERNAL policies');
    if (f.kind === ReplicationKind.INTERNAL && f.autoFailover) throw new BadInputError('autoFailover needs an EXTERNAL policy: an INTERNAL replica holds data, not a whole environment to start elsewhere');
    if (f.kind === ReplicationKind.INTERNAL && f.snapshotBeforeCopy) throw new BadInputError('snapshotBeforeCopy needs an EXTERNAL policy: an INTERNAL replica is what its backup command prints, not a copy of the environment');
    if (!env.layerId) throw new ConflictError(`Environment ${env.name} has no layer`, { environmentId: env.id });
    const replicating = await this.dataSource.getRepository(LayerEntity).findOneBy({ id: f.layerId });
    if (!replicating) throw new NotFoundError('Layer', f.layerId);
    const zoneChain = await this.layers.chain(env.layerId);
    const replicatingChain = await this.layers.chain(replicating.id);
    // Another group's layer outside the environment's stack is as unknown here as to `layer(id)`: never named.
    const inStack = zoneChain.some((l) => l.id === replicating.id) || replicatingChain.some((l) => l.id === env.layerId);
    if (!inStack && replicating.groupId !== env.groupId) throw new NotFoundError('Layer', f.layerId);
    const violation = layerRuleViolation(f.kind, replicating, zoneChain, replicatingChain);
    if (violation) throw new BadInputError(violation, { layerId: f.layerId, environmentId: env.id, kind: f.kind });
    return f;
  }

  private async validateTarget(kind: ReplicationTargetKind, id: string | null, groupId: string): Promise<void> {
    if (!Object.values(ReplicationTargetKind).includes(kind)) throw new BadInputError(`targetKind must be one of ${Object.values(ReplicationTargetKind).join(', ')}`, { targetKind: kind });
    if (kind === ReplicationTargetKind.STORE) {
      if (id) throw new BadInputError('A STORE target takes no targetId', { targetId: id });
      return;
    }
    if (!id) throw new BadInputError(`A ${kind} target needs a targetId`, { targetKind: kind });
    const entity = { HOST: HostEntity, SITE: SiteEntity, GROUP: GroupEntity }[kind];
    if (!(await this.dataSource.getRepository(entity).existsBy({ id }))) throw new NotFoundError(kind === 'HOST' ? 'Host' : kind === 'SITE' ? 'Site' : 'Group', id);
    if ((await replicaHostsFor(this.dataSource, groupId, kind, id)).length) return;
    const [named]: Array<{ name: string }> = await this.dataSource.query(
      kind === ReplicationTargetKind.HOST ? `SELECT hostname AS name FROM host WHERE id = $1` : kind === ReplicationTargetKind.SITE ? `SELECT name FROM site WHERE id = $1` : `SELECT slug AS name FROM "group" WHERE id = $1`,
      [id],
    );
    const where = kind === ReplicationTargetKind.HOST ? `host ${named?.name}` : kind === ReplicationTargetKind.SITE ? `any host of site ${named?.name}` : `any host of group ${named?.name}`;
    throw new ForbiddenError(`The environment's group has no share on ${where}: replicas are kept only on hosts the group owns or has a share on`, { targetKind: kind, targetId: id, groupId, missing: 'share' });
  }

  private async visibleEnvironment(actor: Principal, id: string): Promise<EnvironmentEntity> {
    policy.requireAuthenticated(actor);
    const env = await this.envs.findOneBy({ id });
    if (!env || env.status === EnvironmentStatus.DESTROYED || !policy.isMember(actor, env.groupId)) throw new NotFoundError('Environment', id);
    return env;
  }
}
