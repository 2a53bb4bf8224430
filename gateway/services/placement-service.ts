import { In, type DataSource, type EntityManager, type Repository } from 'typeorm';
import { HostOwners } from '../auth/host-owners';
import { policy } from '../auth/policy';
import type { Principal } from '../auth/principal';
import { BadInputError, ConflictError, ForbiddenError, isRspError, NotFoundError, RspError } from '../errors';
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
import { timeOrderedId } from '../persistence/time-ordered-id';
import { endAllocations, insertPlacements, rowsOf } from '../placement/claims';
import { GroupCommit, requireHost, toRspError, type BatchItem, type PlacementResult } from '../placement/group-commit';
import { DEFAULT_PLACEMENT_SNAPSHOT_MS } from '../placement/defaults';
import { claimImplicit, type ImplicitClaim } from '../placement/implicit';
import { placementAsk } from '../placement/model';
import { evaluateHosts, Evaluation } from '../placement/scheduler';
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

/** What one placed request gives back (defined with the group commit that makes it). */
export type { PlacementResult } from '../placement/group-commit';

/** Filters of allocation lists. */
export interface AllocationFilter {
  groupId?: string;
  hostId?: string;
  requestId?: string;
  status?: AllocationStatus;
}

/** How the placement service runs: the snapshot age, the clock and the retries on lost races. */
export interface PlacementOptions {
  /** 0: every decision reads the inventory afresh; above 0: a shared picture checked this often (default DEFAULT_PLACEMENT_SNAPSHOT_MS). */
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
/** Most items of one allocateMany. */
export const MAX_BATCH = 1000;
const MAX_REPLICAS = 100;

/**
 * Allocation and placement (seed 003, SRSM-2): validates requests, checks who may ask what, and
 * hands the requests to the group commit (gateway/placement/group-commit.ts), which plans them
 * and claims the capacity; leases, releases and the approval steps are kept here.
 */
export class PlacementService {
  private readonly requests: Repository<AllocationRequestEntity>;
  private readonly allocations: Repository<AllocationEntity>;
  private readonly snapshot: InventorySnapshot;
  private readonly groupCommit: GroupCommit;
  private readonly now: () => Date;

  private readonly owners: HostOwners;

  constructor(
    private readonly dataSource: DataSource,
    options: PlacementOptions = {},
    /** Where approval steps are published (the `events` stream), when given. */
    private readonly pubSub?: RspPubSub,
  ) {
    this.requests = dataSource.getRepository(AllocationRequestEntity);
    this.owners = new HostOwners(dataSource);
    this.allocations = dataSource.getRepository(AllocationEntity);
    this.snapshot = new InventorySnapshot(dataSource, options.snapshotMs ?? DEFAULT_PLACEMENT_SNAPSHOT_MS);
    this.now = options.now ?? (() => new Date());
    this.groupCommit = new GroupCommit(dataSource, this.snapshot, { now: this.now, maxAttempts: options.maxAttempts ?? 5, oneStatementResources: options.oneStatementResources });
  }

  /** Dry run: every host ranked for the request's first replica, with the filter and reason of each rejected one. */
  async candidates(actor: Principal, input: AllocationRequestInput): Promise<Evaluation> {
    policy.requireRole(actor, input.groupId, MemberRole.MEMBER, 'ask placements for this group');
    const spec = validateRequest(input);
    const hosts = await this.snapshot.hosts();
    const pool = spec.hostIds.length ? spec.hostIds.map((id) => requireHost(hosts, id)) : [...hosts.values()];
    return evaluateHosts(pool, placementAsk(spec, input.groupId, input.guarantee));
  }

  /** Places one request (DIRECT, AUTOMATIC) or records it for a site admin or the owners of the hosts it names (APPROVAL). */
  async allocate(actor: Principal, input: AllocationRequestInput): Promise<PlacementResult> {
    const [result] = await this.allocateMany(actor, [input]);
    if (isRspError(result)) throw result;
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
    const placed = await this.groupCommit.place(batch.map((b) => b.item));
    batch.forEach((b, i) => (results[b.index] = placed[i]));
    return results as Array<PlacementResult | RspError>;
  }

  /**
   * Approves a PENDING request: on the hosts named, or where the scheduler chooses. Site admins;
   * the admins governing hosts approve onto those hosts (named here or in the request). A caller
   * who may decide no request is FORBIDDEN before any lookup; one who may not decide this one is
   * told NOT_FOUND (FORBIDDEN when it is their own group's), the same as for an id that does not exist.
   */
  async approve(actor: Principal, requestId: string, hostIds?: string[], reason?: string): Promise<PlacementResult> {
    const p = policy.requireAuthenticated(actor);
    const request = await this.decidableRequest(p, requestId, 'approve allocation requests');
    await this.requireGovernsPlacement(p, hostIds?.length ? hostIds : request.spec.hostIds, 'approve allocation requests');
    if (hostIds?.length && hostIds.length !== request.spec.replicas) throw new BadInputError(`Name ${request.spec.replicas} host(s), one per replica`, { hostIds });
    Object.assign(request, { status: AllocationRequestStatus.PLACED, decidedBy: decider(p, request), decidedAt: this.now(), reason: reason ?? null });
    const [result] = await this.groupCommit.placeBatch([{ request, pinned: hostIds?.length ? hostIds : request.spec.hostIds.length ? request.spec.hostIds : undefined, insert: false }]);
    if (isRspError(result)) throw result;
    this.announce(result!.request, 'APPROVED', result!.allocations);
    return result!;
  }

  /** Rejects a PENDING request, saying why: site admins, or the admins governing every host it names (same lookup rules as `approve`). */
  async reject(actor: Principal, requestId: string, reason: string): Promise<AllocationRequestEntity> {
    const p = policy.requireAuthenticated(actor);
    const request = await this.decidableRequest(p, requestId, 'reject allocation requests');
    await this.requireGovernsPlacement(p, request.spec.hostIds, 'reject allocation requests');
    if (!reason.trim()) throw new BadInputError('Say why the request is rejected');
    const updated = rowsOf(await this.dataSource.query(`UPDATE allocation_request SET status = $2, reason = $3, "decidedBy" = $4, "decidedAt" = $5 WHERE id = $1 AND status = 'PENDING' RETURNING id`, [request.id, AllocationRequestStatus.REJECTED, reason, decider(p, request), this.now()]));
    if (!updated.length) throw new ConflictError('The request was decided meanwhile', { requestId });
    const rejected = await this.requests.findOneByOrFail({ id: request.id });
    this.announce(rejected, 'REJECTED', []);
    return rejected;
  }

  /**
   * PENDING requests the caller may decide, oldest first: all for site admins; for the admins of a
   * group owning hosts or sites, those naming only hosts they govern and those naming none whose
   * group owns or has a share on a host they govern (they may approve those onto it). Empty for anyone else.
   */
  async listApprovalRequests(actor: Principal, limit: number, offset: number): Promise<{ items: AllocationRequestEntity[]; total: number }> {
    policy.requireAuthenticated(actor);
    const governed = await this.owners.hostsGovernedByActor(actor);
    if (governed !== null && !governed.length) return { items: [], total: 0 };
    const where = governed === null ? '' : `AND ${DECIDABLE_BY_HOSTS}`;
    const params = governed === null ? [] : [governed];
    const [{ total }]: Array<{ total: string }> = await this.dataSource.query(`SELECT count(*) AS total FROM allocation_request r WHERE r.status = 'PENDING' ${where}`, params);
    const ids: Array<{ id: string }> = await this.dataSource.query(
      `SELECT r.id FROM allocation_request r WHERE r.status = 'PENDING' ${where} ORDER BY r."createdAt" ASC, r.id ASC LIMIT ${Number(limit)} OFFSET ${Number(offset)}`,
      params,
    );
    const rows = ids.length ? await this.requests.findBy({ id: In(ids.map((r) => r.id)) }) : [];
    const byId = new Map(rows.map((r) => [r.id, r]));
    return { items: ids.map((r) => byId.get(r.id)!).filter(Boolean), total: Number(total) };
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

  /** Releases an active allocation: its claims go back to the resources exactly. One an environment or replica holds is released with it (CONFLICT). */
  async release(actor: Principal, id: string): Promise<AllocationEntity> {
    const allocation = await this.get(actor, id);
    policy.requireRole(actor, allocation.groupId, MemberRole.MEMBER, 'release this allocation');
    if (allocation.environmentId) throw new ConflictError(`Allocation ${id} holds the capacity of environment ${allocation.environmentId}: it is released when the environment is destroyed or leaves the host`, { id, environmentId: allocation.environmentId });
    if (allocation.replicaId) throw new ConflictError(`Allocation ${id} holds the bytes of replica ${allocation.replicaId}: it is released when the replica is deleted`, { id, replicaId: allocation.replicaId });
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

  /** An allocation its group (or a site admin) may see. */
  async get(actor: Principal, id: string): Promise<AllocationEntity> {
    policy.requireAuthenticated(actor);
    const a = await this.allocations.findOneBy({ id });
    if (!a || !policy.isMember(actor, a.groupId)) throw new NotFoundError('Allocation', id);
    return a;
  }

  /** An allocation request its group (or a site admin) may see, or a PENDING one the caller may decide. */
  async getRequest(actor: Principal, id: string): Promise<AllocationRequestEntity> {
    policy.requireAuthenticated(actor);
    const r = await this.requests.findOneBy({ id });
    if (!r) throw new NotFoundError('AllocationRequest', id);
    if (policy.isMember(actor, r.groupId)) return r;
    if (r.status === AllocationRequestStatus.PENDING && (await this.mayDecide(await this.owners.hostsGovernedByActor(actor), r))) return r;
    throw new NotFoundError('AllocationRequest', id);
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

  /**
   * SRSM-2 owners of a resource: the allocations holding a portion of it now. `mine`: those the
   * actor may see (its group's; site admins: all); `others`: how many more there are.
   */
  async ownersOf(actor: Principal, resourceId: string): Promise<{ mine: string[]; others: number }> {
    const rows: Array<{ allocationId: string; groupId: string }> = await this.dataSource.query(`SELECT DISTINCT "allocationId", "groupId" FROM allocation_claim WHERE "resourceId" = $1 AND active ORDER BY 1`, [resourceId]);
    const mine = rows.filter((r) => policy.isMember(actor, r.groupId)).map((r) => r.allocationId);
    return { mine, others: rows.length - mine.length };
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

  /**
   * For a release another statement writes (an environment's destroy, with its operation's end):
   * the time its allocations end at, and what to call with the hosts whose allocations it ended
   * once it is written (their picture is read again before the next decision).
   */
  releaseCarried(): { at: Date; released(hostIds: string[]): void } {
    return { at: this.now(), released: (hostIds) => this.snapshot.invalidate(hostIds) };
  }

  /**
   * Inside the caller's transaction, claims capacity on a host for work that is put there without
   * an allocation of its own (an environment's limits, a replica's bytes): FORBIDDEN when the group
   * has no share on the host, CONFLICT when its share or the host is short. Returns the implicit
   * allocation's id and what to call once the transaction has committed.
   */
  async claimWithin(m: EntityManager, claim: ImplicitClaim): Promise<{ allocationId: string; after: () => void }> {
    const allocationId = await claimImplicit(m, claim, this.now());
    return { allocationId, after: () => this.snapshot.invalidate([claim.hostId]) };
  }

  /**
   * Inside the caller's transaction, releases the implicit allocations of an environment (all of
   * them, or those not on `keepHostId`: the host it left) or of replicas, and the environment's own
   * allocation when named. Returns what to call once the transaction has committed.
   */
  async releaseHeldWithin(m: EntityManager, of: { environmentId?: string; replicaIds?: string[]; keepHostId?: string; allocationId?: string | null }): Promise<() => void> {
    const { allocationId, ...implicit } = of;
    const { hostIds } = await endAllocations(m, { ...implicit, ids: allocationId ? [allocationId] : [] }, AllocationStatus.RELEASED, this.now());
    return () => this.snapshot.invalidate(hostIds);
  }

  /** The active allocations holding an environment's capacity: the one it was made on and its implicit ones, oldest first. */
  async heldBy(environmentId: string): Promise<AllocationEntity[]> {
    const rows: AllocationEntity[] = await this.dataSource.query(
      `SELECT a.* FROM environment e JOIN allocation a ON (a."environmentId" = e.id OR a.id = e."allocationId") AND a.status = 'ACTIVE' WHERE e.id = $1 ORDER BY a."createdAt", a.id`,
      [environmentId],
    );
    return rows.map((row) => this.allocations.create(row));
  }

  /** What each allocation of a request holds (one amount per resource). */
  async holdings(requestId: string): Promise<ResourceWant[]> {
    return (await this.requests.findOneBy({ id: requestId }))?.spec.resources ?? [];
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

  /** Site admins pass; others must govern every one of `hostIds` (and name at least one). FORBIDDEN otherwise. */
  private async requireGovernsPlacement(actor: Principal, hostIds: string[], action: string): Promise<void> {
    if (actor.kind === 'token' && actor.siteAdmin) return;
    if (!hostIds.length) throw new ForbiddenError(`Only site admins may ${action} without hosts named: host owners decide for the hosts they govern`, { action });
    for (const hostId of new Set(hostIds)) await this.owners.requireGovernsHost(actor, hostId, `${action} for this host`);
  }

  /**
   * The PENDING request `id` when the caller may decide it. FORBIDDEN before any lookup when the
   * caller may decide no request at all; NOT_FOUND when it does not exist or the caller may neither
   * decide nor see it; FORBIDDEN when it is the caller's group's but not theirs to decide.
   */
  private async decidableRequest(actor: Principal, id: string, action: string): Promise<AllocationRequestEntity> {
    const governed = await this.owners.hostsGovernedByActor(actor);
    if (governed !== null && !governed.length) throw new ForbiddenError(`Only site admins and the admins of groups owning hosts may ${action}`, { action });
    const request = await this.requests.findOneBy({ id });
    if (!request) throw new NotFoundError('AllocationRequest', id);
    if (!(await this.mayDecide(governed, request))) {
      if (policy.isMember(actor, request.groupId)) throw new ForbiddenError(`You may not ${action}: this one names no host your group governs`, { action });
      throw new NotFoundError('AllocationRequest', id);
    }
    if (request.status !== AllocationRequestStatus.PENDING) throw new ConflictError(`Request ${id} is ${request.status}, not PENDING`, { id, status: request.status });
    return request;
  }

  /** Whether the holder of `governed` hosts (null: every host) may decide the request; see `listApprovalRequests`. */
  private async mayDecide(governed: string[] | null, request: AllocationRequestEntity): Promise<boolean> {
    if (governed === null) return true;
    if (!governed.length) return false;
    const rows: unknown[] = await this.dataSource.query(`SELECT 1 FROM allocation_request r WHERE r.id = $2 AND ${DECIDABLE_BY_HOSTS}`, [governed, request.id]);
    return rows.length > 0;
  }

  private newRequest(requestedBy: string, input: AllocationRequestInput, spec: AllocationSpec): AllocationRequestEntity {
    const lease = input.leaseSeconds ?? (input.guarantee === AllocationGuarantee.GUARANTEED ? DEFAULT_LEASE_SECONDS : null);
    if (lease !== null) validateLease(lease);
    // Built directly: TypeORM's `create` costs a few microseconds per request, on the batch's hot
    // path (and field by field, without an object literal copied in and left to the collector).
    const request = new AllocationRequestEntity();
    request.id = timeOrderedId();
    request.groupId = input.groupId;
    request.requestedBy = requestedBy;
    request.mode = input.mode;
    request.guarantee = input.guarantee;
    request.spec = spec;
    request.leaseSeconds = lease;
    request.status = input.mode === PlacementMode.APPROVAL ? AllocationRequestStatus.PENDING : AllocationRequestStatus.PLACED;
    request.reason = null;
    request.decidedBy = null;
    request.decidedAt = null;
    request.createdAt = this.now();
    return request;
  }

}

/**
 * SQL condition on request `r`: decidable by the admins governing the hosts `$1` (uuid[]) — it names
 * hosts, all of them in `$1`; or it names none and its group owns or has a share on one of `$1`.
 */
const DECIDABLE_BY_HOSTS = `(CASE WHEN jsonb_array_length(r.spec->'hostIds') > 0
  THEN NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(r.spec->'hostIds') named(id) WHERE named.id <> ALL($1::text[]))
  ELSE EXISTS (SELECT 1 FROM host h WHERE h.id::text = ANY($1::text[]) AND (h."ownerGroupId" = r."groupId" OR EXISTS (SELECT 1 FROM share s WHERE s."hostId" = h.id AND s."groupId" = r."groupId")))
END)`;

/**
 * Who decided, as the requesting group is told: the token's name when it is a site admin's or the
 * group's own; for the admins of another group governing the host, that group (its token names are its own).
 */
function decider(p: Extract<Principal, { kind: 'token' }>, request: AllocationRequestEntity): string {
  return p.siteAdmin || p.groupId === request.groupId ? p.name : `an admin of group ${p.groupId}`;
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
  const wants = input.resources;
  if (!wants.length) problems.push('ask for at least one resource');
  // Duplicates are looked for by comparing each with the ones before it, not through a Set: a
  // request lists a few resources and technologies, and a batch validates up to 1,000 requests.
  for (let i = 0; i < wants.length; i++) {
    const want = wants[i]!;
    validateTypeAndUnit(want.type, want.unit as ResourceUnit);
    for (let j = 0; j < i; j++) {
      if (wants[j]!.type === want.type) {
        problems.push(`${want.type} is asked twice`);
        break;
      }
    }
    if (!(want.amount > 0) || !Number.isFinite(want.amount)) problems.push(`${want.type}: amount must be positive`);
  }
  const replicas = input.replicas ?? 1;
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > MAX_REPLICAS) problems.push(`replicas must be a whole number from 1 to ${MAX_REPLICAS}`);
  const technologies = input.technologies ?? [];
  for (let i = 1; i < technologies.length; i++) {
    if (technologies.indexOf(technologies[i]!) < i) {
      problems.push('a technology is listed twice');
      break;
    }
  }
  const hostIds = input.hostIds ?? [];
  if (input.mode === PlacementMode.DIRECT && hostIds.length !== replicas) problems.push(`DIRECT placement names one host per replica (${replicas})`);
  if (input.mode === PlacementMode.APPROVAL && hostIds.length && hostIds.length !== replicas) problems.push(`APPROVAL placement names no host or one per replica (${replicas}): their owners decide`);
  if (input.mode === PlacementMode.AUTOMATIC && hostIds.length) problems.push('hostIds are for DIRECT and APPROVAL placement, not AUTOMATIC');
  for (const r of input.requiredProperties ?? []) {
    if (r.op !== 'EXISTS' && !r.values.length) problems.push(`required property ${r.key} (${r.op}) needs a value`);
  }
  if (problems.length) throw new BadInputError(`Invalid allocation request: ${problems.join('; ')}`, { problems });
  return { resources: input.resources.map((w) => ({ type: w.type, amount: w.amount, unit: w.unit })), technologies, requiredProperties: input.requiredProperties ?? [], antiAffinity: input.antiAffinity ?? (replicas > 1 ? AntiAffinity.HOST : AntiAffinity.NONE), replicas, hostIds };
}

