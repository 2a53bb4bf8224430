import type { DataSource, EntityManager } from 'typeorm';
import { arrayLiteral } from '../persistence/array-literal';
import { namedQuery } from '../persistence/data-source';
import { AllocationGuarantee, AllocationRequestEntity, AllocationStatus } from '../persistence/entities';
import type { ResourceView } from './model';

/** A claim on a resource's `used` inside one commit, with the generation the planner read. */
export interface ResourceDelta {
  resource: ResourceView;
  hostId: string;
  amount: number;
  expectedGeneration: number;
}

/** An allocation row to write, with its claims. */
export interface PlannedAllocation {
  id: string;
  requestId: string;
  groupId: string;
  hostId: string;
  technology: string;
  guarantee: AllocationGuarantee;
  score: number;
  expiresAt: Date | null;
  claims: Array<{ resourceId: string; type: string; amount: number }>;
  /** The environment an implicit allocation holds capacity for. */
  environmentId?: string | null;
  /** The replica an implicit allocation holds capacity for. */
  replicaId?: string | null;
}

/** Another writer changed a resource between planning and claiming: the hosts to read again. */
export class LostRaceError extends Error {
  constructor(readonly hostIds: string[]) {
    super(`lost the race for ${hostIds.length} host(s)`);
  }
}

/** The rows of a query result: TypeORM answers UPDATE … RETURNING with `[rows, count]`. */
export function rowsOf<T>(result: unknown): T[] {
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') return result[0] as T[];
  return result as T[];
}

/**
 * Adds the deltas to the resources' `used`, bumping the generation, and checks that each
 * resource was still at the generation the planner read and within its overbooked capacity. One
 * statement: it first locks the rows in id order (a one-time filter, evaluated before any row is
 * updated), so two claims on overlapping resources queue instead of deadlocking. The checks are
 * made on the row as updated (RETURNING), not in WHERE: a row changed by a transaction that
 * committed while this statement waited for its lock is then judged by its newest version, not
 * the one this statement's snapshot saw. It answers only the resources not won (moved, over
 * capacity or gone): none when the claim holds, so a group's thousand rows are not sent back.
 * Throws LostRaceError naming the hosts of those (the caller's transaction then rolls back,
 * undoing the update).
 */
export async function applyDeltas(m: EntityManager, deltas: ResourceDelta[]): Promise<void> {
  if (!deltas.length) return;
  const sorted = [...deltas].sort((a, b) => (a.resource.id < b.resource.id ? -1 : 1));
  let lost: Array<{ id: string }>;
  try {
    lost = rowsOf(await m.query(
      `WITH locked AS MATERIALIZED (SELECT id FROM resource WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE),
       claimed AS (UPDATE resource AS r SET used = r.used + v.amount, generation = r.generation + 1
         FROM unnest($1::uuid[], $2::float8[], $3::int[]) AS v(id, amount, gen)
         WHERE (SELECT count(*) FROM locked) >= 0 AND r.id = v.id
         RETURNING r.id, (r.generation = v.gen + 1 AND r.used <= (r.total - r.reserved) * r."allocationRatio" + 1e-6) AS ok)
       SELECT v.id FROM unnest($1::uuid[]) AS v(id) WHERE NOT EXISTS (SELECT 1 FROM claimed c WHERE c.id = v.id AND c.ok)`,
      [arrayLiteral(sorted.map((d) => d.resource.id)), arrayLiteral(sorted.map((d) => d.amount)), arrayLiteral(sorted.map((d) => d.expectedGeneration))],
    ));
  } catch (e) {
    throw lostRaceOf(e, deltas.map((d) => d.hostId));
  }
  if (lost.length) {
    const ids = new Set(lost.map((r) => r.id));
    throw new LostRaceError([...new Set(deltas.filter((d) => ids.has(d.resource.id)).map((d) => d.hostId))]);
  }
}

/**
 * What a failed claim statement means: LostRaceError naming the hosts when it failed on purpose
 * (`rsp_lost_race`, whose message names them after LOST_RACE_MARK) or in a deadlock or
 * serialization failure (every host of `hostIds`); the error itself otherwise.
 */
function lostRaceOf(e: unknown, hostIds: string[]): unknown {
  const err = e as { code?: string; message?: string; driverError?: { code?: string } };
  const code = err.driverError?.code ?? err.code;
  const marked = err.message?.indexOf(LOST_RACE_MARK) ?? -1;
  if (marked >= 0) return new LostRaceError([...new Set(err.message!.slice(marked + LOST_RACE_MARK.length).split(','))]);
  if (code === '40P01' || code === '40001') return new LostRaceError([...new Set(hostIds)]);
  return e;
}

/** What a group will hold of a resource type on a host once a commit's claims are in. */
export interface UsageAfter {
  hostId: string;
  groupId: string;
  type: string;
  used: number;
}

/**
 * Checks that no group will be over its share on a host (the host's owner group needs none).
 * The amounts are the planner's, and they are exact once `applyDeltas` has passed: every claim
 * added or ended bumps its resource's generation, so a resource still at the generation the
 * planner read holds exactly the claims (per group, and guaranteed ones) the planner counted —
 * which is also why guaranteed capacity, checked by the planner, needs no second look here.
 * What the planner may not know is a share changed since its picture was read: this compares
 * with the shares as they are now, one indexed lookup per host, group and type, instead of
 * summing every claim. Throws LostRaceError naming the hosts where the picture was out of date.
 */
export async function checkLimits(m: EntityManager, usage: UsageAfter[]): Promise<void> {
  if (!usage.length) return;
  const p = new Params();
  const ids = { groups: new IdList(p), hosts: new IdList(p) };
  const sql = `SELECT DISTINCT "hostId" FROM (${usageLost(p, ids, usage, false)}) AS l`;
  ids.groups.finish();
  ids.hosts.finish();
  const over: Array<{ hostId: string }> = await m.query(sql, p.values);
  if (over.length) throw new LostRaceError(over.map((r) => r.hostId));
}

/** The parameters of one statement, each named `$n` (with its type cast) in the order added. */
class Params {
  readonly values: unknown[] = [];

  /** Adds a parameter (its value may be set later, by its index) and answers its name, cast to `type`. */
  add(value: unknown, type: string): string {
    this.values.push(value);
    return `$${this.values.length}::${type}`;
  }
}

/**
 * Distinct uuids of one statement, each named by its 1-based position in one `uuid[]` parameter
 * (which the statement must name: PostgreSQL cannot type a parameter it never reads).
 */
class IdList {
  private readonly list: string[] = [];
  private readonly at = new Map<string, number>();
  private readonly slot: number;
  /** The parameter, cast to uuid[]. */
  readonly name: string;

  constructor(private readonly params: Params) {
    this.slot = params.values.length;
    this.name = params.add(undefined, 'uuid[]');
  }

  /** The 1-based position of `id`, added when new. */
  of(id: string): number {
    let i = this.at.get(id);
    if (i === undefined) this.at.set(id, (i = this.list.push(id)));
    return i;
  }

  /** Writes the parameter once every id is in. */
  finish(): void {
    this.params.values[this.slot] = arrayLiteral(this.list);
  }
}

/**
 * The groups, hosts and resources a statement names, each sent (and parsed) once however many
 * rows name them: a row names them by position (an integer, not a uuid's text, which PostgreSQL
 * parses with a `strtoul` call per byte — 14 % of its CPU in bench:placement's batches).
 */
class StatementIds {
  readonly groups: IdList;
  readonly hosts: IdList;
  readonly resources: IdList;

  constructor(p: Params) {
    this.groups = new IdList(p);
    this.hosts = new IdList(p);
    this.resources = new IdList(p);
  }

  /** Writes the three parameters once every id is in. */
  finish(): void {
    this.groups.finish();
    this.hosts.finish();
    this.resources.finish();
  }
}

/**
 * The INSERT clauses (as CTEs) of new requests, their allocations and claims, each table's rows as
 * one array literal per column (the requests' distinct specs as one JSON array), their groups,
 * hosts and resources by position in `ids`.
 */
function placementRows(p: Params, ids: StatementIds, requests: AllocationRequestEntity[], allocations: PlannedAllocation[]): string {
  // Identical specs (a batch of like requests) are sent and parsed once: the distinct ones as one
  // JSON array, each request naming its own by position (parsing the specs was about a tenth of
  // the database's CPU in bench:placement's batches).
  const specIndex = new Map<string, number>();
  const specs: string[] = [];
  const specOf = requests.map((r) => {
    const json = JSON.stringify(r.spec);
    let at = specIndex.get(json);
    if (at === undefined) specIndex.set(json, (at = specs.push(json)));
    return at;
  });
  // An allocation of a request written by this statement names it by position (1-based) in the
  // requests' arrays; one of a request already written (an approval's) by its id (position 0).
  const requestAt = new Map<string, number>();
  requests.forEach((r, i) => requestAt.set(r.id, i + 1));
  const allocationRequest = allocations.map((a) => requestAt.get(a.requestId) ?? 0);
  // A claim names its allocation by position (1-based) in the allocations' arrays, whose id, host
  // and group it takes there: ids are sent (and parsed) once, not again per claim. Only elements of
  // a fixed size are taken by position (PostgreSQL finds the n-th of varying-size elements, such as
  // a varchar's, by walking the n-1 before it): a claim's guarantee comes as a boolean of its own.
  const claimAllocation: number[] = [];
  const claimResource: number[] = [];
  const claimType: string[] = [];
  const claimAmount: number[] = [];
  const claimGuaranteed: boolean[] = [];
  allocations.forEach((allocation, i) => {
    for (const claim of allocation.claims) {
      claimAllocation.push(i + 1);
      claimResource.push(ids.resources.of(claim.resourceId));
      claimType.push(claim.type);
      claimAmount.push(claim.amount);
      claimGuaranteed.push(allocation.guarantee === AllocationGuarantee.GUARANTEED);
    }
  });
  const r = {
    id: p.add(arrayLiteral(requests.map((q) => q.id)), 'uuid[]'),
    group: p.add(arrayLiteral(requests.map((q) => ids.groups.of(q.groupId))), 'int[]'),
    requestedBy: p.add(arrayLiteral(requests.map((q) => q.requestedBy)), 'varchar[]'),
    mode: p.add(arrayLiteral(requests.map((q) => q.mode)), 'varchar[]'),
    guarantee: p.add(arrayLiteral(requests.map((q) => q.guarantee)), 'varchar[]'),
    specs: p.add(`[${specs.join(',')}]`, 'jsonb'),
    spec: p.add(arrayLiteral(specOf), 'int[]'),
    leaseSeconds: p.add(arrayLiteral(requests.map((q) => q.leaseSeconds)), 'int[]'),
    status: p.add(arrayLiteral(requests.map((q) => q.status)), 'varchar[]'),
    reason: p.add(arrayLiteral(requests.map((q) => q.reason)), 'text[]'),
    decidedBy: p.add(arrayLiteral(requests.map((q) => q.decidedBy)), 'varchar[]'),
    decidedAt: p.add(arrayLiteral(requests.map((q) => q.decidedAt)), 'timestamptz[]'),
  };
  const a = {
    id: p.add(arrayLiteral(allocations.map((x) => x.id)), 'uuid[]'),
    request: p.add(arrayLiteral(allocationRequest), 'int[]'),
    requestId: p.add(arrayLiteral(allocations.map((x, i) => (allocationRequest[i] ? null : x.requestId))), 'uuid[]'),
    group: p.add(arrayLiteral(allocations.map((x) => ids.groups.of(x.groupId))), 'int[]'),
    host: p.add(arrayLiteral(allocations.map((x) => ids.hosts.of(x.hostId))), 'int[]'),
    technology: p.add(arrayLiteral(allocations.map((x) => x.technology)), 'varchar[]'),
    guarantee: p.add(arrayLiteral(allocations.map((x) => x.guarantee)), 'varchar[]'),
    score: p.add(arrayLiteral(allocations.map((x) => x.score)), 'float8[]'),
    expiresAt: p.add(arrayLiteral(allocations.map((x) => x.expiresAt)), 'timestamptz[]'),
    environmentId: p.add(arrayLiteral(allocations.map((x) => x.environmentId ?? null)), 'uuid[]'),
    replicaId: p.add(arrayLiteral(allocations.map((x) => x.replicaId ?? null)), 'uuid[]'),
  };
  const c = {
    allocation: p.add(arrayLiteral(claimAllocation), 'int[]'),
    resource: p.add(arrayLiteral(claimResource), 'int[]'),
    type: p.add(arrayLiteral(claimType), 'varchar[]'),
    amount: p.add(arrayLiteral(claimAmount), 'float8[]'),
    guaranteed: p.add(arrayLiteral(claimGuaranteed), 'bool[]'),
  };
  return `new_requests AS (INSERT INTO allocation_request (id, "groupId", "requestedBy", mode, guarantee, spec, "leaseSeconds", status, reason, "decidedBy", "decidedAt")
       SELECT v.id, (${ids.groups.name})[v.g], v."requestedBy", v.mode, v.guarantee, (ARRAY(SELECT e FROM jsonb_array_elements(${r.specs}) WITH ORDINALITY AS s(e, o) ORDER BY o))[v.spec], v."leaseSeconds", v.status, v.reason, v."decidedBy", v."decidedAt"
       FROM unnest(${r.id}, ${r.group}, ${r.requestedBy}, ${r.mode}, ${r.guarantee}, ${r.spec}, ${r.leaseSeconds}, ${r.status}, ${r.reason}, ${r.decidedBy}, ${r.decidedAt})
         AS v(id, g, "requestedBy", mode, guarantee, spec, "leaseSeconds", status, reason, "decidedBy", "decidedAt")),
     new_allocations AS (INSERT INTO allocation (id, "requestId", "groupId", "hostId", technology, guarantee, status, score, "expiresAt", "environmentId", "replicaId")
       SELECT v.id, coalesce((${r.id})[v.r], v."requestId"), (${ids.groups.name})[v.g], (${ids.hosts.name})[v.h], v.technology, v.guarantee, '${AllocationStatus.ACTIVE}', v.score, v."expiresAt", v."environmentId", v."replicaId"
       FROM unnest(${a.id}, ${a.request}, ${a.requestId}, ${a.group}, ${a.host}, ${a.technology}, ${a.guarantee}, ${a.score}, ${a.expiresAt}, ${a.environmentId}, ${a.replicaId})
         AS v(id, r, "requestId", g, h, technology, guarantee, score, "expiresAt", "environmentId", "replicaId")),
     new_claims AS (INSERT INTO allocation_claim ("allocationId", "resourceId", "hostId", "groupId", type, amount, guaranteed)
       SELECT (${a.id})[c.a], (${ids.resources.name})[c.r], (${ids.hosts.name})[(${a.host})[c.a]], (${ids.groups.name})[(${a.group})[c.a]], c.type, c.amount, c.guaranteed
       FROM unnest(${c.allocation}, ${c.resource}, ${c.type}, ${c.amount}, ${c.guaranteed}) AS c(a, r, type, amount, guaranteed))`;
}

/** Writes new requests, their allocations and claims (inside the caller's transaction) in one statement. */
export async function insertPlacements(m: EntityManager, requests: AllocationRequestEntity[], allocations: PlannedAllocation[]): Promise<void> {
  const p = new Params();
  const ids = new StatementIds(p);
  const sql = `WITH ${placementRows(p, ids, requests, allocations)} SELECT 1`;
  ids.finish();
  await m.query(sql, p.values);
}

/** Marks the error by which a claim statement says which hosts it lost. */
const LOST_RACE_MARK = 'rsp-lost-race:';

/**
 * The query that judges a commit's usage (its hosts and groups by position in `ids`; types and what
 * each group will hold as arrays): the hosts where a group would be over its share (the host's owner
 * group needs none) and, with `hostsUp`, those no longer UP (the usage names every host claimed
 * on). A host or share is looked up per usage row (LATERAL … LIMIT 1: by its key, so at most one
 * row), never by a join the planner may choose to make by reading and hashing the whole `share`
 * table: it did so for every statement planned with its parameters' values (the transaction path's,
 * and a named statement's first five on each connection), 8-9 % of PostgreSQL's CPU in
 * bench:placement's batches (perf), and more with every share a site adds.
 */
function usageLost(p: Params, ids: Pick<StatementIds, 'groups' | 'hosts'>, usage: UsageAfter[], hostsUp: boolean): string {
  const host = p.add(arrayLiteral(usage.map((u) => ids.hosts.of(u.hostId))), 'int[]');
  const group = p.add(arrayLiteral(usage.map((u) => ids.groups.of(u.groupId))), 'int[]');
  const type = p.add(arrayLiteral(usage.map((u) => u.type)), 'varchar[]');
  const used = p.add(arrayLiteral(usage.map((u) => u.used)), 'float8[]');
  return `SELECT v."hostId" FROM (SELECT (${ids.hosts.name})[u.h] AS "hostId", (${ids.groups.name})[u.g] AS "groupId", u.type, u.used FROM unnest(${host}, ${group}, ${type}, ${used}) AS u(h, g, type, used)) AS v
         CROSS JOIN LATERAL (SELECT h.state, h."ownerGroupId" FROM host h WHERE h.id = v."hostId" LIMIT 1) h
         LEFT JOIN LATERAL (SELECT sh.id, sh.quotas FROM share sh WHERE sh."hostId" = v."hostId" AND sh."groupId" = v."groupId" LIMIT 1) sh ON true
         WHERE ${hostsUp ? `h.state <> 'UP' OR ` : ''}(h."ownerGroupId" <> v."groupId" AND (sh.id IS NULL OR (sh.quotas ? v.type AND v.used > (sh.quotas ->> v.type)::float8 + 1e-6)))`;
}

/**
 * After `applyDeltas`, inside the caller's transaction: writes the new requests, allocations and
 * claims and checks, in the same statement, that no group will be over its share and that every
 * host claimed on is still UP (`usage` names each host, group and type claimed). When a check
 * fails the statement fails on purpose (`rsp_lost_race`) and writes nothing; the error becomes
 * LostRaceError naming the hosts. One round trip where the checks and the writes took three.
 * The statement's parameters are built now, the statement run by the function returned (so a
 * group builds them before its turn on the resources, not while the database waits for it).
 */
export function insertPlacementsChecked(requests: AllocationRequestEntity[], allocations: PlannedAllocation[], usage: UsageAfter[]): (m: EntityManager) => Promise<void> {
  const p = new Params();
  const ids = new StatementIds(p);
  const mark = p.add(LOST_RACE_MARK, 'text');
  const lost = usageLost(p, ids, usage, true);
  const sql = `WITH ${placementRows(p, ids, requests, allocations)},
       lost AS (SELECT DISTINCT "hostId" FROM (${lost}) AS l)
       SELECT CASE WHEN count(*) > 0 THEN rsp_lost_race(${mark} || string_agg("hostId"::text, ',')) END AS lost FROM lost`;
  ids.finish();
  return async (m) => {
    try {
      await m.query(sql, p.values);
    } catch (e) {
      throw lostRaceOf(e, usage.map((u) => u.hostId));
    }
  };
}

/**
 * A whole group commit in one statement, so in one round trip and one implicit transaction: locks
 * the resources in id order, applies the deltas (judged on the rows as updated, as in
 * `applyDeltas`), writes the requests, allocations and claims, and checks the shares (as in
 * `checkLimits`) and that every host is still UP (as in `checkHostsUp`; the usage names every
 * host claimed on). When any resource moved, a share no longer covers the usage or a host is no
 * longer UP, the statement
 * fails on purpose — `rsp_lost_race` (a migration's plpgsql function) raises an error whose
 * message names the hosts — and so writes nothing; that error becomes LostRaceError naming them.
 * It runs as a named statement (`namedQuery`), planned once per connection, once `after` has
 * settled (the groups before it on the same resources): its parameters are built before that, so
 * the database does not wait for them between two groups.
 */
export async function claimAtOnce(dataSource: DataSource, deltas: ResourceDelta[], requests: AllocationRequestEntity[], allocations: PlannedAllocation[], usage: UsageAfter[], after?: Promise<unknown>): Promise<void> {
  const sorted = [...deltas].sort((a, b) => (a.resource.id < b.resource.id ? -1 : 1));
  const p = new Params();
  const ids = new StatementIds(p);
  // The resources in id order, first: the deltas' arrays and the claims name them alike.
  for (const d of sorted) ids.resources.of(d.resource.id);
  const amount = p.add(arrayLiteral(sorted.map((d) => d.amount)), 'float8[]');
  const gen = p.add(arrayLiteral(sorted.map((d) => d.expectedGeneration)), 'int[]');
  const mark = p.add(LOST_RACE_MARK, 'text');
  const lost = usageLost(p, ids, usage, true);
  const rows = placementRows(p, ids, requests, allocations);
  const resources = ids.resources.name;
  const sql = `WITH locked AS MATERIALIZED (SELECT id FROM resource WHERE id = ANY(${resources}) ORDER BY id FOR UPDATE),
       claimed AS (UPDATE resource AS r SET used = r.used + v.amount, generation = r.generation + 1
         FROM unnest(${resources}, ${amount}, ${gen}) AS v(id, amount, gen)
         WHERE (SELECT count(*) FROM locked) >= 0 AND r.id = v.id
         RETURNING r."hostId", (r.generation = v.gen + 1 AND r.used <= (r.total - r.reserved) * r."allocationRatio" + 1e-6) AS ok),
       ${rows},
       lost AS (SELECT "hostId" FROM claimed WHERE NOT ok UNION ${lost})
       SELECT CASE WHEN count(*) > 0 THEN rsp_lost_race(${mark} || string_agg("hostId"::text, ',')) END AS lost FROM lost`;
  ids.finish();
  await after;
  try {
    await namedQuery(dataSource, 'rsp_claim_at_once', sql, p.values);
  } catch (e) {
    throw lostRaceOf(e, deltas.map((d) => d.hostId));
  }
}

/**
 * `endAllocations` as `WITH` definitions another statement carries (an environment's destroy,
 * written with its operation's end): `ended` ends the ACTIVE allocations matching `which` (SQL over
 * the allocation's columns) with `status` at `at` (SQL parameters), returning their id and host;
 * `freed` ends their claims; the resources are locked in id order (as every claim locks them) and
 * given back exactly what was claimed.
 */
export function endAllocationsCarried(which: string, status: string, at: string): string[] {
  return [
    `ended AS (UPDATE allocation SET status = ${status}, "endedAt" = ${at} WHERE status = 'ACTIVE' AND ${which} RETURNING id, "hostId")`,
    `freed AS (UPDATE allocation_claim AS c SET active = false FROM ended WHERE c."allocationId" = ended.id AND c.active RETURNING c."resourceId", c.amount)`,
    `locked AS MATERIALIZED (SELECT id FROM resource WHERE id IN (SELECT "resourceId" FROM freed) ORDER BY id FOR UPDATE)`,
    `given AS (UPDATE resource AS r SET used = r.used - f.amount, generation = r.generation + 1 FROM (SELECT "resourceId", SUM(amount)::float8 AS amount FROM freed GROUP BY 1) f WHERE (SELECT count(*) FROM locked) >= 0 AND r.id = f."resourceId")`,
  ];
}

/** Allocations to end: those named, and the implicit ones of an environment (all, or those not on `keepHostId`) or of replicas. */
export interface HeldAllocations {
  ids?: string[];
  environmentId?: string;
  keepHostId?: string;
  replicaIds?: string[];
}

/**
 * Ends active allocations (RELEASED or EXPIRED) and gives their claims back to the resources,
 * exactly the amounts claimed, in one statement. Returns the ids it ended and
 * the hosts it touched; allocations already ended are left alone.
 */
export async function endAllocations(m: EntityManager, which: string[] | HeldAllocations, status: AllocationStatus.RELEASED | AllocationStatus.EXPIRED, at: Date): Promise<{ ended: string[]; hostIds: string[] }> {
  const held: HeldAllocations = Array.isArray(which) ? { ids: which } : which;
  const ids = held.ids ?? [];
  const implicit = !!held.environmentId || !!held.replicaIds?.length;
  if (!ids.length && !implicit) return { ended: [], hostIds: [] };
  const which$ = implicit ? `(id = ANY($1::uuid[]) OR ("environmentId" = $4::uuid AND ($5::uuid IS NULL OR "hostId" <> $5::uuid)) OR "replicaId" = ANY($6::uuid[]))` : 'id = ANY($1::uuid[])';
  // One statement ends the allocations and their claims and gives the amounts back, the
  // resources locked in id order first, as every claim locks them (`applyDeltas`,
  // `claimAtOnce`): updated in the join's order, a release and a claim on the same host deadlocked.
  const [row]: Array<{ ended: Array<[string, string]> }> = await m.query(
    `WITH ${endAllocationsCarried(which$, '$2', '$3').join(',\n')}
     SELECT coalesce(json_agg(json_build_array(id, "hostId")), '[]'::json) AS ended FROM ended`,
    implicit ? [ids, status, at, held.environmentId ?? null, held.keepHostId ?? null, held.replicaIds ?? []] : [ids, status, at],
  );
  const ended = (row?.ended ?? []).map(([id, hostId]) => ({ id, hostId }));
  return { ended: ended.map((e) => e.id), hostIds: [...new Set(ended.map((e) => e.hostId))] };
}
