import { DataSource, IsNull, Repository } from 'typeorm';
import type { VerifyReport } from '../artifacts/artifact-store';
import { chunkBatches, copyArtifact, QUERY_IDS } from '../artifacts/chunk-copy';
import { DEFAULT_CHUNKING } from '../artifacts/chunker';
import { keyedCodec, plainCodec } from '../artifacts/chunk-codec';
import type { ArtifactPlace } from '../artifacts/chunk-transport';
import { policy } from '../auth/policy';
import type { Principal } from '../auth/principal';
import { isCategory, NotFoundError } from '../errors';
import type { Logger } from '../logging/logger';
import type { AlertEvaluator } from '../metrics/alert-evaluator';
import { MemberRole, OperationEntity, ReplicaEntity, ReplicaVerifyState, type ReplicaVerifyProblem } from '../persistence/entities';
import type { OperationService } from '../services/operation-service';
import type { GroupKeys } from './group-keys';
import type { ReplicaRecords } from './replica-records';
import type { ReplicaStores } from './replica-stores';
import type { ReplicationSettings } from './settings';
import { PeriodicTask } from '../scheduling/periodic-task';

/** The metric name of the alert a replica found damaged raises. */
export const REPLICA_DAMAGED_METRIC = 'replicaDamagedChunks';

/** What a verify job did to one replica. */
export interface ReplicaVerification {
  replicaId: string;
  state: ReplicaVerifyState;
  /** Distinct chunks and stored bytes re-read (the first pass). */
  checkedChunks: number;
  checkedBytes: number;
  /** Damaged or missing chunks (and the manifest) written again from another store. */
  repairedChunks: number;
  /** Everything found wrong; `repaired: false` ones are what is left damaged. */
  problems: ReplicaVerifyProblem[];
}

/**
 * Verify jobs: re-hash every chunk of a replica in the store that keeps it (at the configured
 * rate), repair what is damaged or missing from another store that holds it intact — the source
 * host's store that keeps the export first, then the other stores of the group's replicas — and
 * record `verifiedAt`, `verifyState` and the problems on the replica. Damage left unrepaired
 * raises an alert on the replica's environment; nothing is hidden. Scheduled per store when
 * `settings.verify.intervalMs` is set.
 */
export class ReplicaVerifier {
  private readonly replicaRepo: Repository<ReplicaEntity>;
  private schedule: PeriodicTask | undefined;

  constructor(
    dataSource: DataSource,
    private readonly operations: OperationService,
    /** Where replicas live: host agents' stores and the gateway's. */
    private readonly stores: ReplicaStores,
    private readonly keys: GroupKeys,
    /** The replicas a caller may see. */
    private readonly records: ReplicaRecords,
    private readonly logger: Logger,
    private readonly settings: ReplicationSettings,
    /** Where damage found raises an alert. */
    private readonly alerts?: Pick<AlertEvaluator, 'raise'>,
  ) {
    this.replicaRepo = dataSource.getRepository(ReplicaEntity);
  }

  /** Verifies (and repairs) a replica as an operation (members of its group); the result is a `ReplicaVerification`. */
  async verifyNow(actor: Principal, replicaId: string): Promise<OperationEntity> {
    const replica = await this.records.replica(actor, replicaId);
    this.records.requireHere(replica);
    policy.requireRole(actor, replica.groupId, MemberRole.MEMBER, 'verify replicas of this group');
    return this.operations.start({ kind: 'replica.verify', targetType: 'Replica', targetId: replica.id, groupId: replica.groupId }, async (op) => {
      await op.progress(0.01, 're-reading every chunk');
      return { ...(await this.verifyReplica(replica.id, op.signal)) };
    });
  }

  /**
   * System level: verifies every replica kept in a store (null: the gateway's). Every replica is
   * re-hashed before anything is repaired, so damage shared by several replicas names them all.
   */
  async verifyStore(storeHostId: string | null, signal?: AbortSignal): Promise<ReplicaVerification[]> {
    const replicas = await this.replicaRepo.find({ where: { storeHostId: storeHostId ?? IsNull() }, order: { createdAt: 'ASC' } });
    return this.verifyAll(replicas, signal);
  }

  /**
   * System level: re-hashes every chunk of a replica in its store, repairs what it can, records
   * the outcome on the replica and raises an alert when damage is left.
   */
  async verifyReplica(replicaId: string, signal?: AbortSignal): Promise<ReplicaVerification> {
    const replica = await this.replicaRepo.findOneBy({ id: replicaId });
    if (!replica) throw new NotFoundError('Replica', replicaId);
    return (await this.verifyAll([replica], signal))[0]!;
  }

  /** Re-hashes every replica (all first), repairs the damaged ones, re-hashes those again and records each outcome. */
  private async verifyAll(replicas: ReplicaEntity[], signal?: AbortSignal): Promise<ReplicaVerification[]> {
    const firsts: Array<{ replica: ReplicaEntity; first: VerifyReport; key?: Buffer; store: ArtifactPlace }> = [];
    for (const replica of replicas) {
      signal?.throwIfAborted();
      try {
        const key = replica.encrypted ? await this.keys.keyFor(replica.groupId) : undefined;
        const store = await this.stores.storeOf(replica.storeHostId, signal);
        firsts.push({ replica, first: await this.scrub(store, replica, key), key, store });
      } catch (e) {
        if (replicas.length === 1) throw e;
        this.logger.warn({ err: e, replica: replica.id, storeHostId: replica.storeHostId }, 'could not verify a replica of the store');
      }
    }
    const out: ReplicaVerification[] = [];
    for (const { replica, first, key, store } of firsts) {
      let last = first;
      if (!first.ok) {
        await this.repair(store, replica, first, key, signal);
        last = await this.scrub(store, replica, key);
      }
      out.push(await this.record(replica, first, last));
    }
    return out;
  }

  /** Records what a verification found on the replica (and raises the alert when damage is left). */
  private async record(replica: ReplicaEntity, first: VerifyReport, last: VerifyReport): Promise<ReplicaVerification> {
    const left = new Set(last.problems.map((p) => p.chunk));
    const problems = first.problems.map((p) => ({ chunk: p.chunk, index: p.index, reason: p.reason, repaired: !left.has(p.chunk) }));
    for (const p of last.problems) if (!first.problems.some((f) => f.chunk === p.chunk)) problems.push({ ...p, repaired: false });
    const state = last.ok ? ReplicaVerifyState.OK : ReplicaVerifyState.DAMAGED;
    const verifiedAt = new Date();
    await this.replicaRepo.update({ id: replica.id }, { verifyState: state, verifyProblems: problems, ...(last.ok ? { verifiedAt } : {}) });
    const repairedChunks = problems.filter((p) => p.repaired).length;
    const result: ReplicaVerification = { replicaId: replica.id, state, checkedChunks: first.chunks, checkedBytes: first.bytes, repairedChunks, problems };
    if (repairedChunks) this.logger.warn({ replica: replica.id, repairedChunks }, 'verify repaired damaged chunks of a replica');
    if (!last.ok) await this.raise(replica, problems.filter((p) => !p.repaired));
    return result;
  }

  /** Starts verifying every store on a timer (`settings.verify.intervalMs`; 0: off). */
  start(): void {
    this.schedule ??= new PeriodicTask('scheduled replica verification', () => this.verifyAllStores(), this.logger);
    this.schedule.start(this.settings.verify.intervalMs);
  }

  /** Stops the timer and waits for a verification in progress. */
  async stop(): Promise<void> {
    await this.schedule?.stop();
  }

  /** Verifies the replicas of every store that keeps some, one store after the other. */
  async verifyAllStores(): Promise<void> {
    const rows: Array<{ storeHostId: string | null }> = await this.replicaRepo.createQueryBuilder('r').select('r."storeHostId"', 'storeHostId').distinct(true).getRawMany();
    for (const { storeHostId } of rows) {
      const results = await this.verifyStore(storeHostId);
      const damaged = results.filter((r) => r.state === ReplicaVerifyState.DAMAGED).map((r) => r.replicaId);
      this.logger.info({ storeHostId, replicas: results.length, damaged }, 'scheduled verification of a store done');
    }
  }

  /** The store's verify job on the replica's manifest; an absent manifest is a problem, not an error. */
  private async scrub(store: ArtifactPlace, replica: ReplicaEntity, key: Buffer | undefined): Promise<VerifyReport> {
    try {
      return await store.scrub(replica.manifestId, key, this.settings.verify);
    } catch (e) {
      if (!isCategory(e, 'NOT_FOUND')) throw e;
      return { ok: false, manifestId: replica.manifestId, bytes: 0, chunks: 0, problems: [{ chunk: null, index: null, reason: 'its manifest is missing from the store' }] };
    }
  }

  /**
   * Writes the damaged chunks (and manifest) again from other stores: a store with the same
   * manifest copies everything the target flags; others give the chunks they hold intact. Chunks
   * given one by one are then made durable by writing the replica's manifest again (a store may
   * hold new chunks in a pack not yet in place, lost if its process stops before another write).
   */
  private async repair(target: ArtifactPlace, replica: ReplicaEntity, report: VerifyReport, key: Buffer | undefined, signal?: AbortSignal): Promise<void> {
    const given = await this.repairFrom(target, replica, report, key, signal);
    if (!given) return;
    try {
      await target.putManifest(await target.getManifest(replica.manifestId));
    } catch (e) {
      this.logger.warn({ err: e, replica: replica.id }, 'could not write the manifest of a repaired replica again (the scrub that follows reports what is left)');
    }
  }

  /** The repair's copies (see `repair`); resolves to how many chunks were given one by one. */
  private async repairFrom(target: ArtifactPlace, replica: ReplicaEntity, report: VerifyReport, key: Buffer | undefined, signal?: AbortSignal): Promise<number> {
    let wanted = new Set(report.problems.map((p) => p.chunk));
    let given = 0;
    let sizes: Map<string, number> | undefined;
    for (const source of await this.candidates(replica, target.location, signal)) {
      if (!wanted.size) return given;
      try {
        if (await source.hasManifest(replica.manifestId)) {
          await copyArtifact(source, target, replica.manifestId, { key, signal });
          wanted = new Set();
          return given;
        }
        const chunks = [...wanted].filter((c): c is string => c !== null);
        if (!chunks.length || !source.checkChunks) continue;
        const bad = new Set<string>();
        for (let i = 0; i < chunks.length; i += QUERY_IDS) {
          const check = await source.checkChunks(chunks.slice(i, i + QUERY_IDS));
          for (const c of [...check.missing, ...check.damaged, ...check.unverified]) bad.add(c);
        }
        const there = chunks.filter((c) => !bad.has(c));
        if (!there.length) continue;
        const codec = key ? keyedCodec(key) : plainCodec;
        sizes ??= await this.chunkSizes(target, replica);
        // In batches as a copy's (each answer of an agent's getChunks stays within its bound), each written once fetched.
        for (const batch of chunkBatches(there, (c) => sizes!.get(c) ?? DEFAULT_CHUNKING.max)) {
          signal?.throwIfAborted();
          const good = (await source.getChunks(batch)).filter((c) => {
            try {
              codec.unseal(Buffer.from(c.data, 'base64'), c.id);
              return true;
            } catch {
              return false;
            }
          });
          await target.putChunks(good);
          given += good.length;
          for (const c of good) wanted.delete(c.id);
        }
      } catch (e) {
        this.logger.warn({ err: e, replica: replica.id, from: source.location }, 'could not repair a replica from this store; trying another');
      }
    }
    return given;
  }

  /** The plaintext size of each chunk of the replica, from its manifest in `target` (empty when it cannot be read there: each chunk then counts as the largest). */
  private async chunkSizes(target: ArtifactPlace, replica: ReplicaEntity): Promise<Map<string, number>> {
    try {
      return new Map((await target.getManifest(replica.manifestId)).chunks.map((c) => [c.hash, c.size]));
    } catch {
      return new Map();
    }
  }

  /** Other stores that may hold the replica's chunks: its source host's store first, then the stores of the group's other replicas. */
  private async candidates(replica: ReplicaEntity, exclude: string, signal?: AbortSignal): Promise<ArtifactPlace[]> {
    const group = await this.replicaRepo.find({ where: { groupId: replica.groupId }, order: { createdAt: 'DESC' }, take: 200 });
    const others = [...group.filter((r) => r.environmentId === replica.environmentId), ...group.filter((r) => r.environmentId !== replica.environmentId)];
    const hosts: Array<string | null> = [];
    const add = (h: string | null) => hosts.includes(h) || hosts.push(h);
    if (replica.stagingHostId) add(replica.stagingHostId);
    for (const r of others) {
      add(r.storeHostId);
      if (r.stagingHostId) add(r.stagingHostId);
    }
    const places: ArtifactPlace[] = [];
    for (const h of hosts) {
      const place = await this.stores.storeOf(h, signal).catch(() => undefined);
      if (place && place.location !== exclude && !places.some((p) => p.location === place.location)) places.push(place);
    }
    return places;
  }

  /** Raises the alert of a damaged replica on its environment. */
  private async raise(replica: ReplicaEntity, left: ReplicaVerifyProblem[]): Promise<void> {
    const named = left.slice(0, 5).map((p) => (p.chunk ? `chunk ${p.chunk.slice(0, 12)}: ${p.reason}` : `manifest: ${p.reason}`));
    const message = `Replica ${replica.id} of ${replica.source.name} is DAMAGED: ${left.length} problem(s) no other store could repair (${named.join('; ')})`;
    this.logger.error({ replica: replica.id, problems: left.slice(0, 20) }, message);
    await this.alerts?.raise({ ruleId: null, groupId: replica.groupId, siteId: null, targetType: 'ENVIRONMENT', targetId: replica.environmentId, metric: REPLICA_DAMAGED_METRIC, value: left.length, threshold: 0, message });
  }
}
