import type { DataSource } from 'typeorm';
import { timeOrderedId } from '../persistence/time-ordered-id';
import { ConflictError, ForbiddenError, isRspError, NotFoundError, RspError } from '../errors';
import { usagePolicyRefusal } from '../metrics/usage-breaches';
import { AllocationEntity, AllocationRequestEntity, AllocationStatus } from '../persistence/entities';
import { applyDeltas, claimAtOnce, insertPlacementsChecked, LostRaceError, PlannedAllocation, ResourceDelta, rowsOf, UsageAfter } from './claims';
import { placementAsk, type HostView } from './model';
import { Evaluation, placeReplicas } from './scheduler';
import { InventorySnapshot } from './snapshot';

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
/** After a lost race, each replica goes to one of this many best hosts at random. */
const RETRY_SPREAD = 4;
/** Without a shared picture, the longest wait (ms) before the first retry of a lost race; it doubles with every attempt, jittered. */
const RETRY_BACKOFF_MS = 5;

/** A request with the allocations placed for it (none while it waits for approval). */
export interface PlacementResult {
  request: AllocationRequestEntity;
  allocations: AllocationEntity[];
}

/** One request to place in a group commit. */
export interface BatchItem {
  request: AllocationRequestEntity;
  /** Hosts named for each replica (DIRECT, or an admin's approval choice). */
  pinned?: string[];
  /** True when the request row is new (not an approved PENDING one). */
  insert: boolean;
}

/** How a group commit runs: the clock, the retries on lost races and the one-statement size. */
export interface GroupCommitOptions {
  now: () => Date;
  /** Attempts of one batch before the items still racing get CONFLICT. */
  maxAttempts: number;
  /** Groups touching at most this many resources commit in one statement (default 200; 0: always the transaction). */
  oneStatementResources?: number;
}

/**
 * The placement pipeline: plans a group of requests on one inventory picture and claims the
 * capacity in one statement or transaction with a generation check per resource. A lost race
 * rolls the group back and places it again on a fresh picture (another host when one fits), up
 * to `maxAttempts`; what still cannot be placed gets CONFLICT.
 */
export class GroupCommit {
  private readonly now: () => Date;
  private readonly maxAttempts: number;
  private readonly oneStatementResources: number;
  private readonly queue: Array<{ items: BatchItem[]; resolve: (r: Array<PlacementResult | RspError>) => void; reject: (e: unknown) => void }> = [];
  private inFlight = 0;
  /** Per resource being claimed: settles when the last group planned on it has updated its row. */
  private readonly claiming = new Map<string, Promise<void>>();

  constructor(
    private readonly dataSource: DataSource,
    private readonly snapshot: InventorySnapshot,
    options: GroupCommitOptions,
  ) {
    this.now = options.now;
    this.maxAttempts = options.maxAttempts;
    this.oneStatementResources = options.oneStatementResources ?? DEFAULT_ONE_STATEMENT_RESOURCES;
  }

  /**
   * One planner per gateway: requests that arrive while a group is being claimed wait and are
   * claimed together in the next transaction (group commit), so this gateway's decisions never
   * race each other (many requests wanting the same best host are queued and planned together,
   * not failed) and a single `allocate` pays for a fraction of a transaction. With a shared
   * picture PIPELINE_DEPTH groups are in flight; without one a single group, since each reads the
   * database afresh and would not see the claims of another still in flight.
   */
  place(items: BatchItem[]): Promise<Array<PlacementResult | RspError>> {
    if (!items.length) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.queue.push({ items, resolve, reject });
      this.drain();
    });
  }

  /** Starts the next group of queued requests while fewer than PIPELINE_DEPTH (1 without a shared picture) are being claimed. */
  private drain(): void {
    const depth = this.snapshot.isShared ? PIPELINE_DEPTH : 1;
    while (this.queue.length && this.inFlight < depth) {
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

  /** Plans every item on one picture, claims them all at once, retries lost races (approvals call it directly, outside the queue). */
  async placeBatch(items: BatchItem[]): Promise<Array<PlacementResult | RspError>> {
    const results: Array<PlacementResult | RspError | undefined> = new Array(items.length);
    let pending = items.map((_, i) => i);
    // With a shared picture, items refused on it are tried once more after it caught up (a host,
    // share or resource written a moment ago, here or on another gateway, is then seen).
    let caughtUp = !this.snapshot.isShared;
    const raced = new Set<number>();
    for (let attempt = 1; pending.length && attempt <= this.maxAttempts; attempt++) {
      const refused: number[] = [];
      // Without a shared picture a lost race is with another gateway (or an environment's claim):
      // the next attempt waits a jittered, growing moment so the racers do not meet again at once.
      if (!this.snapshot.isShared && attempt > 1 && raced.size) await sleep(Math.random() * RETRY_BACKOFF_MS * 2 ** (attempt - 2));
      if (!caughtUp && attempt > 1 && pending.some((i) => results[i] !== undefined)) {
        await this.snapshot.catchUp();
        caughtUp = true;
        for (const i of pending) results[i] = undefined;
      }
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
          refused.push(index);
          continue;
        }
        const outcome = placeReplicas(hosts, ask, { pinned: pool, randomTop: attempt > 1 ? RETRY_SPREAD : 1, cursor });
        if (!outcome.placed) {
          results[index] = noHostError(outcome.evaluation, outcome.failedReplica, raced.has(index), request.groupId);
          refused.push(index);
          continue;
        }
        const expiresAt = request.leaseSeconds ? new Date(now.getTime() + request.leaseSeconds * 1000) : null;
        const allocations = outcome.placed.map((p): PlannedAllocation => ({
          id: timeOrderedId(),
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
      const retryRefused = caughtUp ? [] : refused;
      if (!planned.length) {
        pending = retryRefused;
        continue;
      }
      // What each group will hold of each resource claimed, as planned (after this group's charges).
      // Groups already named, per resource (a set per resource: no key string made per claim).
      const usage: UsageAfter[] = [];
      const charged = new Map<string, Set<string>>();
      for (const p of planned) {
        for (const a of p.allocations) {
          for (const c of a.claims) {
            let groups = charged.get(c.resourceId);
            if (!groups) charged.set(c.resourceId, (groups = new Set()));
            if (groups.has(a.groupId)) continue;
            groups.add(a.groupId);
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
      const allocations = planned.flatMap((p) => p.allocations);
      try {
        if (!decided.length && deltas.size <= this.oneStatementResources) {
          // A small group of new requests (single allocations arriving together): the whole commit
          // in one statement, one round trip; the next group on the same resources waits for it
          // whole (its statement built meanwhile, sent as soon as this one is done).
          try {
            await claimAtOnce(this.dataSource, [...deltas.values()], fresh, allocations, usage, turn);
          } finally {
            done();
          }
        } else {
          const insert = insertPlacementsChecked(fresh, allocations, usage);
          await this.dataSource.transaction(async (m) => {
            try {
              await turn;
              await applyDeltas(m, [...deltas.values()]);
            } finally {
              done();
            }
            await insert(m);
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
        for (const p of planned) raced.add(p.index);
        pending = [...planned.map((p) => p.index), ...retryRefused];
        continue;
      }
      for (const p of planned) {
        const { request } = items[p.index]!;
        results[p.index] = { request, allocations: p.allocations.map((a) => placedEntity(a, now)) };
      }
      pending = retryRefused;
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

/**
 * The entity of an allocation just written, built directly (TypeORM's `create` copies every column
 * through its metadata: a few microseconds per allocation, on the batch's hot path), field by
 * field (no object literal copied in and left to the collector).
 */
function placedEntity(a: PlannedAllocation, createdAt: Date): AllocationEntity {
  const e = new AllocationEntity();
  e.id = a.id;
  e.requestId = a.requestId;
  e.groupId = a.groupId;
  e.hostId = a.hostId;
  e.technology = a.technology;
  e.guarantee = a.guarantee;
  e.status = AllocationStatus.ACTIVE;
  e.score = a.score;
  e.expiresAt = a.expiresAt;
  e.endedAt = null;
  e.environmentId = a.environmentId ?? null;
  e.replicaId = a.replicaId ?? null;
  e.createdAt = createdAt;
  return e;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The host `id` of the picture; NOT_FOUND when it has none. */
export function requireHost(hosts: Map<string, HostView>, id: string): HostView {
  const host = hosts.get(id);
  if (!host) throw new NotFoundError('Host', id);
  return host;
}

/**
 * CONFLICT naming why no host fits: the rejections of the replica that found none. When every
 * host was rejected by a usage policy the group is over, FORBIDDEN naming the policy and its site.
 */
function noHostError(evaluation: Evaluation, replica: number, afterRace: boolean, groupId: string): RspError {
  const { rejections: all } = evaluation;
  const breach = all.length && all.every((r) => r.filter === 'USAGE_POLICY') ? all[0]!.host.policyBreaches.get(groupId) : undefined;
  if (breach) {
    const refusal = usagePolicyRefusal(breach, groupId);
    return new ForbiddenError(`No host can take this request: ${refusal.message}`, { ...refusal.details, rejected: all.length, rejections: all.slice(0, 20).map((r) => ({ hostId: r.host.id, hostname: r.host.hostname, filter: r.filter, reason: r.reason })) });
  }
  const rejections = evaluation.rejections.slice(0, 20).map((r) => ({ hostId: r.host.id, hostname: r.host.hostname, filter: r.filter, reason: r.reason }));
  const summary = rejections.slice(0, 3).map((r) => `${r.hostname}: ${r.filter} (${r.reason})`).join('; ');
  const what = afterRace ? 'Another request took the capacity first and no other host fits' : 'No host can take this request';
  return new ConflictError(`${what}${replica ? ` (replica ${replica + 1})` : ''}${summary ? `: ${summary}` : ''}`, { replica, rejected: evaluation.rejections.length, rejections });
}

/** An item's own error, kept as its result; anything that is not an RspError is thrown. */
export function toRspError(e: unknown): RspError {
  if (isRspError(e)) return e;
  throw e;
}
