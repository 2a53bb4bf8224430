import { randomUUID } from 'node:crypto';
import type { DataSource, EntityManager, Repository } from 'typeorm';
import { policy } from '../auth/policy';
import type { Principal } from '../auth/principal';
import { BadInputError, ConflictError, ForbiddenError, NotFoundError, RspError } from '../errors';
import type { AllocationEventPayload } from '../events/events';
import { RspPubSub, Topic } from '../events/pubsub';
import {
  AllocationEntity,
  AllocationGuarantee,
  AllocationRequestEntity,
  AllocationRequestStatus,
  AllocationSpec,
  AllocationStatus,
  AntiAffinity,
  MemberRole,
  PlacementMode,
  PropertyWant,
  ResourceUnit,
  ResourceWant,
} from '../persistence/entities';
import { applyDeltas, checkLimits, claimAtOnce, endAllocations, insertPlacements, LostRaceError, PlannedAllocation, ResourceDelta, rowsOf, UsageAfter } from '../placement/claims';
import { placementAsk, type HostView } from '../placement/model';
import { evaluateHosts, Evaluation, placeReplicas } from '../placement/scheduler';
import { InventorySnapshot } from '../placement/snapshot';
import { validateTypeAndUnit } from './resource-service';

/** What a requester asks for (the RSpec-like request). */
export interface AllocationRequestInput {
  groupId: string;
  mode: PlacementMode;
  guarantee: AllocationGuarantee;
  resources: ResourceWant[];
  technologies?: string[];
  requiredProperties?: PropertyWant[];
  antiAffinity?: AntiAffinity;
  replicas?: number;
  /** DIRECT only: one host per replica. */
  hostIds?: string[];
  leaseSeconds?: number;
}

/** A request with the allocations placed for it (none while it waits for approval). */
export interface PlacementResult {
  request: AllocationRequestEntity;
  allocations: AllocationEntity[];
}

/** Filters of allocation lists. */
export interface AllocationFilter {
  groupId?: string;
  hostId?: string;
  requestId?: string;
  status?: AllocationStatus;
}

/** How the placement service runs: the snapshot age, the clock and the retries on lost races. */
export interface PlacementOptions {
  /** 0: every decision reads the inventory afresh; above 0: a shared picture at most this old. */
  snapshotMs?: number;
  now?: () => Date;
  /** Attempts of one batch before the items still racing get CONFLICT. */
  maxAttempts?: number;
  /** Groups touching at most this many resources commit in one statement (default 200; 0: always the transaction). */
  oneStatementResources?: number;
}

/** Lease of a GUARANTEED allocation when the request names none. */
export const DEFAULT_LEASE_SECONDS = 3600;
/** Longest lease one request or renewal may ask. */
export const MAX_LEASE_SECONDS = 30 * 24 * 3600;
/**
 * Groups being claimed at once by one gateway: the next group is planned (on the picture charged
 * with the claims in flight) while the last one commits. The picture's background checks leave
 * resources with claims in flight alone (their generation in the database is behind).
 */
const PIPELINE_DEPTH = 2;
/**
 * Groups touching at most this many resources commit in one statement (fewest round trips: what
 * single allocations need); larger ones in a transaction whose statements overlap with the next
 * group's (the next one may update its rows as soon as this one has, while this one still writes
 * its allocations), which keeps the database busier under batches.
 */
const DEFAULT_ONE_STATEMENT_RESOURCES = 200;
/** Most items claimed in one group commit. */
const MAX_GROUP = 2000;
/** Most items of one allocateMany. */
export const MAX_BATCH = 1000;
const MAX_REPLICAS = 100;
/** After a lost race, each replica goes to one of this many best hosts at random. */
const RETRY_SPREAD = 4;

interface BatchItem {
  request: AllocationRequestEntity;
  /** Hosts named for each replica (DIRECT, or an admin's approval choice). */
  pinned?: string[];
  /** True when the request row is new (not an approved PENDING one). */
  insert: boolean;
}

/**
 * Allocation and placement (seed 003, SRSM-2). Validates requests, asks the scheduler for hosts,
 * and claims the capacity in one transaction per batch with a generation check per resource: a
 * lost race rolls the batch back and places it again on a fresh picture (another host when one
 * fits), up to `maxAttempts`; what still cannot be placed gets CONFLICT.
 */
export class PlacementService {
  private readonly requests: Repository<AllocationRequestEntity>;
  private readonly allocations: Repository<AllocationEntity>;
  private readonly snapshot: InventorySnapshot;
  private readonly now: () => Date;
  private readonly maxAttempts: number;
  private readonly oneStatementResources: number;
  private sweepTimer: NodeJS.Timeout | null = null;
  private readonly queue: Array<{ items: BatchItem[]; resolve: (r: Array<PlacementResult | RspError>) => void; reject: (e: unknown) => void }> = [];
  private inFlight = 0;
  /** Per resource being claimed: settles when the last group planned on it has updated its row. */
  private readonly claiming = new Map<string, Promise<void>>();

  constructor(
    private readonly dataSource: DataSource,
    options: PlacementOptions = {},
    /** Where approval steps are published (the `events` stream), when given. */
    private readonly pubSub?: RspPubSub,
  ) {
    this.requests = dataSource.getRepository(AllocationRequestEntity);
    this.allocations = dataSource.getRepository(AllocationEntity);
    this.snapshot = new InventorySnapshot(dataSource, options.snapshotMs ?? 0);
    this.now = options.now ?? (() => new Date());
    this.maxAttempts = options.maxAttempts ?? 5;
    this.oneStatementResources = options.oneStatementResources ?? DEFAULT_ONE_STATEMENT_RESOURCES;
  }

  /** Dry run: every host ranked for the request's first replica, with the filter and reason of each rejected one. */
  async candidates(actor: Principal, input: AllocationRequestInput): Promise<Evaluation> {
    policy.requireRole(actor, input.groupId, MemberRole.MEMBER, 'ask placements for this group');
    const spec = validateRequest(input);
    const hosts = await this.snapshot.hosts();
    const pool = spec.hostIds.length ? spec.hostIds.map((id) => requireHost(hosts, id)) : [...hosts.values()];
    return evaluateHosts(pool, placementAsk(spec, input.groupId, input.guarantee));
  }

  /** Places one request (DIRECT, AUTOMATIC) or records it for a site admin (APPROVAL). */
  async allocate(actor: Principal, input: AllocationRequestInput): Promise<PlacementResult> {
    const [result] = await this.allocateMany(actor, [input]);
    if (result instanceof RspError) throw result;
    return result!;
  }

  /** Places many requests in one transaction where possible; each item gets its result or its own error. */
  async allocateMany(actor: Principal, inputs: AllocationRequestInput[]): Promise<Array<PlacementResult | RspError>> {
    const p = policy.requireAuthenticated(actor);
    if (inputs.length > MAX_BATCH) throw new BadInputError(`At most ${MAX_BATCH} requests per batch`, { count: inputs.length });
    const results: Array<PlacementResult | RspError | undefined> = new Array(inputs.length);
    const batch: Array<{ index: number; item: BatchItem }> = [];
    const pendingRows: AllocationRequestEntity[] = [];
    inputs.forEach((input, index) => {
      try {
        policy.requireRole(actor, input.groupId, MemberRole.MEMBER, 'allocate for this group');
        const spec = validateRequest(input);
        const request = this.newRequest(p.name, input, spec);
        if (input.mode === PlacementMode.APPROVAL) {
          pendingRows.push(request);
          results[index] = { request, allocations: [] };
        } else batch.push({ index, item: { request, pinned: spec.hostIds.length ? spec.hostIds : undefined, insert: true } });
      } catch (e) {
        results[index] = toRspError(e);
      }
    });
    if (pendingRows.length) {
      await this.dataSource.transaction((m) => insertPlacements(m, pendingRows, []));
      for (const request of pendingRows) this.announce(request, 'REQUESTED', []);
    }
    const placed = await this.place(batch.map((b) => b.item));
    batch.forEach((b, i) => (results[b.index] = placed[i]));
    return results as Array<PlacementResult | RspError>;
  }

  /** A site admin approves a PENDING request: on the hosts named, or where the scheduler chooses. */
  async approve(actor: Principal, requestId: string, hostIds?: string[], reason?: string): Promise<PlacementResult> {
    const p = policy.requireSiteAdmin(actor, 'approve allocation requests');
    const request = await this.pendingRequest(requestId);
    if (hostIds?.length && hostIds.length !== request.spec.replicas) throw new BadInputError(`Name ${request.spec.replicas} host(s), one per replica`, { hostIds });
    Object.assign(request, { status: AllocationRequestStatus.PLACED, decidedBy: p.name, decidedAt: this.now(), reason: reason ?? null });
    const [result] = await this.placeBatch([{ request, pinned: hostIds?.length ? hostIds : request.spec.hostIds.length ? request.spec.hostIds : undefined, insert: false }]);
    if (result instanceof RspError) throw result;
    this.announce(result!.request, 'APPROVED', result!.allocations);
    return result!;
  }

  /** A site admin rejects a PENDING request, saying why. */
  async reject(actor: Principal, requestId: string, reason: string): Promise<AllocationRequestEntity> {
    const p = policy.requireSiteAdmin(actor, 'reject allocation requests');
    if (!reason.trim()) throw new BadInputError('Say why the request is rejected');
    const request = await this.pendingRequest(requestId);
    const updated = rowsOf(await this.dataSource.query(`UPDATE allocation_request SET status = $2, reason = $3, "decidedBy" = $4, "decidedAt" = $5 WHERE id = $1 AND status = 'PENDING' RETURNING id`, [request.id, AllocationRequestStatus.REJECTED, reason, p.name, this.now()]));
    if (!updated.length) throw new ConflictError('The request was decided meanwhile', { requestId });
    const rejected = await this.requests.findOneByOrFail({ id: request.id });
    this.announce(rejected, 'REJECTED', []);
    return rejected;
  }

  /** Extends an active allocation's lease from now. An expired one cannot be renewed (CONFLICT). */
  async renew(actor: Principal, id: string, leaseSeconds?: number): Promise<AllocationEntity> {
    const allocation = await this.get(actor, id);
    policy.requireRole(actor, allocation.groupId, MemberRole.MEMBER, 'renew this allocation');
    await this.expireLeases();
    const current = await this.allocations.findOneByOrFail({ id });
    if (current.status !== AllocationStatus.ACTIVE) throw new ConflictError(`Allocation ${id} is ${current.status}: it can no longer be renewed`, { id, status: current.status });
    const request = await this.requests.findOneByOrFail({ id: current.requestId });
    const lease = leaseSeconds ?? request.leaseSeconds ?? DEFAULT_LEASE_SECONDS;
    validateLease(lease);
    const expiresAt = new Date(this.now().getTime() + lease * 1000);
    const updated = rowsOf(await this.dataSource.query(`UPDATE allocation SET "expiresAt" = $2 WHERE id = $1 AND status = 'ACTIVE' RETURNING id`, [id, expiresAt]));
    if (!updated.length) throw new ConflictError(`Allocation ${id} ended meanwhile`, { id });
    return this.allocations.findOneByOrFail({ id });
  }

  /** Releases an active allocation: its claims go back to the resources exactly. */
  async release(actor: Principal, id: string): Promise<AllocationEntity> {
    const allocation = await this.get(actor, id);
    policy.requireRole(actor, allocation.groupId, MemberRole.MEMBER, 'release this allocation');
    const { ended, hostIds } = await this.dataSource.transaction((m) => endAllocations(m, [id], AllocationStatus.RELEASED, this.now()));
    if (!ended.length) throw new ConflictError(`Allocation ${id} is ${allocation.status}, not ACTIVE`, { id, status: allocation.status });
    this.snapshot.invalidate(hostIds);
    return this.allocations.findOneByOrFail({ id });
  }

  /** Ends every allocation whose lease ran out, freeing its capacity. Returns how many. */
  async expireLeases(): Promise<number> {
    const due: Array<{ id: string }> = await this.dataSource.query(`SELECT id FROM allocation WHERE status = 'ACTIVE' AND "expiresAt" <= $1 ORDER BY "expiresAt" LIMIT 1000`, [this.now()]);
    if (!due.length) return 0;
    const { ended, hostIds } = await this.dataSource.transaction((m) => endAllocations(m, due.map((d) => d.id), AllocationStatus.EXPIRED, this.now()));
    this.snapshot.invalidate(hostIds);
    return ended.length;
  }

  /** Runs `expireLeases` every `intervalMs` until `stopLeaseSweep`. */
  startLeaseSweep(intervalMs: number, onError: (e: unknown) => void): void {
    this.stopLeaseSweep();
    this.sweepTimer = setInterval(() => void this.expireLeases().catch(onError), intervalMs);
    this.sweepTimer.unref();
  }

  /** Stops the lease sweep. */
  stopLeaseSweep(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
  }

  /** An allocation its group (or a site admin) may see. */
  async get(actor: Principal, id: string): Promise<AllocationEntity> {
    policy.requireAuthenticated(actor);
    const a = await this.allocations.findOneBy({ id });
    if (!a || !policy.isMember(actor, a.groupId)) throw new NotFoundError('Allocation', id);
    return a;
  }

  /** An allocation request its group (or a site admin) may see. */
  async getRequest(actor: Principal, id: string): Promise<AllocationRequestEntity> {
    policy.requireAuthenticated(actor);
    const r = await this.requests.findOneBy({ id });
    if (!r || !policy.isMember(actor, r.groupId)) throw new NotFoundError('AllocationRequest', id);
    return r;
  }

  /** Allocations, newest first: a group's own, or any for site admins. */
  async list(actor: Principal, filter: AllocationFilter, limit: number, offset: number): Promise<{ items: AllocationEntity[]; total: number }> {
    const groupId = visibleGroup(actor, filter.groupId, 'allocations');
    const where = { ...(groupId ? { groupId } : {}), ...(filter.hostId ? { hostId: filter.hostId } : {}), ...(filter.requestId ? { requestId: filter.requestId } : {}), ...(filter.status ? { status: filter.status } : {}) };
    const [items, total] = await this.allocations.findAndCount({ where, order: { createdAt: 'DESC', id: 'ASC' }, take: limit, skip: offset });
    return { items, total };
  }

  /** Allocation requests, newest first: a group's own, or any for site admins (who decide the PENDING ones). */
  async listRequests(actor: Principal, filter: { groupId?: string; status?: AllocationRequestStatus }, limit: number, offset: number): Promise<{ items: AllocationRequestEntity[]; total: number }> {
    const groupId = visibleGroup(actor, filter.groupId, 'allocation requests');
    const where = { ...(groupId ? { groupId } : {}), ...(filter.status ? { status: filter.status } : {}) };
    const [items, total] = await this.requests.findAndCount({ where, order: { createdAt: 'DESC', id: 'ASC' }, take: limit, skip: offset });
    return { items, total };
  }

  /** The allocations placed for a request. */
  async ofRequest(requestId: string): Promise<AllocationEntity[]> {
    return this.allocations.find({ where: { requestId }, order: { createdAt: 'ASC', id: 'ASC' } });
  }

  /** SRSM-2 owners of a resource: the allocations holding a portion of it now. */
  async ownersOf(resourceId: string): Promise<string[]> {
    const rows: Array<{ allocationId: string }> = await this.dataSource.query(`SELECT DISTINCT "allocationId" FROM allocation_claim WHERE "resourceId" = $1 AND active ORDER BY 1`, [resourceId]);
    return rows.map((r) => r.allocationId);
  }

  /**
   * The active allocation an environment of `groupId` is to run on, with what it holds (each
   * replica's wants): NOT_FOUND unless the actor may see it, BAD_USER_INPUT when it is another
   * group's, CONFLICT when it has ended or its lease ran out.
   */
  async heldFor(actor: Principal, id: string, groupId: string): Promise<{ allocation: AllocationEntity; held: ResourceWant[] }> {
    const allocation = await this.get(actor, id);
    if (allocation.groupId !== groupId) throw new BadInputError(`Allocation ${id} belongs to another group`, { allocationId: id, groupId });
    assertUsable(allocation, this.now());
    const request = await this.requests.findOneByOrFail({ id: allocation.requestId });
    return { allocation, held: request.spec.resources };
  }

  /**
   * Inside the caller's transaction, locks an allocation (so it cannot end meanwhile) and checks
   * it is still usable; CONFLICT otherwise.
   */
  async lockHeld(m: EntityManager, id: string): Promise<void> {
    const [row]: Array<{ status: AllocationStatus; expiresAt: Date | null }> = await m.query(`SELECT status, "expiresAt" FROM allocation WHERE id = $1 FOR UPDATE`, [id]);
    if (!row) throw new NotFoundError('Allocation', id);
    assertUsable({ id, status: row.status, expiresAt: row.expiresAt === null ? null : new Date(row.expiresAt) }, this.now());
  }

  /**
   * Inside the caller's transaction, releases allocations (their capacity returns exactly).
   * Returns what to call once the transaction has committed.
   */
  async releaseWithin(m: EntityManager, ids: string[]): Promise<() => void> {
    const { hostIds } = await endAllocations(m, ids, AllocationStatus.RELEASED, this.now());
    return () => this.snapshot.invalidate(hostIds);
  }

  /** Publishes a step of an APPROVAL request to its group's members and the site admins. */
  private announce(request: AllocationRequestEntity, change: AllocationEventPayload['change'], allocations: AllocationEntity[]): void {
    this.pubSub?.publish(Topic.EVENT, {
      kind: 'ALLOCATION',
      at: Date.now(),
      groupId: request.groupId,
      siteId: null,
      allocation: { requestId: request.id, change, status: request.status, reason: request.reason, decidedBy: request.decidedBy, hostIds: allocations.map((a) => a.hostId), allocationIds: allocations.map((a) => a.id) },
    });
  }

  private async pendingRequest(id: string): Promise<AllocationRequestEntity> {
    const request = await this.requests.findOneBy({ id });
    if (!request) throw new NotFoundError('AllocationRequest', id);
    if (request.status !== AllocationRequestStatus.PENDING) throw new ConflictError(`Request ${id} is ${request.status}, not PENDING`, { id, status: request.status });
    return request;
  }

  private newRequest(requestedBy: string, input: AllocationRequestInput, spec: AllocationSpec): AllocationRequestEntity {
    const lease = input.leaseSeconds ?? (input.guarantee === AllocationGuarantee.GUARANTEED ? DEFAULT_LEASE_SECONDS : null);
    if (lease !== null) validateLease(lease);
    return this.requests.create({
      id: randomUUID(),
      groupId: input.groupId,
      requestedBy,
      mode: input.mode,
      guarantee: input.guarantee,
      spec,
      leaseSeconds: lease,
      status: input.mode === PlacementMode.APPROVAL ? AllocationRequestStatus.PENDING : AllocationRequestStatus.PLACED,
      reason: null,
      decidedBy: null,
      decidedAt: null,
      createdAt: this.now(),
    });
  }

  /**
   * With a shared picture, one planner per gateway: requests that arrive while a group is being
   * claimed wait and are claimed together in the next transaction (group commit), so this
   * gateway's decisions never race each other and a single `allocate` pays for a fraction of a
   * transaction. Without one, each call plans and claims on its own and races in the database.
   */
  private place(items: BatchItem[]): Promise<Array<PlacementResult | RspError>> {
    if (!items.length) return Promise.resolve([]);
    if (!this.snapshot.isShared) return this.placeBatch(items);
    return new Promise((resolve, reject) => {
      this.queue.push({ items, resolve, reject });
      this.drain();
    });
  }

  /** Starts the next group of queued requests while fewer than PIPELINE_DEPTH are being claimed. */
  private drain(): void {
    while (this.queue.length && this.inFlight < PIPELINE_DEPTH) {
      const jobs = [this.queue.shift()!];
      let count = jobs[0]!.items.length;
      while (this.queue.length && count + this.queue[0]!.items.length <= MAX_GROUP) {
        const job = this.queue.shift()!;
        count += job.items.length;
        jobs.push(job);
      }
      this.inFlight++;
      void this.placeBatch(jobs.flatMap((j) => j.items))
        .then(
          (results) => {
            let at = 0;
            for (const job of jobs) {
              job.resolve(results.slice(at, at + job.items.length));
              at += job.items.length;
            }
          },
          (e: unknown) => {
            for (const job of jobs) job.reject(e);
          },
        )
        .finally(() => {
          this.inFlight--;
          this.drain();
        });
    }
  }

  /** Plans every item on one picture, claims them all in one transaction, retries lost races. */
  private async placeBatch(items: BatchItem[]): Promise<Array<PlacementResult | RspError>> {
    const results: Array<PlacementResult | RspError | undefined> = new Array(items.length);
    let pending = items.map((_, i) => i);
    for (let attempt = 1; pending.length && attempt <= this.maxAttempts; attempt++) {
      const hostMap = await this.snapshot.hosts();
      const hosts = this.snapshot.list(hostMap);
      // One scan cursor for the whole round (see ScanCursor).
      const cursor = { at: Math.floor(Math.random() * hosts.length) };
      const planned: Array<{ index: number; allocations: PlannedAllocation[]; undo: () => void }> = [];
      const deltas = new Map<string, ResourceDelta>();
      const now = this.now();
      for (const index of pending) {
        const { request, pinned } = items[index]!;
        const ask = placementAsk(request.spec, request.groupId, request.guarantee);
        let pool: HostView[] | undefined;
        try {
          pool = pinned?.map((id) => requireHost(hostMap, id));
        } catch (e) {
          results[index] = toRspError(e);
          continue;
        }
        const outcome = placeReplicas(hosts, ask, { pinned: pool, randomTop: attempt > 1 ? RETRY_SPREAD : 1, cursor });
        if (!outcome.placed) {
          results[index] = noHostError(outcome.evaluation, outcome.failedReplica, attempt > 1);
          continue;
        }
        const expiresAt = request.leaseSeconds ? new Date(now.getTime() + request.leaseSeconds * 1000) : null;
        const allocations = outcome.placed.map((p): PlannedAllocation => ({
          id: randomUUID(),
          requestId: request.id,
          groupId: request.groupId,
          hostId: p.host.id,
          technology: p.technology,
          guarantee: request.guarantee,
          score: p.score,
          expiresAt,
          claims: request.spec.resources.map((want) => {
            const resource = p.host.resources.get(want.type)!;
            let delta = deltas.get(resource.id);
            if (!delta) {
              delta = { resource, hostId: p.host.id, amount: 0, expectedGeneration: resource.generation };
              resource.generation += 1;
              deltas.set(resource.id, delta);
            }
            delta.amount += want.amount;
            return { resourceId: resource.id, type: want.type, amount: want.amount };
          }),
        }));
        planned.push({ index, allocations, undo: outcome.undo });
      }
      if (!planned.length) break;
      // What each group will hold of each resource claimed, as planned (after this group's charges).
      const usage: UsageAfter[] = [];
      const charged = new Set<string>();
      for (const p of planned) {
        for (const a of p.allocations) {
          for (const c of a.claims) {
            const key = `${c.resourceId}/${a.groupId}`;
            if (charged.has(key)) continue;
            charged.add(key);
            usage.push({ hostId: a.hostId, groupId: a.groupId, type: c.type, used: deltas.get(c.resourceId)!.resource.usedByGroup.get(a.groupId) ?? 0 });
          }
        }
      }
      // Claims on one resource reach the database in the order they were planned: a group planned
      // on the charges of one still in flight must not update their rows before it has (it would
      // see their old generation). It waits only for the groups in flight that share a resource
      // with it; groups on other resources claim at the same time. With one statement per group,
      // the next one on the same resources waits for the whole statement.
      const { turn, done } = this.takeTurn([...deltas.keys()]);
      const fresh = planned.filter((p) => items[p.index]!.insert).map((p) => items[p.index]!.request);
      const decided = planned.filter((p) => !items[p.index]!.insert);
      try {
        if (!decided.length && deltas.size <= this.oneStatementResources) {
          // A small group of new requests (single allocations arriving together): the whole commit
          // in one statement, one round trip; the next group on the same resources waits for it whole.
          await turn;
          try {
            await claimAtOnce(this.dataSource, [...deltas.values()], fresh, planned.flatMap((p) => p.allocations), usage);
          } finally {
            done();
          }
        } else {
          await this.dataSource.transaction(async (m) => {
            try {
              await turn;
              await applyDeltas(m, [...deltas.values()]);
            } finally {
              done();
            }
            await insertPlacements(m, fresh, planned.flatMap((p) => p.allocations));
            await checkLimits(m, usage);
            for (const p of decided) {
              const r = items[p.index]!.request;
              const updated = rowsOf(await m.query(`UPDATE allocation_request SET status = $2, reason = $3, "decidedBy" = $4, "decidedAt" = $5 WHERE id = $1 AND status = 'PENDING' RETURNING id`, [r.id, r.status, r.reason, r.decidedBy, r.decidedAt]));
              if (!updated.length) throw new ConflictError('The request was decided meanwhile', { requestId: r.id });
            }
          });
        }
      } catch (e) {
        done();
        for (const p of planned) p.undo();
        // Back to the generation this group expected, unless a group planned before it (and failed
        // too) already set it lower: the picture never claims a generation the database may not reach.
        for (const d of deltas.values()) d.resource.generation = Math.min(d.resource.generation, d.expectedGeneration);
        if (!(e instanceof LostRaceError)) {
          this.snapshot.invalidate(new Set([...deltas.values()].map((d) => d.hostId)));
          throw e;
        }
        this.snapshot.invalidate(e.hostIds);
        pending = planned.map((p) => p.index);
        continue;
      }
      for (const p of planned) {
        const { request } = items[p.index]!;
        results[p.index] = { request, allocations: p.allocations.map((a) => this.allocations.create({ ...a, status: AllocationStatus.ACTIVE, endedAt: null, createdAt: now })) };
      }
      pending = [];
    }
    for (const index of pending) results[index] ??= new ConflictError(`Lost the race for capacity ${this.maxAttempts} times; try again`, { attempts: this.maxAttempts });
    return results as Array<PlacementResult | RspError>;
  }

  /**
   * Queues a group behind the groups in flight on any of `resourceIds`: `turn` settles when they
   * have updated those rows; calling `done` (once this group has updated its own) lets the next
   * groups on them go.
   */
  private takeTurn(resourceIds: string[]): { turn: Promise<unknown>; done: () => void } {
    let done!: () => void;
    const mine = new Promise<void>((resolve) => (done = resolve));
    const before = new Set<Promise<void>>();
    for (const id of resourceIds) {
      const prior = this.claiming.get(id);
      if (prior) before.add(prior);
      this.claiming.set(id, mine);
    }
    let released = false;
    return {
      turn: before.size ? Promise.all(before) : Promise.resolve(),
      done: () => {
        if (released) return;
        released = true;
        for (const id of resourceIds) if (this.claiming.get(id) === mine) this.claiming.delete(id);
        done();
      },
    };
  }
}

function requireHost(hosts: Map<string, HostView>, id: string): HostView {
  const host = hosts.get(id);
  if (!host) throw new NotFoundError('Host', id);
  return host;
}

/** CONFLICT naming why no host fits: the rejections of the replica that found none. */
function noHostError(evaluation: Evaluation, replica: number, afterRace: boolean): ConflictError {
  const rejections = evaluation.rejections.slice(0, 20).map((r) => ({ hostId: r.host.id, hostname: r.host.hostname, filter: r.filter, reason: r.reason }));
  const summary = rejections.slice(0, 3).map((r) => `${r.hostname}: ${r.filter} (${r.reason})`).join('; ');
  const what = afterRace ? 'Another request took the capacity first and no other host fits' : 'No host can take this request';
  return new ConflictError(`${what}${replica ? ` (replica ${replica + 1})` : ''}${summary ? `: ${summary}` : ''}`, { replica, rejected: evaluation.rejections.length, rejections });
}

function toRspError(e: unknown): RspError {
  if (e instanceof RspError) return e;
  throw e;
}

/** CONFLICT unless the allocation is ACTIVE with its lease still running. */
function assertUsable(a: Pick<AllocationEntity, 'id' | 'status' | 'expiresAt'>, now: Date): void {
  if (a.status !== AllocationStatus.ACTIVE) throw new ConflictError(`Allocation ${a.id} is ${a.status}, not ACTIVE`, { allocationId: a.id, status: a.status });
  if (a.expiresAt && a.expiresAt.getTime() <= now.getTime()) throw new ConflictError(`The lease of allocation ${a.id} ran out at ${a.expiresAt.toISOString()}; renew it first`, { allocationId: a.id });
}

function validateLease(seconds: number): void {
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_LEASE_SECONDS) throw new BadInputError(`A lease is a whole number of seconds from 1 to ${MAX_LEASE_SECONDS}`, { leaseSeconds: seconds });
}

/** The group a list is limited to: the one asked (members only) or, for non site admins, their own. */
function visibleGroup(actor: Principal, groupId: string | undefined, what: string): string | undefined {
  const p = policy.requireAuthenticated(actor);
  if (groupId) {
    if (!policy.isMember(actor, groupId)) throw new ForbiddenError(`You may not list another group's ${what}`, { groupId });
    return groupId;
  }
  if (p.siteAdmin) return undefined;
  if (!p.groupId) throw new ForbiddenError(`This token belongs to no group: name the group whose ${what} to list`);
  return p.groupId;
}

/** BAD_USER_INPUT unless the request is well-formed; returns the spec the scheduler reads. */
export function validateRequest(input: AllocationRequestInput): AllocationSpec {
  const problems: string[] = [];
  if (!input.resources.length) problems.push('ask for at least one resource');
  const types = new Set<string>();
  for (const want of input.resources) {
    validateTypeAndUnit(want.type, want.unit as ResourceUnit);
    if (types.has(want.type)) problems.push(`${want.type} is asked twice`);
    types.add(want.type);
    if (!(want.amount > 0) || !Number.isFinite(want.amount)) problems.push(`${want.type}: amount must be positive`);
  }
  const replicas = input.replicas ?? 1;
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > MAX_REPLICAS) problems.push(`replicas must be a whole number from 1 to ${MAX_REPLICAS}`);
  const technologies = input.technologies ?? [];
  if (new Set(technologies).size !== technologies.length) problems.push('a technology is listed twice');
  const hostIds = input.hostIds ?? [];
  if (input.mode === PlacementMode.DIRECT && hostIds.length !== replicas) problems.push(`DIRECT placement names one host per replica (${replicas})`);
  if (input.mode !== PlacementMode.DIRECT && hostIds.length) problems.push(`hostIds are for DIRECT placement, not ${input.mode}`);
  for (const r of input.requiredProperties ?? []) {
    if (r.op !== 'EXISTS' && !r.values.length) problems.push(`required property ${r.key} (${r.op}) needs a value`);
  }
  if (problems.length) throw new BadInputError(`Invalid allocation request: ${problems.join('; ')}`, { problems });
  return { resources: input.resources.map((w) => ({ type: w.type, amount: w.amount, unit: w.unit })), technologies, requiredProperties: input.requiredProperties ?? [], antiAffinity: input.antiAffinity ?? (replicas > 1 ? AntiAffinity.HOST : AntiAffinity.NONE), replicas, hostIds };
}

