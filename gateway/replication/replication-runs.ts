import { DataSource, Repository } from 'typeorm';
import { Revert } from '../../drivers/revert';
import { callContext } from '../agent/call-context';
import { copyArtifact } from '../artifacts/chunk-copy';
import { Peering } from '../peering/peering';
import { sendReplicaToPeer } from '../peering/replica-sender';
import { policy } from '../auth/policy';
import type { Principal } from '../auth/principal';
import type { HostAgent } from '../agent/host-agent';
import type { EnvironmentLifecycle } from '../environments';
import { BadInputError, ConflictError, NotFoundError, UnsupportedOperationError } from '../errors';
import { RspPubSub, Topic } from '../events/pubsub';
import type { Logger } from '../logging/logger';
import {
  EnvironmentEntity,
  EnvironmentStatus,
  ImageEntity,
  MemberRole,
  OperationEntity,
  ReplicaEntity,
  type ReplicaChunkCounts,
  TERMINAL_OPERATION_STATES,
  ReplicaSource,
  ReplicationKind,
  ReplicationPolicyEntity,
  ReplicationTargetKind,
} from '../persistence/entities';
import type { OperationControl, OperationService } from '../services/operation-service';
import type { StorageQuotas } from '../storage-quotas/storage-quotas';
import type { PlacementService } from '../services/placement-service';
import type { GroupKeys } from './group-keys';
import type { ReplicationPolicyService } from './policy-service';
import type { ReplicaRecords } from './replica-records';
import type { ReplicaStores } from './replica-stores';
import { replicasBeyondKeep } from './retention';
import { nextRunAfter } from './retry-backoff';
import type { ReplicationSettings } from './settings';
import { requireSnapshotExport, runSnapshotName } from './snapshot-copy';
import type { SnapshotService } from '../snapshots/snapshot-service';
import { PeriodicTask } from '../scheduling/periodic-task';
import { humanBytes } from '../placement/amount-text';

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

const REPLICABLE = [EnvironmentStatus.CREATED, EnvironmentStatus.STOPPED, EnvironmentStatus.RUNNING, EnvironmentStatus.MIGRATING];
/** A run whose operation has not moved for this long is taken as interrupted. */
const STALE_RUN_MS = 15 * 60_000;

/**
 * Replication runs: replicas (deduplicated, checksummed, optionally encrypted with the group key)
 * exported into the source host's artifact store and copied — only the chunks it lacks — to the
 * store of the policy's target (a host's agent, or the gateway's store); runs of policies as
 * operations on a schedule with retries (the scheduler timer), and pruning beyond `keep`.
 */
export class ReplicationRuns {
  private readonly policies: Repository<ReplicationPolicyEntity>;
  private readonly replicaRepo: Repository<ReplicaEntity>;
  private readonly envs: Repository<EnvironmentEntity>;
  private schedule: PeriodicTask | undefined;

  constructor(
    private readonly dataSource: DataSource,
    private readonly operations: OperationService,
    /** Where replicas live: host agents' stores and the gateway's. */
    private readonly stores: ReplicaStores,
    private readonly keys: GroupKeys,
    private readonly logger: Logger,
    private readonly pubSub: RspPubSub,
    /** The policies runs follow (visibility, schedules). */
    private readonly policyService: ReplicationPolicyService,
    /** Where pruned replicas are discarded. */
    private readonly records: ReplicaRecords,
    private readonly settings: ReplicationSettings,
    /** The groups' storage quotas, which replicas kept in the gateway's store are reserved against. */
    private readonly quotas: StorageQuotas,
    /** Where replicas kept on hosts claim their bytes. */
    private readonly placement?: PlacementService,
    /** What `snapshotBeforeCopy` runs hold the environment with and take their snapshot through. */
    private readonly consistency?: { lifecycle: EnvironmentLifecycle; snapshots: SnapshotService },
    /** The other sites a policy's peer may be (checked again at every run), and its token's seal. */
    private readonly peering: Peering = Peering.none(),
  ) {
    this.policies = dataSource.getRepository(ReplicationPolicyEntity);
    this.replicaRepo = dataSource.getRepository(ReplicaEntity);
    this.envs = dataSource.getRepository(EnvironmentEntity);
  }

  /** Runs a policy now, as an operation (CONFLICT while it already runs). */
  async replicateNow(actor: Principal, policyId: string): Promise<OperationEntity> {
    const found = await this.policyService.policy(actor, policyId);
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
    if (pol?.peerName && !options.storeHostId) return this.replicateToPeer(env, pol, options);
    const agent = await this.stores.agentOf(env.hostId);
    const holder = options.storeHostId ? await this.stores.usableHost(options.storeHostId) : await this.stores.holderFor(pol, env);
    const encrypted = pol?.encrypted ?? false;
    const key = encrypted ? await this.keys.keyFor(env.groupId) : undefined;

    // EXTERNAL: the environment as a whole; INTERNAL: what the policy's backup command prints inside it.
    const labels = { environment: env.id, group: env.groupId, kind, ...(pol ? { policy: pol.id } : {}) };
    // snapshotBeforeCopy: the export reads a snapshot taken for it (a consistent copy), deleted once it is read.
    const taken = kind === ReplicationKind.EXTERNAL && pol?.snapshotBeforeCopy ? await this.snapshotForRun(env, pol, agent, options.signal) : undefined;
    let exported: Awaited<ReturnType<HostAgent['exportEnvironment']>>;
    try {
      exported = await agent.exportEnvironment(
        { driver: env.driver, environmentId: env.id, ...(kind === ReplicationKind.INTERNAL ? { commandOutput: pol!.backupCommand! } : {}), ...(taken ? { snapshot: taken.name } : {}), ...(key ? { key: key.toString('base64') } : {}), labels },
        callContext(agent, { signal: options.signal }),
      );
    } finally {
      await taken?.drop().catch((err: unknown) => this.logger.warn({ err, environment: env.id, snapshot: taken.name }, 'could not delete the snapshot a replication run exported from; it stays listed on the environment'));
    }
    const { manifestId, ...stats } = exported;
    options.onProgress?.({ phase: 'export', ...stats });
    const staging = await this.stores.storeOf(env.hostId, options.signal);
    const revert = new Revert();
    revert.add(() => this.stores.dropUnused(env.hostId, staging, manifestId));
    try {
      // A replica kept in the gateway's store counts against the group's storage quota: its bytes are reserved before any is copied there.
      const room = holder ? undefined : await this.quotas.reserve(env.groupId, stats.bytes, `a replica of environment ${env.name}`);
      if (room) revert.add(() => room.release());
      const target = holder ? await this.stores.storeOf(holder.id, options.signal) : this.stores.gatewayPlace;
      let movedBytes = 0;
      // Kept in the source host's own store: the export's put wrote what it lacked and reused the rest.
      let counts: ReplicaChunkCounts = { reusedChunks: Math.max(0, stats.chunks - stats.newChunks), writtenChunks: stats.newChunks, repairedChunks: 0 };
      if (target.location !== staging.location) {
        revert.add(() => this.stores.dropUnused(holder?.id ?? null, target, manifestId));
        const totalChunks = stats.chunks;
        const copied = await copyArtifact(staging, target, manifestId, { key, signal: options.signal, onProgress: (p) => options.onProgress?.({ phase: 'copy', ...p, totalChunks }) });
        movedBytes = copied.stats.newBytes;
        counts = copied.counts;
        if (counts.repairedChunks) this.logger.warn({ manifestId, storeHostId: holder?.id ?? null, repairedChunks: counts.repairedChunks }, 'the replication run found damaged chunks in the target store and wrote them again');
      }
      const fields = this.replicaRepo.create({
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
          ...counts,
          source: sourceOf(env, pol),
          verifiedAt: null,
        });
      // A replica kept on a host holds its bytes of that host's DISK against the group's share, claimed with its record.
      const placement = this.placement;
      let claimed: () => void = () => undefined;
      const replica = await this.dataSource.transaction(async (m) => {
        const saved = await m.getRepository(ReplicaEntity).save(fields);
        await room?.settleWithin(m);
        if (holder && placement && saved.bytes > 0) claimed = (await placement.claimWithin(m, { groupId: env.groupId, hostId: holder.id, wants: [{ type: 'DISK', amount: saved.bytes, unit: 'BYTES' }], technology: '', requestedBy: 'replication', replicaId: saved.id })).after;
        return saved;
      });
      claimed();
      revert.success();
      if (pol) await this.prune(pol);
      return replica;
    } finally {
      await revert.run();
    }
  }

  /**
   * Takes the snapshot a `snapshotBeforeCopy` run exports from (UNSUPPORTED_OPERATION naming the
   * driver when it cannot), holding the environment only while it is taken (SNAPSHOTTING; CONFLICT
   * when another step holds it: the run fails and is retried). Returns its name and what deletes it.
   */
  private async snapshotForRun(env: EnvironmentEntity, pol: ReplicationPolicyEntity, agent: HostAgent, signal?: AbortSignal): Promise<{ name: string; drop: () => Promise<void> }> {
    if (!this.consistency) throw new UnsupportedOperationError('snapshot before copy', 'this gateway', 'it runs replication without snapshots');
    await requireSnapshotExport(agent, env.driver);
    const name = runSnapshotName();
    const from = await this.consistency.lifecycle.begin(env, 'snapshot');
    try {
      const drop = await this.consistency.snapshots.takeFor(env, name, `replication ${pol.name}`, agent, { signal });
      return { name, drop };
    } finally {
      await this.consistency.lifecycle.end(env, { status: from });
    }
  }

  /**
   * A run of a policy whose replicas go to another site: the export into the source host's store,
   * then only the chunks the other site's store lacks sent there (its peer store, with the token it
   * issued), then the replica recorded there — in the group that token is of, restored there — and
   * here (`peerSite`, `peerReplicaId`), its bytes moved as `movedBytes`.
   */
  private async replicateToPeer(env: EnvironmentEntity, pol: ReplicationPolicyEntity, options: ReplicateOptions): Promise<ReplicaEntity> {
    // Still one of this site's known peers, at the URL listed now, before anything is exported or sent.
    const client = this.peering.clientOfPolicy(pol);
    const image = await this.dataSource.getRepository(ImageEntity).findOneBy({ id: env.imageId });
    if (!image?.digest) throw new ConflictError(`The image of environment ${env.name} has no digest: another site cannot restore it`, { environmentId: env.id });
    const agent = await this.stores.agentOf(env.hostId);
    const labels = { environment: env.id, group: env.groupId, kind: ReplicationKind.EXTERNAL, policy: pol.id };
    const { manifestId, ...stats } = await agent.exportEnvironment({ driver: env.driver, environmentId: env.id, labels }, callContext(agent, { signal: options.signal }));
    options.onProgress?.({ phase: 'export', ...stats });
    const staging = await this.stores.storeOf(env.hostId, options.signal);
    const revert = new Revert();
    revert.add(() => this.stores.dropUnused(env.hostId, staging, manifestId));
    try {
      const source = sourceOf(env, pol);
      const { id: thereId, copied } = await sendReplicaToPeer(staging, client, { manifestId, bytes: stats.bytes, chunks: stats.chunks, environmentId: env.id, source, imageDigest: image.digest }, { signal: options.signal, onProgress: (p) => options.onProgress?.({ phase: 'copy', ...p, totalChunks: stats.chunks }) });
      const replica = await this.replicaRepo.save(
        this.replicaRepo.create({
          policyId: pol.id,
          environmentId: env.id,
          groupId: env.groupId,
          layerId: pol.layerId,
          kind: ReplicationKind.EXTERNAL,
          manifestId,
          bytes: stats.bytes,
          newBytes: stats.newBytes,
          chunks: stats.chunks,
          encrypted: false,
          targetKind: ReplicationTargetKind.STORE,
          targetId: null,
          storeHostId: null,
          stagingHostId: env.hostId,
          movedBytes: copied.stats.newBytes,
          ...copied.counts,
          source,
          verifiedAt: null,
          peerSite: pol.peerName,
          peerReplicaId: thereId,
        }),
      );
      revert.success();
      await this.prune(pol);
      return replica;
    } finally {
      await revert.run();
    }
  }

  /** Deletes the policy's replicas beyond its `keep` and collects the stores' unreferenced chunks. */
  async prune(pol: Pick<ReplicationPolicyEntity, 'id' | 'keep'>): Promise<ReplicaEntity[]> {
    const all = await this.replicaRepo.findBy({ policyId: pol.id });
    const doomed = replicasBeyondKeep(all, pol.keep);
    await this.records.discardReplicas(doomed);
    return doomed;
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
    this.schedule ??= new PeriodicTask('replication scheduler tick', () => this.runDue(), this.logger);
    this.schedule.start(intervalMs);
  }

  /** Stops the scheduler and waits for its tick in progress (the runs it started continue). */
  async stop(): Promise<void> {
    await this.schedule?.stop();
  }

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
            ? op.progress(estimate ? Math.min(0.6, (0.6 * p.bytes) / estimate) : 0.3, `export: read ${humanBytes(p.bytes)} in ${p.chunks} chunks, ${humanBytes(p.newBytes)} new on the source host`)
            : op.progress(0.6 + 0.35 * (p.totalChunks ? p.chunks / p.totalChunks : 1), `copy: ${p.chunks} of ${p.totalChunks ?? '?'} chunks checked, ${humanBytes(p.newBytes)} moved to the target store`)),
      });
      const ended = new Date();
      const schedule = this.policyService.parse(pol.schedule);
      const lastChunkCounts: ReplicaChunkCounts = { reusedChunks: replica.reusedChunks, writtenChunks: replica.writtenChunks, repairedChunks: replica.repairedChunks };
      await this.policies.update({ id: pol.id }, { runningOperationId: null, lastSyncAt: ended, lastDurationMs: ended.getTime() - started, failCount: 0, lastError: null, lastChunkCounts, nextRunAt: pol.enabled ? schedule.next(ended) : null });
      this.publish(pol, { state: 'SUCCEEDED', replicaId: replica.id, bytes: replica.bytes, newBytes: replica.newBytes, movedBytes: replica.movedBytes, chunks: replica.chunks, error: null });
      return { replicaId: replica.id, bytes: replica.bytes, newBytes: replica.newBytes, movedBytes: replica.movedBytes, chunks: replica.chunks, storeHostId: replica.storeHostId, ...lastChunkCounts };
    } catch (e) {
      const ended = new Date();
      const current = await this.policies.findOneBy({ id: pol.id });
      const failCount = (current?.failCount ?? pol.failCount) + 1;
      const message = (e as Error).message ?? String(e);
      if (current) {
        const scheduled = this.policyService.parse(current.schedule).next(ended);
        await this.policies.update({ id: pol.id }, { runningOperationId: null, lastDurationMs: ended.getTime() - started, failCount, lastError: message, nextRunAt: current.enabled ? nextRunAfter(ended, failCount, scheduled, this.settings.backoff) : null });
      }
      this.publish(pol, { state: 'FAILED', replicaId: null, bytes: null, newBytes: null, movedBytes: null, chunks: null, error: message });
      throw e;
    }
  }

  private publish(pol: ReplicationPolicyEntity, outcome: { state: 'SUCCEEDED' | 'FAILED'; replicaId: string | null; bytes: number | null; newBytes: number | null; movedBytes: number | null; chunks: number | null; error: string | null }): void {
    this.pubSub.publish(Topic.EVENT, { kind: 'REPLICATION', at: Date.now(), groupId: pol.groupId, siteId: null, replication: { policyId: pol.id, policyName: pol.name, environmentId: pol.environmentId, ...outcome } });
  }
}

/** What a replica keeps of its environment (and policy) to be restorable without them. */
export function sourceOf(env: EnvironmentEntity, pol: ReplicationPolicyEntity | null): ReplicaSource {
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
