import { randomBytes } from 'node:crypto';
import { DataSource, In, Repository } from 'typeorm';
import { Revert } from '../../drivers/revert';
import type { AgentLink } from '../agent/agent-link';
import { callContext } from '../agent/call-context';
import { environmentRequest } from '../agent/environment-request';
import type { ArtifactStore } from '../artifacts/artifact-store';
import { copyArtifact } from '../artifacts/chunk-copy';
import { policy } from '../auth/policy';
import type { Principal } from '../auth/principal';
import { EnvironmentLifecycle, validateEnvironmentName, type EnvironmentEnding } from '../environments';
import { BadInputError, ConflictError, IntegrityError, NotFoundError, RspError } from '../errors';
import { RspPubSub, Topic } from '../events/pubsub';
import type { Logger } from '../logging/logger';
import {
  EnvironmentEntity,
  EnvironmentStatus,
  GroupEntity,
  HostEntity,
  HostState,
  LayerEntity,
  MemberRole,
  OperationEntity,
  ReplicaEntity,
  TERMINAL_OPERATION_STATES,
  ReplicaSource,
  ReplicationKind,
  ReplicationPolicyEntity,
  ReplicationTargetKind,
  SiteEntity,
} from '../persistence/entities';
import type { GroupKeys } from '../replication/group-keys';
import { layerRuleViolation } from '../replication/layer-rule';
import { ReplicaStores } from '../replication/replica-stores';
import { replicasBeyondKeep } from '../replication/retention';
import { BackoffSettings, nextRunAfter } from '../replication/retry-backoff';
import { parseSchedule, Schedule } from '../replication/schedule';
import type { LayerService } from './layer-service';
import type { OperationControl, OperationService } from './operation-service';

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
  enabled?: boolean;
}

/** What may change on a policy. */
export type UpdateReplicationPolicy = Partial<Omit<CreateReplicationPolicy, 'environmentId'>>;

/**
 * Progress of a replication run, from the artifact stores: `export` counts what the source host's
 * store read (new: chunks it lacked), `copy` what went to the store that keeps the replica (new:
 * chunks moved there, of `totalChunks`).
 */
export interface ReplicationProgress {
  phase: 'export' | 'copy';
  bytes: number;
  chunks: number;
  newChunks: number;
  newBytes: number;
  /** copy: the replica's chunks. */
  totalChunks?: number;
}

/** Options of `replicateEnvironment`. */
export interface ReplicateOptions {
  /** The policy whose settings (kind, target, encryption, keep) apply; default: a one-off EXTERNAL copy to the store. */
  policyId?: string;
  /** Keep the replica in this host's store instead of the policy's target (migration: its target host). */
  storeHostId?: string;
  signal?: AbortSignal;
  onProgress?(progress: ReplicationProgress): void;
}

/** Options of `restoreReplica`. */
export interface RestoreOptions {
  /** Keep the environment's id, name and volumes (failover, migration); otherwise a new environment, like a copy. */
  sameIdentity: boolean;
  /** Start it once restored. */
  start: boolean;
  /** Name of the new environment (without sameIdentity); default `<name>-restored-<time>`. */
  name?: string;
  /**
   * With sameIdentity: the environment as the caller's step holds it (MIGRATING, FAILING_OVER);
   * the restore moves it and ends that step when it runs, and a failure leaves the step to its
   * caller. Without it the restore holds the environment itself (RESTORING).
   */
  claimed?: EnvironmentEntity;
  signal?: AbortSignal;
  onProgress?(fraction: number, message: string): void;
}

/** How replication behaves in this gateway. */
export interface ReplicationSettings {
  /** Shortest interval a schedule may have (minutes). */
  minimumIntervalMinutes: number;
  /** Retries after failures. */
  backoff: BackoffSettings;
  /** Longest `keep` a policy may ask for. */
  maxKeep: number;
}

/** Defaults of `ReplicationSettings`. */
export const DEFAULT_REPLICATION_SETTINGS: ReplicationSettings = { minimumIntervalMinutes: 5, backoff: { baseMs: 60_000, maxMs: 3_600_000 }, maxKeep: 100 };

const REPLICABLE = [EnvironmentStatus.CREATED, EnvironmentStatus.STOPPED, EnvironmentStatus.RUNNING, EnvironmentStatus.MIGRATING];
const POLICY_NAME = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$/;
/** A run whose operation has not moved for this long is taken as interrupted. */
const STALE_RUN_MS = 15 * 60_000;

/**
 * Replication (seeds 000, 001, 004): policies attached to layers, runs as operations on a
 * schedule with retries, replicas (deduplicated, checksummed, optionally encrypted with the group
 * key) exported into the source host's artifact store and copied — only the chunks it lacks — to
 * the store of the policy's target (a host's agent, or the gateway's store), pruning, and restore —
 * which reads the replica where it lives, verifies every checksum before anything is created on
 * the target and reverts whatever it created when a step fails.
 */
export class ReplicationService {
  private readonly policies: Repository<ReplicationPolicyEntity>;
  private readonly replicaRepo: Repository<ReplicaEntity>;
  private readonly envs: Repository<EnvironmentEntity>;
  /** Where replicas live: host agents' stores and the gateway's. */
  private readonly stores: ReplicaStores;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;

  constructor(
    private readonly dataSource: DataSource,
    private readonly agents: AgentLink,
    private readonly operations: OperationService,
    private readonly layers: LayerService,
    /** The gateway's store (RSP_ARTIFACT_DIR): where STORE-target and one-off replicas live. */
    readonly store: ArtifactStore,
    private readonly keys: GroupKeys,
    private readonly logger: Logger,
    private readonly pubSub: RspPubSub,
    /** The one writer of environments' records, statuses and events. */
    private readonly lifecycle: EnvironmentLifecycle,
    readonly settings: ReplicationSettings = DEFAULT_REPLICATION_SETTINGS,
  ) {
    this.policies = dataSource.getRepository(ReplicationPolicyEntity);
    this.replicaRepo = dataSource.getRepository(ReplicaEntity);
    this.envs = dataSource.getRepository(EnvironmentEntity);
    this.stores = new ReplicaStores(dataSource, agents, store, logger);
  }

  // --- policies -----------------------------------------------------------------------------

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
      enabled: input.enabled ?? true,
    });
    const schedule = this.parse(fields.schedule);
    return this.policies.save(this.policies.create({ ...fields, groupId: env.groupId, environmentId: env.id, failCount: 0, nextRunAt: fields.enabled ? schedule.next(new Date()) : null }));
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
      enabled: current.enabled,
      ...defined,
      ...(defined.targetKind === ReplicationTargetKind.STORE ? { targetId: null } : {}),
    });
    const rescheduled = fields.schedule !== current.schedule || fields.enabled !== current.enabled;
    const nextRunAt = !fields.enabled ? null : rescheduled ? this.parse(fields.schedule).next(new Date()) : current.nextRunAt;
    const retargeted = fields.targetKind !== current.targetKind || fields.targetId !== current.targetId;
    const result = await this.policies.update({ id, version: current.version }, { ...fields, nextRunAt, ...(retargeted ? { storeHostId: null } : {}) });
    if (!result.affected) throw new ConflictError(`Replication policy ${current.name} changed meanwhile; try again`, { id });
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
    if (options.deleteReplicas) await this.discardReplicas(await this.replicaRepo.findBy({ policyId: id }));
    return current;
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

  // --- replicas -----------------------------------------------------------------------------

  /** A replica the caller may see. */
  async replica(actor: Principal, id: string): Promise<ReplicaEntity> {
    policy.requireAuthenticated(actor);
    const found = await this.replicaRepo.findOneBy({ id });
    if (!found || !policy.isMember(actor, found.groupId)) throw new NotFoundError('Replica', id);
    return found;
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
    const all = await this.replicaRepo.find({ where: { environmentId, kind: ReplicationKind.EXTERNAL }, order: { createdAt: 'DESC', id: 'DESC' }, take: 100 });
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

  // --- runs ---------------------------------------------------------------------------------

  /** Runs a policy now, as an operation (CONFLICT while it already runs). */
  async replicateNow(actor: Principal, policyId: string): Promise<OperationEntity> {
    const found = await this.policy(actor, policyId);
    policy.requireRole(actor, found.groupId, MemberRole.MEMBER, 'run replication of this environment');
    return this.startRun(found);
  }

  /**
   * System level (no actor; callers check the rules): replicates an environment now with a
   * policy's settings (or a one-off EXTERNAL copy to the store) and returns the replica. Prunes the
   * policy's replicas beyond `keep` afterwards.
   */
  async replicateEnvironment(environmentId: string, options: ReplicateOptions = {}): Promise<ReplicaEntity> {
    const env = await this.envs.findOneBy({ id: environmentId });
    if (!env) throw new NotFoundError('Environment', environmentId);
    const pol = options.policyId ? await this.policies.findOneBy({ id: options.policyId }) : null;
    if (options.policyId && !pol) throw new NotFoundError('ReplicationPolicy', options.policyId);
    if (pol && pol.environmentId !== env.id) throw new BadInputError(`Replication policy ${pol.name} is not of environment ${env.name}`, { policyId: pol.id });
    const kind = pol?.kind ?? ReplicationKind.EXTERNAL;
    if (!REPLICABLE.includes(env.status)) throw new ConflictError(`Cannot replicate environment ${env.name}: it is ${env.status}`, { status: env.status });
    if (kind === ReplicationKind.INTERNAL && env.status !== EnvironmentStatus.RUNNING) throw new ConflictError(`An INTERNAL replica runs a command inside environment ${env.name}, which is ${env.status}, not RUNNING`, { status: env.status });
    const agent = await this.stores.agentOf(env.hostId);
    const holder = options.storeHostId ? await this.stores.usableHost(options.storeHostId) : await this.stores.holderFor(pol, env);
    const encrypted = pol?.encrypted ?? false;
    const key = encrypted ? await this.keys.keyFor(env.groupId) : undefined;

    // EXTERNAL: the environment as a whole; INTERNAL: what the policy's backup command prints inside it.
    const labels = { environment: env.id, group: env.groupId, kind, ...(pol ? { policy: pol.id } : {}) };
    const exported = await agent.exportEnvironment(
      { driver: env.driver, environmentId: env.id, ...(kind === ReplicationKind.INTERNAL ? { commandOutput: pol!.backupCommand! } : {}), ...(key ? { key: key.toString('base64') } : {}), labels },
      callContext(agent, { signal: options.signal }),
    );
    const { manifestId, ...stats } = exported;
    options.onProgress?.({ phase: 'export', ...stats });
    const staging = await this.stores.storeOf(env.hostId, options.signal);
    const revert = new Revert();
    revert.add(() => this.stores.dropUnused(env.hostId, staging, manifestId));
    try {
      const target = holder ? await this.stores.storeOf(holder.id, options.signal) : this.stores.gatewayPlace;
      let movedBytes = 0;
      if (target.location !== staging.location) {
        revert.add(() => this.stores.dropUnused(holder?.id ?? null, target, manifestId));
        const totalChunks = stats.chunks;
        const copied = await copyArtifact(staging, target, manifestId, { key, signal: options.signal, onProgress: (p) => options.onProgress?.({ phase: 'copy', ...p, totalChunks }) });
        movedBytes = copied.stats.newBytes;
      }
      const replica = await this.replicaRepo.save(
        this.replicaRepo.create({
          policyId: pol?.id ?? null,
          environmentId: env.id,
          groupId: env.groupId,
          layerId: pol?.layerId ?? env.layerId,
          kind,
          manifestId,
          bytes: stats.bytes,
          newBytes: stats.newBytes,
          chunks: stats.chunks,
          encrypted,
          targetKind: pol?.targetKind ?? ReplicationTargetKind.STORE,
          targetId: pol?.targetId ?? null,
          storeHostId: holder?.id ?? null,
          stagingHostId: env.hostId,
          movedBytes,
          source: sourceOf(env, pol),
          verifiedAt: null,
        }),
      );
      revert.success();
      if (pol) await this.prune(pol);
      return replica;
    } finally {
      await revert.run();
    }
  }

  /** Deletes the policy's replicas beyond its `keep` and collects the stores' unreferenced chunks. */
  async prune(pol: Pick<ReplicationPolicyEntity, 'id' | 'keep'>): Promise<ReplicaEntity[]> {
    const all = await this.replicaRepo.findBy({ policyId: pol.id });
    const doomed = replicasBeyondKeep(all, pol.keep);
    await this.discardReplicas(doomed);
    return doomed;
  }

  /**
   * Deletes replicas, and from each store that held them (where they live, and the source host's
   * store that keeps the export) their manifests no other replica there shares, then collects
   * those stores. A store that cannot be reached now (its host is DOWN) keeps them: logged.
   */
  async discardReplicas(doomed: Array<Pick<ReplicaEntity, 'id' | 'manifestId'>>): Promise<void> {
    if (!doomed.length) return;
    const rows = await this.replicaRepo.findBy({ id: In(doomed.map((r) => r.id)) });
    await this.replicaRepo.delete({ id: In(doomed.map((r) => r.id)) });
    const places = new Map<string, { hostId: string | null; manifests: Set<string> }>();
    for (const r of rows) {
      for (const hostId of new Set([r.storeHostId, ...(r.stagingHostId ? [r.stagingHostId] : [])])) {
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

  /** Runs every enabled policy that is due and not running; returns the operations started. */
  async runDue(now = new Date()): Promise<OperationEntity[]> {
    await this.releaseStaleClaims(now);
    const due = await this.policies
      .createQueryBuilder('p')
      .where('p.enabled = true AND p."runningOperationId" IS NULL AND p."nextRunAt" <= :now', { now })
      .orderBy('p."nextRunAt"', 'ASC')
      .getMany();
    const started: OperationEntity[] = [];
    for (const p of due) {
      try {
        started.push(await this.startRun(p));
      } catch (e) {
        if (!(e instanceof ConflictError)) this.logger.warn({ err: e, policy: p.id }, 'could not start a due replication');
      }
    }
    return started;
  }

  /**
   * Frees policies whose run can no longer end on its own: its operation ended or vanished, or
   * (a gateway stopped mid-run) has not been updated for `STALE_RUN_MS`. Returns how many.
   */
  async releaseStaleClaims(now = new Date()): Promise<number> {
    const claimed = await this.policies.createQueryBuilder('p').where('p."runningOperationId" IS NOT NULL').getMany();
    let released = 0;
    for (const p of claimed) {
      const op = await this.dataSource.getRepository(OperationEntity).findOneBy({ id: p.runningOperationId! });
      const young = Date.now() - (p.lastTryAt?.getTime() ?? 0) < 5_000;
      const ended = op ? TERMINAL_OPERATION_STATES.has(op.state) : !young;
      const stale = op && !ended && now.getTime() - op.updatedAt.getTime() > STALE_RUN_MS;
      if (!ended && !stale) continue;
      const result = await this.policies.update({ id: p.id, runningOperationId: p.runningOperationId! }, { runningOperationId: null, ...(stale ? { lastError: 'the run was interrupted (its gateway stopped)', failCount: p.failCount + 1 } : {}) });
      released += result.affected ?? 0;
    }
    if (released) this.logger.warn({ released }, 'released replication policies whose run had ended without them');
    return released;
  }

  /** Starts the scheduler: every `intervalMs`, due policies run. 0 turns it off. */
  start(intervalMs: number): void {
    this.stop();
    if (intervalMs <= 0) return;
    this.timer = setInterval(() => {
      if (this.ticking) return;
      this.ticking = this.runDue()
        .then(() => undefined)
        .catch((e: unknown) => this.logger.warn({ err: e }, 'replication scheduler tick failed'))
        .finally(() => (this.ticking = undefined));
    }, intervalMs);
    this.timer.unref();
  }

  /** Stops the scheduler (runs in progress continue). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking;
  }

  // --- restore ------------------------------------------------------------------------------

  /**
   * Restores a replica as an operation: EXTERNAL replicas become an environment on `hostId`
   * (default: the policy's target, else the original host); INTERNAL ones are fed to the restore
   * command inside their (running) environment. Every checksum is verified first.
   */
  async restore(actor: Principal, replicaId: string, input: { hostId?: string; name?: string; start?: boolean } = {}): Promise<OperationEntity> {
    const replica = await this.replica(actor, replicaId);
    policy.requireRole(actor, replica.groupId, MemberRole.MEMBER, 'restore replicas of this group');
    if (replica.kind === ReplicationKind.INTERNAL) {
      if (input.hostId) throw new BadInputError('An INTERNAL replica is restored inside its own running environment; hostId does not apply', { replicaId });
      const env = await this.envs.findOneBy({ id: replica.environmentId });
      if (!env || env.status !== EnvironmentStatus.RUNNING) throw new ConflictError(`An INTERNAL replica is restored by a command inside its environment, which is ${env?.status ?? 'gone'}, not RUNNING`, { environmentId: replica.environmentId });
      return this.operations.start({ kind: 'replica.restore', targetType: 'Replica', targetId: replica.id, groupId: replica.groupId }, async (op) => {
        await this.restoreInternal(replica, env, op);
        return { environmentId: env.id, replicaId: replica.id };
      });
    }
    if (input.name !== undefined) validateEnvironmentName(input.name);
    const host = input.hostId ? await this.dataSource.getRepository(HostEntity).findOneBy({ id: input.hostId }) : await this.defaultRestoreHost(replica);
    if (!host && input.hostId) throw new NotFoundError('Host', input.hostId);
    if (!host) throw new ConflictError(`No host of replica ${replica.id}'s target (${replica.targetKind}) nor its original host is UP: name one with hostId`, { replicaId: replica.id });
    return this.operations.start({ kind: 'replica.restore', targetType: 'Replica', targetId: replica.id, groupId: replica.groupId }, async (op) => {
      const env = await this.restoreReplica(replica.id, host.id, { sameIdentity: false, start: input.start ?? false, name: input.name, signal: op.signal, onProgress: (f, m) => void op.progress(f, m) });
      return { environmentId: env.id, replicaId: replica.id, hostId: host.id };
    });
  }

  /**
   * System level (no actor; callers check the rules): restores an EXTERNAL replica onto a host.
   * Verifies every chunk first (IntegrityError, nothing created); then records the environment,
   * imports the stream and optionally starts it; any failure reverts every step taken. With
   * `sameIdentity` the existing environment record keeps its id, name and volumes and moves to
   * the target host.
   */
  async restoreReplica(replicaId: string, targetHostId: string, options: RestoreOptions): Promise<EnvironmentEntity> {
    const replica = await this.replicaRepo.findOneBy({ id: replicaId });
    if (!replica) throw new NotFoundError('Replica', replicaId);
    if (replica.kind !== ReplicationKind.EXTERNAL) throw new BadInputError('An INTERNAL replica holds what a command inside the environment produced, not the environment: restore it into its running environment', { replicaId });
    const host = await this.dataSource.getRepository(HostEntity).findOneBy({ id: targetHostId });
    if (!host) throw new NotFoundError('Host', targetHostId);
    if (host.state !== HostState.UP) throw new ConflictError(`Host ${host.hostname} is ${host.state}, not UP`, { hostId: host.id, state: host.state });
    const agent = this.agents.forHost(host);
    const src = replica.source;
    const driver = (await agent.drivers()).find((d) => d.name === src.driver && d.available);
    if (!driver) throw new BadInputError(`Host ${host.hostname} has no usable driver ${src.driver}`, { driver: src.driver });
    const progress = options.onProgress ?? (() => undefined);
    const key = replica.encrypted ? await this.keys.keyFor(replica.groupId) : undefined;

    progress(0.05, 'verifying every checksum');
    await this.verify(replica, key);
    options.signal?.throwIfAborted();

    const revert = new Revert();
    const previousHostId = (await this.envs.findOneBy({ id: replica.environmentId }))?.hostId ?? replica.source.hostId;
    try {
      const env = options.sameIdentity ? await this.claimIdentity(replica, host, revert, options.claimed) : await this.recordCopy(replica, host, options.name);
      if (!options.sameIdentity) revert.add(() => this.discard(env));
      progress(0.2, `copying the replica to ${host.hostname}`);
      const here = await this.stores.storeOf(host.id, options.signal);
      // A copy made here for the import is removed afterwards; one the host's store kept already stays.
      const copied = !(await here.hasManifest(replica.manifestId));
      if (copied) revert.add(() => this.stores.dropUnused(host.id, here, replica.manifestId));
      await copyArtifact(await this.stores.storeOf(replica.storeHostId, options.signal), here, replica.manifestId, { key, signal: options.signal, onProgress: (p) => progress(0.2 + 0.4 * (replica.bytes ? p.bytes / replica.bytes : 1), 'copying the replica') });
      progress(0.6, `importing into ${env.name} on ${host.hostname}`);
      // Same identity through the agent that already holds the environment's volumes: they are its data, never removed here.
      const ownVolumes = !options.sameIdentity || agent.id !== (await this.stores.agentOf(previousHostId).catch(() => undefined))?.id;
      if (ownVolumes) revert.add(() => agent.removeVolumes({ environmentId: env.id }));
      const context = () => callContext(agent, { signal: options.signal });
      const target = { driver: env.driver, environmentId: env.id };
      const artifact = { manifestId: replica.manifestId, ...(key ? { key: key.toString('base64') } : {}) };
      const info = await agent.importEnvironment({ driver: env.driver, artifact, environment: environmentRequest(env), image: src.imageRef ?? { ref: '' } }, context());
      revert.add(() => agent.destroyEnvironment(target, callContext(agent)));
      let status = EnvironmentStatus.STOPPED;
      if (options.start) {
        progress(0.85, 'starting');
        await agent.startEnvironment(target, context());
        revert.add(() => agent.stopEnvironment({ ...target, graceSeconds: 1 }, callContext(agent)));
        status = EnvironmentStatus.RUNNING;
      }
      await this.setStatus(env, { status, imageRef: info.image, lastError: null });
      revert.success();
      if (copied) await this.stores.dropUnused(host.id, here, replica.manifestId).catch((e: unknown) => this.logger.warn({ err: e, replica: replica.id }, "could not remove the restore's copy of the replica from the host's store"));
      return env;
    } finally {
      const errors = await revert.run();
      for (const e of errors) this.logger.warn({ err: e, replica: replica.id }, 'a revert step of a failed restore failed');
    }
  }

  /** Verifies every chunk of a replica; records when it passed, throws the store's IntegrityError otherwise. */
  async verify(replica: ReplicaEntity, key?: Buffer): Promise<void> {
    const k = key ?? (replica.encrypted ? await this.keys.keyFor(replica.groupId) : undefined);
    const report = await (await this.stores.storeOf(replica.storeHostId)).verify(replica.manifestId, k);
    if (!report.ok) {
      const first = report.problems[0]!;
      throw new IntegrityError(replica.manifestId, first.chunk ?? undefined, `${first.reason} (replica ${replica.id}: ${report.problems.length} problem(s) found; nothing was restored)`, { replicaId: replica.id, problems: report.problems.slice(0, 20) });
    }
    replica.verifiedAt = new Date();
    await this.replicaRepo.update({ id: replica.id }, { verifiedAt: replica.verifiedAt });
  }

  /** Where a replica is restored when no host is named: the host whose store keeps it, the policy's target host, an UP host of its site or group, else the original host. */
  async defaultRestoreHost(replica: ReplicaEntity): Promise<HostEntity | null> {
    const hosts = this.dataSource.getRepository(HostEntity);
    const up = (h: HostEntity | null) => (h && h.state === HostState.UP ? h : null);
    const original = async () => up(await hosts.findOneBy({ id: replica.source.hostId }));
    const holder = replica.storeHostId ? up(await hosts.findOneBy({ id: replica.storeHostId })) : null;
    if (holder) return holder;
    switch (replica.targetKind) {
      case ReplicationTargetKind.HOST:
        return up(await hosts.findOneBy({ id: replica.targetId! })) ?? original();
      case ReplicationTargetKind.SITE:
        return (await hosts.findOne({ where: { siteId: replica.targetId!, state: HostState.UP }, order: { hostname: 'ASC' } })) ?? original();
      case ReplicationTargetKind.GROUP:
        return (await hosts.findOne({ where: { ownerGroupId: replica.targetId!, state: HostState.UP }, order: { hostname: 'ASC' } })) ?? original();
      default:
        return original();
    }
  }

  // --- internals ----------------------------------------------------------------------------

  /** Starts a run of `pol` as an operation, marking the policy as running (CONFLICT when it already is). */
  private async startRun(pol: ReplicationPolicyEntity): Promise<OperationEntity> {
    const claimed = await this.policies
      .createQueryBuilder()
      .update(ReplicationPolicyEntity)
      .set({ runningOperationId: '00000000-0000-0000-0000-000000000000', lastTryAt: new Date() })
      .where('id = :id AND "runningOperationId" IS NULL', { id: pol.id })
      .execute();
    if (!claimed.affected) throw new ConflictError(`Replication policy ${pol.name} is already running`, { id: pol.id });
    // The run waits until the policy names its operation, so its end cannot be overwritten by that write.
    let named!: () => void;
    const recorded = new Promise<void>((resolve) => (named = resolve));
    try {
      const op = await this.operations.start({ kind: 'replication.run', targetType: 'ReplicationPolicy', targetId: pol.id, groupId: pol.groupId }, async (control) => {
        await recorded;
        return this.run(pol, control);
      });
      await this.policies.update({ id: pol.id }, { runningOperationId: op.id });
      named();
      return op;
    } catch (e) {
      named();
      await this.policies.update({ id: pol.id }, { runningOperationId: null });
      throw e;
    }
  }

  /** One run: replicate, record the Proxmox-style status, schedule the next run, publish the event. */
  private async run(pol: ReplicationPolicyEntity, op: OperationControl): Promise<Record<string, unknown>> {
    const started = Date.now();
    let estimate = 0;
    try {
      const env = await this.envs.findOneBy({ id: pol.environmentId });
      if (!env || env.status === EnvironmentStatus.DESTROYED) {
        await this.policies.update({ id: pol.id }, { enabled: false });
        pol.enabled = false;
        throw new ConflictError(`Environment ${env?.name ?? pol.environmentId} was destroyed; policy ${pol.name} is now disabled`, { environmentId: pol.environmentId });
      }
      const last = await this.replicaRepo.findOne({ where: { policyId: pol.id }, order: { createdAt: 'DESC' } });
      estimate = last?.bytes ?? 0;
      await op.progress(0.01, `replicating ${env?.name ?? pol.environmentId}`);
      const replica = await this.replicateEnvironment(pol.environmentId, {
        policyId: pol.id,
        signal: op.signal,
        onProgress: (p) =>
          void (p.phase === 'export'
            ? op.progress(estimate ? Math.min(0.6, (0.6 * p.bytes) / estimate) : 0.3, `export: read ${p.bytes} bytes in ${p.chunks} chunks, ${p.newBytes} bytes new on the source host`)
            : op.progress(0.6 + 0.35 * (p.totalChunks ? p.chunks / p.totalChunks : 1), `copy: ${p.chunks} of ${p.totalChunks ?? '?'} chunks checked, ${p.newBytes} bytes moved to the target store`)),
      });
      const ended = new Date();
      const schedule = this.parse(pol.schedule);
      await this.policies.update({ id: pol.id }, { runningOperationId: null, lastSyncAt: ended, lastDurationMs: ended.getTime() - started, failCount: 0, lastError: null, nextRunAt: pol.enabled ? schedule.next(ended) : null });
      this.publish(pol, { state: 'SUCCEEDED', replicaId: replica.id, bytes: replica.bytes, newBytes: replica.newBytes, movedBytes: replica.movedBytes, chunks: replica.chunks, error: null });
      return { replicaId: replica.id, bytes: replica.bytes, newBytes: replica.newBytes, movedBytes: replica.movedBytes, chunks: replica.chunks, storeHostId: replica.storeHostId };
    } catch (e) {
      const ended = new Date();
      const current = await this.policies.findOneBy({ id: pol.id });
      const failCount = (current?.failCount ?? pol.failCount) + 1;
      const message = (e as Error).message ?? String(e);
      if (current) {
        const scheduled = this.parse(current.schedule).next(ended);
        await this.policies.update({ id: pol.id }, { runningOperationId: null, lastDurationMs: ended.getTime() - started, failCount, lastError: message, nextRunAt: current.enabled ? nextRunAfter(ended, failCount, scheduled, this.settings.backoff) : null });
      }
      this.publish(pol, { state: 'FAILED', replicaId: null, bytes: null, newBytes: null, movedBytes: null, chunks: null, error: message });
      throw e;
    }
  }

  /** Feeds a verified INTERNAL replica to the policy's restore command inside its running environment. */
  private async restoreInternal(replica: ReplicaEntity, env: EnvironmentEntity, op: OperationControl): Promise<void> {
    const command = replica.source.restoreCommand;
    if (!command?.length) throw new BadInputError('The policy that made this INTERNAL replica has no restore command', { replicaId: replica.id });
    const key = replica.encrypted ? await this.keys.keyFor(replica.groupId) : undefined;
    await op.progress(0.05, 'verifying every checksum');
    await this.verify(replica, key);
    await op.progress(0.4, 'copying the replica to the environment\'s host');
    const agent = await this.stores.agentOf(env.hostId);
    const here = await this.stores.storeOf(env.hostId, op.signal);
    const copied = !(await here.hasManifest(replica.manifestId));
    await copyArtifact(await this.stores.storeOf(replica.storeHostId, op.signal), here, replica.manifestId, { key, signal: op.signal });
    await op.progress(0.6, 'running the restore command');
    const stdinArtifact = { manifestId: replica.manifestId, ...(key ? { key: key.toString('base64') } : {}) };
    const result = await agent.exec({ driver: env.driver, environmentId: env.id, command, stdinArtifact }, callContext(agent, { signal: op.signal, operationId: op.operationId })).finally(async () => {
      if (copied) await this.stores.dropUnused(env.hostId, here, replica.manifestId);
    });
    if (result.exitCode !== 0) throw new RspError('CONFLICT', `The restore command ${JSON.stringify(command)} exited with ${result.exitCode}: ${result.stderr.trim().slice(0, 500)}`, { exitCode: result.exitCode });
  }

  /** Checks a policy's fields against the environment and returns them. */
  private async validate(env: EnvironmentEntity, f: Omit<ReplicationPolicyEntity, 'id' | 'groupId' | 'environmentId' | 'lastSyncAt' | 'lastTryAt' | 'lastDurationMs' | 'failCount' | 'nextRunAt' | 'lastError' | 'runningOperationId' | 'storeHostId' | 'createdAt' | 'updatedAt' | 'version'>) {
    if (!POLICY_NAME.test(f.name)) throw new BadInputError(`"${f.name}" is not a policy name (letters, digits, space . _ -; up to 100)`, { name: f.name });
    if (!Object.values(ReplicationKind).includes(f.kind)) throw new BadInputError(`kind must be ${Object.values(ReplicationKind).join(' or ')}`, { kind: f.kind });
    if (!Number.isInteger(f.keep) || f.keep < 1 || f.keep > this.settings.maxKeep) throw new BadInputError(`keep must be 1 to ${this.settings.maxKeep}`, { keep: f.keep });
    this.parse(f.schedule);
    await this.validateTarget(f.targetKind, f.targetId);
    const validCommand = (c: string[] | null) => c === null || (c.length > 0 && c.every((a) => typeof a === 'string' && !a.includes('\0')));
    if (!validCommand(f.backupCommand) || !validCommand(f.restoreCommand)) throw new BadInputError('Commands are non-empty argument lists (no shell strings)');
    if (f.kind === ReplicationKind.INTERNAL && !f.backupCommand) throw new BadInputError('An INTERNAL policy needs a backupCommand: the command run inside the environment whose output is the backup');
    if (f.kind === ReplicationKind.EXTERNAL && (f.backupCommand || f.restoreCommand)) throw new BadInputError('An EXTERNAL replica is made by the host from outside: backupCommand and restoreCommand are for INTERNAL policies');
    if (f.kind === ReplicationKind.INTERNAL && f.autoFailover) throw new BadInputError('autoFailover needs an EXTERNAL policy: an INTERNAL replica holds data, not a whole environment to start elsewhere');
    if (!env.layerId) throw new ConflictError(`Environment ${env.name} has no layer`, { environmentId: env.id });
    const replicating = await this.dataSource.getRepository(LayerEntity).findOneBy({ id: f.layerId });
    if (!replicating) throw new NotFoundError('Layer', f.layerId);
    const violation = layerRuleViolation(f.kind, replicating, await this.layers.chain(env.layerId), await this.layers.chain(replicating.id));
    if (violation) throw new BadInputError(violation, { layerId: f.layerId, environmentId: env.id, kind: f.kind });
    return f;
  }

  private async validateTarget(kind: ReplicationTargetKind, id: string | null): Promise<void> {
    if (!Object.values(ReplicationTargetKind).includes(kind)) throw new BadInputError(`targetKind must be one of ${Object.values(ReplicationTargetKind).join(', ')}`, { targetKind: kind });
    if (kind === ReplicationTargetKind.STORE) {
      if (id) throw new BadInputError('A STORE target takes no targetId', { targetId: id });
      return;
    }
    if (!id) throw new BadInputError(`A ${kind} target needs a targetId`, { targetKind: kind });
    const entity = { HOST: HostEntity, SITE: SiteEntity, GROUP: GroupEntity }[kind];
    if (!(await this.dataSource.getRepository(entity).existsBy({ id }))) throw new NotFoundError(kind === 'HOST' ? 'Host' : kind === 'SITE' ? 'Site' : 'Group', id);
  }

  private parse(expression: string): Schedule {
    return parseSchedule(expression, this.settings.minimumIntervalMinutes);
  }

  private async visibleEnvironment(actor: Principal, id: string): Promise<EnvironmentEntity> {
    policy.requireAuthenticated(actor);
    const env = await this.envs.findOneBy({ id });
    if (!env || env.status === EnvironmentStatus.DESTROYED || !policy.isMember(actor, env.groupId)) throw new NotFoundError('Environment', id);
    return env;
  }

  /**
   * Moves the existing environment record onto `host` for a same-identity restore, holding it
   * RESTORING unless the caller's step already holds it (`claimed`); the revert puts it back.
   */
  private async claimIdentity(replica: ReplicaEntity, host: HostEntity, revert: Revert, claimed?: EnvironmentEntity): Promise<EnvironmentEntity> {
    const env = claimed ?? (await this.envs.findOneBy({ id: replica.environmentId }));
    if (!env) throw new NotFoundError('Environment', replica.environmentId);
    if (env.id !== replica.environmentId) throw new BadInputError(`Replica ${replica.id} is not of environment ${env.name}`, { replicaId: replica.id, environmentId: env.id });
    if (env.status === EnvironmentStatus.DESTROYED) throw new ConflictError(`Environment ${env.name} was destroyed; restore it as a new environment`, { environmentId: env.id });
    const layer = env.layerId ? await this.dataSource.getRepository(LayerEntity).findOneBy({ id: env.layerId }) : null;
    const before = { id: env.hostId, layerId: layer?.parentId ?? null };
    if (!claimed) {
      const from = await this.lifecycle.begin(env, 'restore');
      revert.add(() => this.lifecycle.end(env, { status: from }));
    }
    await this.lifecycle.move(env, host);
    revert.add(() => this.lifecycle.move(env, before));
    return env;
  }

  /** Records a new environment (RESTORING) with its ZONE layer for a restore as a copy. */
  private recordCopy(replica: ReplicaEntity, host: HostEntity, name: string | undefined): Promise<EnvironmentEntity> {
    const src = replica.source;
    const chosen = name ?? `${src.name.slice(0, 40)}-restored-${new Date().toISOString().slice(0, 19).replace(/[-:T]/g, '')}-${randomBytes(2).toString('hex')}`;
    return this.lifecycle.record(
      {
        name: chosen,
        groupId: replica.groupId,
        hostId: host.id,
        driver: src.driver,
        technology: src.technology,
        imageId: src.imageId,
        limits: src.limits,
        volumes: src.volumes,
        iface: { ...src.iface, hostname: src.iface.hostname === src.name ? chosen : src.iface.hostname },
        command: src.command,
      },
      { hostLayerId: host.layerId, status: EnvironmentStatus.RESTORING },
    );
  }

  /** Removes a restore's half-made environment record and its layer. */
  private discard(env: EnvironmentEntity): Promise<void> {
    return this.lifecycle.discard(env);
  }

  /** Ends the restore (or the step that holds the environment) in `ending`. */
  private setStatus(env: EnvironmentEntity, ending: EnvironmentEnding): Promise<void> {
    return this.lifecycle.end(env, ending);
  }

  private publish(pol: ReplicationPolicyEntity, outcome: { state: 'SUCCEEDED' | 'FAILED'; replicaId: string | null; bytes: number | null; newBytes: number | null; movedBytes: number | null; chunks: number | null; error: string | null }): void {
    this.pubSub.publish(Topic.EVENT, { kind: 'REPLICATION', at: Date.now(), groupId: pol.groupId, siteId: null, replication: { policyId: pol.id, policyName: pol.name, environmentId: pol.environmentId, ...outcome } });
  }
}

/** What a replica keeps of its environment (and policy) to be restorable without them. */
function sourceOf(env: EnvironmentEntity, pol: ReplicationPolicyEntity | null): ReplicaSource {
  return {
    name: env.name,
    hostId: env.hostId,
    driver: env.driver,
    technology: env.technology,
    imageId: env.imageId,
    imageRef: env.imageRef,
    limits: env.limits,
    volumes: env.volumes,
    iface: env.iface,
    command: env.command,
    restoreCommand: pol?.restoreCommand ?? null,
  };
}
