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
  const over: Array<{ hostId: string }> = await m.query(`SELECT DISTINCT "hostId" FROM (${usageLost(1, false)}) AS l`, usageParams(usage));
  if (over.length) throw new LostRaceError(over.map((r) => r.hostId));
}

/**
 * The INSERT clauses (as CTEs) of new requests, their allocations and claims, each table's rows as
 * one array literal per column (the requests' distinct specs as one JSON array), parameters numbered from `$first`.
 */
function placementRows(requests: AllocationRequestEntity[], allocations: PlannedAllocation[], first: number): { ctes: string; params: unknown[] } {
  // A claim names its allocation by position (1-based) in the allocations' arrays, whose id, host,
  // group and guarantee it takes there: ids are sent (and parsed) once, not again per claim.
  const claims = allocations.flatMap((a, i) => a.claims.map((c) => ({ at: i + 1, c })));
  const $ = (i: number) => `$${first + i}`;
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
  const ctes = `new_requests AS (INSERT INTO allocation_request (id, "groupId", "requestedBy", mode, guarantee, spec, "leaseSeconds", status, reason, "decidedBy", "decidedAt")
       SELECT v.id, v."groupId", v."requestedBy", v.mode, v.guarantee, (ARRAY(SELECT e FROM jsonb_array_elements(${$(5)}::jsonb) WITH ORDINALITY AS s(e, o) ORDER BY o))[v.spec], v."leaseSeconds", v.status, v.reason, v."decidedBy", v."decidedAt"
       FROM unnest(${$(0)}::uuid[], ${$(1)}::uuid[], ${$(2)}::varchar[], ${$(3)}::varchar[], ${$(4)}::varchar[], ${$(26)}::int[], ${$(6)}::int[], ${$(7)}::varchar[], ${$(8)}::text[], ${$(9)}::varchar[], ${$(10)}::timestamptz[])
         AS v(id, "groupId", "requestedBy", mode, guarantee, spec, "leaseSeconds", status, reason, "decidedBy", "decidedAt")),
     new_allocations AS (INSERT INTO allocation (id, "requestId", "groupId", "hostId", technology, guarantee, status, score, "expiresAt", "environmentId", "replicaId")
       SELECT * FROM unnest(${$(11)}::uuid[], ${$(12)}::uuid[], ${$(13)}::uuid[], ${$(14)}::uuid[], ${$(15)}::varchar[], ${$(16)}::varchar[], ${$(17)}::varchar[], ${$(18)}::float8[], ${$(19)}::timestamptz[], ${$(24)}::uuid[], ${$(25)}::uuid[])),
     new_claims AS (INSERT INTO allocation_claim ("allocationId", "resourceId", "hostId", "groupId", type, amount, guaranteed)
       SELECT (${$(11)}::uuid[])[c.a], c."resourceId", (${$(14)}::uuid[])[c.a], (${$(13)}::uuid[])[c.a], c.type, c.amount, (${$(16)}::varchar[])[c.a] = '${AllocationGuarantee.GUARANTEED}'
       FROM unnest(${$(20)}::int[], ${$(21)}::uuid[], ${$(22)}::varchar[], ${$(23)}::float8[]) AS c(a, "resourceId", type, amount))`;
  const params = [
    arrayLiteral(requests.map((r) => r.id)),
    arrayLiteral(requests.map((r) => r.groupId)),
    arrayLiteral(requests.map((r) => r.requestedBy)),
    arrayLiteral(requests.map((r) => r.mode)),
    arrayLiteral(requests.map((r) => r.guarantee)),
    `[${specs.join(',')}]`,
    arrayLiteral(requests.map((r) => r.leaseSeconds)),
    arrayLiteral(requests.map((r) => r.status)),
    arrayLiteral(requests.map((r) => r.reason)),
    arrayLiteral(requests.map((r) => r.decidedBy)),
    arrayLiteral(requests.map((r) => r.decidedAt)),
    arrayLiteral(allocations.map((a) => a.id)),
    arrayLiteral(allocations.map((a) => a.requestId)),
    arrayLiteral(allocations.map((a) => a.groupId)),
    arrayLiteral(allocations.map((a) => a.hostId)),
    arrayLiteral(allocations.map((a) => a.technology)),
    arrayLiteral(allocations.map((a) => a.guarantee)),
    arrayLiteral(allocations.map(() => AllocationStatus.ACTIVE)),
    arrayLiteral(allocations.map((a) => a.score)),
    arrayLiteral(allocations.map((a) => a.expiresAt)),
    arrayLiteral(claims.map(({ at }) => at)),
    arrayLiteral(claims.map(({ c }) => c.resourceId)),
    arrayLiteral(claims.map(({ c }) => c.type)),
    arrayLiteral(claims.map(({ c }) => c.amount)),
    arrayLiteral(allocations.map((a) => a.environmentId ?? null)),
    arrayLiteral(allocations.map((a) => a.replicaId ?? null)),
    arrayLiteral(specOf),
  ];
  return { ctes, params };
}

/** Writes new requests, their allocations and claims (inside the caller's transaction) in one statement. */
export async function insertPlacements(m: EntityManager, requests: AllocationRequestEntity[], allocations: PlannedAllocation[]): Promise<void> {
  const { ctes, params } = placementRows(requests, allocations, 1);
  await m.query(`WITH ${ctes} SELECT 1`, params);
}

/** Marks the error by which a claim statement says which hosts it lost. */
const LOST_RACE_MARK = 'rsp-lost-race:';

/**
 * The query that judges a commit's usage (parameters `$first`…`$first+3`: hosts, groups, types,
 * what each group will hold): the hosts where a group would be over its share (the host's owner
 * group needs none) and, with `hostsUp`, those no longer UP (the usage names every host claimed
 * on). A host or share is looked up per usage row (LATERAL … LIMIT 1: by its key, so at most one
 * row), never by a join the planner may choose to make by reading and hashing the whole `share`
 * table: it did so for every statement planned with its parameters' values (the transaction path's,
 * and a named statement's first five on each connection), 8-9 % of PostgreSQL's CPU in
 * bench:placement's batches (perf), and more with every share a site adds.
 */
function usageLost(first: number, hostsUp: boolean): string {
  const $ = (i: number) => `$${first + i}`;
  return `SELECT v."hostId" FROM unnest(${$(0)}::uuid[], ${$(1)}::uuid[], ${$(2)}::varchar[], ${$(3)}::float8[]) AS v("hostId", "groupId", type, used)
         CROSS JOIN LATERAL (SELECT h.state, h."ownerGroupId" FROM host h WHERE h.id = v."hostId" LIMIT 1) h
         LEFT JOIN LATERAL (SELECT sh.id, sh.quotas FROM share sh WHERE sh."hostId" = v."hostId" AND sh."groupId" = v."groupId" LIMIT 1) sh ON true
         WHERE ${hostsUp ? `h.state <> 'UP' OR ` : ''}(h."ownerGroupId" <> v."groupId" AND (sh.id IS NULL OR (sh.quotas ? v.type AND v.used > (sh.quotas ->> v.type)::float8 + 1e-6)))`;
}

/** The parameters of `usageLost`. */
function usageParams(usage: UsageAfter[]): string[] {
  return [arrayLiteral(usage.map((u) => u.hostId)), arrayLiteral(usage.map((u) => u.groupId)), arrayLiteral(usage.map((u) => u.type)), arrayLiteral(usage.map((u) => u.used))];
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
  const rows = placementRows(requests, allocations, 6);
  const params = [...usageParams(usage), LOST_RACE_MARK, ...rows.params];
  return async (m) => {
    try {
      await m.query(
        `WITH ${rows.ctes},
       lost AS (SELECT DISTINCT "hostId" FROM (${usageLost(1, true)}) AS l)
       SELECT CASE WHEN count(*) > 0 THEN rsp_lost_race($5::text || string_agg("hostId"::text, ',')) END AS lost FROM lost`,
        params,
      );
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
  const rows = placementRows(requests, allocations, 9);
  const params = [
    arrayLiteral(sorted.map((d) => d.resource.id)),
    arrayLiteral(sorted.map((d) => d.amount)),
    arrayLiteral(sorted.map((d) => d.expectedGeneration)),
    ...usageParams(usage),
    LOST_RACE_MARK,
    ...rows.params,
  ];
  await after;
  try {
    await namedQuery(
      dataSource,
      'rsp_claim_at_once',
      `WITH locked AS MATERIALIZED (SELECT id FROM resource WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE),
       claimed AS (UPDATE resource AS r SET used = r.used + v.amount, generation = r.generation + 1
         FROM unnest($1::uuid[], $2::float8[], $3::int[]) AS v(id, amount, gen)
         WHERE (SELECT count(*) FROM locked) >= 0 AND r.id = v.id
         RETURNING r."hostId", (r.generation = v.gen + 1 AND r.used <= (r.total - r.reserved) * r."allocationRatio" + 1e-6) AS ok),
       ${rows.ctes},
       lost AS (SELECT "hostId" FROM claimed WHERE NOT ok UNION ${usageLost(4, true)})
       SELECT CASE WHEN count(*) > 0 THEN rsp_lost_race($8::text || string_agg("hostId"::text, ',')) END AS lost FROM lost`,
      params,
    );
  } catch (e) {
    throw lostRaceOf(e, deltas.map((d) => d.hostId));
  }
}

/** Allocations to end: those named, and the implicit ones of an environment (all, or those not on `keepHostId`) or of replicas. */
export interface HeldAllocations {
  ids?: string[];
  environmentId?: string;
  keepHostId?: string;
  replicaIds?: string[];
}

/**
 * Ends active allocations (RELEASED or EXPIRED), found and ended in one statement, and gives
 * their claims back to the resources, exactly the amounts claimed. Returns the ids it ended and
 * the hosts it touched; allocations already ended are left alone.
 */
export async function endAllocations(m: EntityManager, which: string[] | HeldAllocations, status: AllocationStatus.RELEASED | AllocationStatus.EXPIRED, at: Date): Promise<{ ended: string[]; hostIds: string[] }> {
  const held: HeldAllocations = Array.isArray(which) ? { ids: which } : which;
  const ids = held.ids ?? [];
  const implicit = !!held.environmentId || !!held.replicaIds?.length;
  if (!ids.length && !implicit) return { ended: [], hostIds: [] };
  const which$ = implicit ? `(id = ANY($1::uuid[]) OR ("environmentId" = $4::uuid AND ($5::uuid IS NULL OR "hostId" <> $5::uuid)) OR "replicaId" = ANY($6::uuid[]))` : 'id = ANY($1::uuid[])';
  // One statement ends the allocations and their claims, and answers what each resource gets back.
  const [row]: Array<{ ended: Array<[string, string]>; freed: Array<[string, number]> }> = await m.query(
    `WITH ended AS (UPDATE allocation SET status = $2, "endedAt" = $3 WHERE status = 'ACTIVE' AND ${which$} RETURNING id, "hostId"),
          freed AS (UPDATE allocation_claim AS c SET active = false FROM ended WHERE c."allocationId" = ended.id AND c.active RETURNING c."resourceId", c.amount)
     SELECT (SELECT coalesce(json_agg(json_build_array(id, "hostId")), '[]'::json) FROM ended) AS ended,
            (SELECT coalesce(json_agg(json_build_array("resourceId", amount) ORDER BY "resourceId"), '[]'::json) FROM (SELECT "resourceId", SUM(amount)::float8 AS amount FROM freed GROUP BY 1) f) AS freed`,
    implicit ? [ids, status, at, held.environmentId ?? null, held.keepHostId ?? null, held.replicaIds ?? []] : [ids, status, at],
  );
  const ended = (row?.ended ?? []).map(([id, hostId]) => ({ id, hostId }));
  const freed = (row?.freed ?? []).map(([resourceId, amount]) => ({ resourceId, amount }));
  if (!ended.length) return { ended: [], hostIds: [] };
  if (freed.length) {
    // The rows are locked in id order first, as every claim locks them (`applyDeltas`,
    // `claimImplicit`): updated in the join's order, a release and a claim on the same host
    // deadlocked.
    await m.query(
      `WITH locked AS MATERIALIZED (SELECT id FROM resource WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE)
       UPDATE resource AS r SET used = r.used - v.amount, generation = r.generation + 1
       FROM unnest($1::uuid[], $2::float8[]) AS v(id, amount)
       WHERE (SELECT count(*) FROM locked) >= 0 AND r.id = v.id`,
      [freed.map((f) => f.resourceId), freed.map((f) => Number(f.amount))],
    );
  }
  return { ended: ended.map((e) => e.id), hostIds: [...new Set(ended.map((e) => e.hostId))] };
}
