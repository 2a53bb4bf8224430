import { randomBytes } from 'node:crypto';
import { DataSource, EntityManager, Repository } from 'typeorm';
import { Revert } from '../../drivers/revert';
import type { AgentLink } from '../agent/agent-link';
import { callContext } from '../agent/call-context';
import { environmentRequest } from '../agent/environment-request';
import type { VerifyReport } from '../artifacts/artifact-store';
import { copyArtifact } from '../artifacts/chunk-copy';
import { policy } from '../auth/policy';
import type { Principal } from '../auth/principal';
import { EnvironmentLifecycle, validateEnvironmentName, type Alongside, type EnvironmentEnding } from '../environments';
import { BadInputError, ConflictError, NotFoundError, RspError } from '../errors';
import type { Logger } from '../logging/logger';
import {
  EnvironmentEntity,
  EnvironmentStatus,
  HostEntity,
  HostState,
  LayerEntity,
  MemberRole,
  OperationEntity,
  ReplicaEntity,
  ReplicationKind,
  ReplicationTargetKind,
} from '../persistence/entities';
import { limitWants } from '../placement/implicit';
import type { OperationControl, OperationService } from '../services/operation-service';
import type { PlacementService } from '../services/placement-service';
import type { GroupKeys } from './group-keys';
import type { ReplicaRecords } from './replica-records';
import type { ReplicaStores } from './replica-stores';

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
  /** Told what the check of every chunk against the manifest read, before anything is created. */
  onVerified?(report: VerifyReport): void;
}

/**
 * Restore of replicas: EXTERNAL ones become an environment (a new one, or the same identity moved
 * to another host for failover and migration), INTERNAL ones are fed to the policy's restore
 * command inside their running environment. Every checksum is verified before anything is created
 * on the target, and whatever a failed step created is reverted.
 */
export class RestoreService {
  private readonly replicaRepo: Repository<ReplicaEntity>;
  private readonly envs: Repository<EnvironmentEntity>;

  constructor(
    private readonly dataSource: DataSource,
    private readonly agents: AgentLink,
    private readonly operations: OperationService,
    /** Where replicas live: host agents' stores and the gateway's. */
    private readonly stores: ReplicaStores,
    private readonly keys: GroupKeys,
    private readonly logger: Logger,
    /** The one writer of environments' records, statuses and events. */
    private readonly lifecycle: EnvironmentLifecycle,
    /** Replicas the caller may see, and their verification. */
    private readonly records: ReplicaRecords,
    /** Where a restored environment claims its capacity on its host. */
    private readonly placement?: PlacementService,
  ) {
    this.replicaRepo = dataSource.getRepository(ReplicaEntity);
    this.envs = dataSource.getRepository(EnvironmentEntity);
  }

  /**
   * Restores a replica as an operation: EXTERNAL replicas become an environment on `hostId`
   * (default: the policy's target, else the original host); INTERNAL ones are fed to the restore
   * command inside their (running) environment. Every checksum is verified first.
   */
  async restore(actor: Principal, replicaId: string, input: { hostId?: string; name?: string; start?: boolean } = {}): Promise<OperationEntity> {
    const replica = await this.records.replica(actor, replicaId);
    policy.requireRole(actor, replica.groupId, MemberRole.MEMBER, 'restore replicas of this group');
    this.records.requireHere(replica);
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
    const agent = await this.agents.forHost(host);
    const src = replica.source;
    const driver = (await agent.drivers()).find((d) => d.name === src.driver && d.available);
    if (!driver) throw new BadInputError(`Host ${host.hostname} has no usable driver ${src.driver}`, { driver: src.driver });
    const progress = options.onProgress ?? (() => undefined);
    const key = replica.encrypted ? await this.keys.keyFor(replica.groupId) : undefined;

    progress(0.05, 'verifying every checksum');
    const verified = await this.records.verify(replica, key);
    options.onVerified?.(verified);
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
      // Same identity: what the environment held where it was is released as it is done here (its explicit allocation too, when it was elsewhere).
      const left = options.sameIdentity && !!env.allocationId && (await this.allocationHost(env.allocationId)) !== host.id;
      await this.setStatus(env, { status, imageRef: info.image, lastError: null, ...(left ? { allocationId: null } : {}) }, options.sameIdentity && this.placement ? (m) => this.placement!.releaseHeldWithin(m, { environmentId: env.id, keepHostId: host.id, allocationId: left ? env.allocationId : null }) : undefined);
      revert.success();
      if (copied) await this.stores.dropUnused(host.id, here, replica.manifestId).catch((e: unknown) => this.logger.warn({ err: e, replica: replica.id }, "could not remove the restore's copy of the replica from the host's store"));
      return env;
    } finally {
      const errors = await revert.run();
      for (const e of errors) this.logger.warn({ err: e, replica: replica.id }, 'a revert step of a failed restore failed');
    }
  }

  /**
   * Removes an environment a restore made that is not kept (a restore drill's scratch one): the
   * engine's environment and its volumes on the host, then its record, layer and the capacity it held.
   */
  async discardRestored(env: EnvironmentEntity): Promise<void> {
    const host = await this.dataSource.getRepository(HostEntity).findOneBy({ id: env.hostId });
    if (host) {
      const agent = await this.agents.forHost(host);
      const target = { driver: env.driver, environmentId: env.id };
      await agent.stopEnvironment({ ...target, graceSeconds: 1 }, callContext(agent)).catch((e: unknown) => this.logger.warn({ err: e, environment: env.id }, 'could not stop a restored environment before destroying it'));
      await agent.destroyEnvironment(target, callContext(agent));
      await agent.removeVolumes({ environmentId: env.id });
    }
    await this.discard(env);
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

  /** Feeds a verified INTERNAL replica to the policy's restore command inside its running environment. */
  private async restoreInternal(replica: ReplicaEntity, env: EnvironmentEntity, op: OperationControl): Promise<void> {
    const command = replica.source.restoreCommand;
    if (!command?.length) throw new BadInputError('The policy that made this INTERNAL replica has no restore command', { replicaId: replica.id });
    const key = replica.encrypted ? await this.keys.keyFor(replica.groupId) : undefined;
    await op.progress(0.05, 'verifying every checksum');
    await this.records.verify(replica, key);
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
    // It holds its capacity on the target from the move on (and still where it was, until it runs here).
    await this.lifecycle.move(env, host, before.id === host.id ? undefined : this.claimOn(env, host.id));
    revert.add(() => this.lifecycle.move(env, before, this.placement ? (m) => this.placement!.releaseHeldWithin(m, { environmentId: env.id, keepHostId: before.id }) : undefined));
    return env;
  }

  /**
   * The claim of an environment's limits on a host, run in the transaction that puts it there (none
   * without placement). An environment failing over keeps its work: usage policies do not refuse it.
   */
  private claimOn(env: Pick<EnvironmentEntity, 'id' | 'groupId' | 'limits' | 'technology' | 'status'>, hostId: string): ((m: EntityManager) => Promise<() => void>) | undefined {
    const placement = this.placement;
    if (!placement) return undefined;
    const keepsWork = env.status === EnvironmentStatus.FAILING_OVER;
    return async (m) => (await placement.claimWithin(m, { groupId: env.groupId, hostId, wants: limitWants(env.limits), technology: env.technology, requestedBy: 'restore', environmentId: env.id, keepsWork })).after;
  }

  /** The host of an allocation, or null when it is gone. */
  private async allocationHost(id: string): Promise<string | null> {
    const [row]: Array<{ hostId: string }> = await this.dataSource.query(`SELECT "hostId" FROM allocation WHERE id = $1`, [id]);
    return row?.hostId ?? null;
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
      { hostLayerId: host.layerId, status: EnvironmentStatus.RESTORING, after: async (m, env) => (await this.claimOn(env, host.id)?.(m)) ?? (() => undefined) },
    );
  }

  /** Removes a restore's half-made environment record and its layer, releasing what it held. */
  private discard(env: EnvironmentEntity): Promise<void> {
    return this.lifecycle.discard(env, this.placement ? (m) => this.placement!.releaseHeldWithin(m, { environmentId: env.id }) : undefined);
  }

  /** Ends the restore (or the step that holds the environment) in `ending`. */
  private setStatus(env: EnvironmentEntity, ending: EnvironmentEnding, alongside?: Alongside): Promise<void> {
    return this.lifecycle.end(env, ending, alongside);
  }
}
