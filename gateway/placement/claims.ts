import type { EntityManager } from 'typeorm';
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

/** Parameters per statement stay well under PostgreSQL's 65,535. */
const MAX_PARAMS = 30_000;

/** Inserts rows into `table` in as few statements as the parameter limit allows. */
export async function insertRows(m: EntityManager, table: string, columns: string[], rows: unknown[][]): Promise<void> {
  const perStatement = Math.max(1, Math.floor(MAX_PARAMS / columns.length));
  const cols = columns.map((c) => `"${c}"`).join(', ');
  for (let start = 0; start < rows.length; start += perStatement) {
    const chunk = rows.slice(start, start + perStatement);
    const params: unknown[] = [];
    const tuples = chunk.map((row) => `(${row.map((v) => (params.push(v), `$${params.length}`)).join(', ')})`);
    await m.query(`INSERT INTO "${table}" (${cols}) VALUES ${tuples.join(', ')}`, params);
  }
}

/**
 * Adds the deltas to the resources' `used`, each only if its generation is still the one the
 * planner read and the overbooked capacity holds, bumping the generation. Throws LostRaceError
 * naming the hosts whose resources moved (the caller's transaction then rolls back).
 */
export async function applyDeltas(m: EntityManager, deltas: ResourceDelta[]): Promise<Map<string, number>> {
  if (!deltas.length) return new Map();
  const sorted = [...deltas].sort((a, b) => (a.resource.id < b.resource.id ? -1 : 1));
  const params: unknown[] = [];
  const values = sorted.map((d) => {
    params.push(d.resource.id, d.amount, d.expectedGeneration);
    return `($${params.length - 2}::uuid, $${params.length - 1}::float8, $${params.length}::int)`;
  });
  let rows: Array<{ id: string; generation: number }>;
  try {
    // Lock in id order first, so two claims on overlapping resources queue instead of deadlocking.
    await m.query(`SELECT 1 FROM resource WHERE id = ANY($1) ORDER BY id FOR UPDATE`, [sorted.map((d) => d.resource.id)]);
    rows = rowsOf(await m.query(
      `UPDATE resource AS r SET used = r.used + v.amount, generation = r.generation + 1 FROM (VALUES ${values.join(', ')}) AS v(id, amount, gen)
       WHERE r.id = v.id AND r.generation = v.gen AND r.used + v.amount <= (r.total - r.reserved) * r."allocationRatio" + 1e-6 RETURNING r.id, r.generation`,
      params,
    ));
  } catch (e) {
    const code = (e as { code?: string; driverError?: { code?: string } }).driverError?.code ?? (e as { code?: string }).code;
    if (code === '40P01' || code === '40001') throw new LostRaceError([...new Set(deltas.map((d) => d.hostId))]);
    throw e;
  }
  const won = new Map(rows.map((r) => [r.id, Number(r.generation)]));
  if (won.size < deltas.length) throw new LostRaceError([...new Set(deltas.filter((d) => !won.has(d.resource.id)).map((d) => d.hostId))]);
  return won;
}

/**
 * Checks, after the claims are written and while this transaction holds the claimed resources'
 * rows, that no group is over its share on a host and no resource holds more guaranteed claims
 * than its capacity without overbooking. Anyone else claiming those resources waits for this
 * transaction, so the check sees every claim that can coexist with these. Throws LostRaceError
 * naming the hosts where the picture the planner used was out of date.
 */
export async function checkLimits(m: EntityManager, resourceIds: string[], groupIds: string[], guaranteed: boolean): Promise<void> {
  if (!resourceIds.length) return;
  const overQuota: Array<{ hostId: string }> = await m.query(
    `SELECT DISTINCT u."hostId" FROM (SELECT "hostId", "groupId", type, SUM(amount) AS s FROM allocation_claim WHERE active AND "resourceId" = ANY($1) AND "groupId" = ANY($2) GROUP BY 1, 2, 3) u
     JOIN host h ON h.id = u."hostId" JOIN share sh ON sh."hostId" = u."hostId" AND sh."groupId" = u."groupId"
     WHERE h."ownerGroupId" <> u."groupId" AND sh.quotas ? u.type AND u.s > (sh.quotas ->> u.type)::float8 + 1e-6`,
    [resourceIds, groupIds],
  );
  const overGuaranteed: Array<{ hostId: string }> = guaranteed
    ? await m.query(
        `SELECT r."hostId" FROM resource r JOIN (SELECT "resourceId", SUM(amount) AS g FROM allocation_claim WHERE active AND guaranteed AND "resourceId" = ANY($1) GROUP BY 1) x ON x."resourceId" = r.id
         WHERE x.g > r.total - r.reserved + 1e-6`,
        [resourceIds],
      )
    : [];
  const hosts = [...new Set([...overQuota, ...overGuaranteed].map((r) => r.hostId))];
  if (hosts.length) throw new LostRaceError(hosts);
}

/** Writes new requests, their allocations and claims (inside the caller's transaction). */
export async function insertPlacements(m: EntityManager, requests: AllocationRequestEntity[], allocations: PlannedAllocation[]): Promise<void> {
  await insertRows(
    m,
    'allocation_request',
    ['id', 'groupId', 'requestedBy', 'mode', 'guarantee', 'spec', 'leaseSeconds', 'status', 'reason', 'decidedBy', 'decidedAt'],
    requests.map((r) => [r.id, r.groupId, r.requestedBy, r.mode, r.guarantee, JSON.stringify(r.spec), r.leaseSeconds, r.status, r.reason, r.decidedBy, r.decidedAt]),
  );
  await insertRows(
    m,
    'allocation',
    ['id', 'requestId', 'groupId', 'hostId', 'technology', 'guarantee', 'status', 'score', 'expiresAt'],
    allocations.map((a) => [a.id, a.requestId, a.groupId, a.hostId, a.technology, a.guarantee, AllocationStatus.ACTIVE, a.score, a.expiresAt]),
  );
  await insertRows(
    m,
    'allocation_claim',
    ['allocationId', 'resourceId', 'hostId', 'groupId', 'type', 'amount', 'guaranteed'],
    allocations.flatMap((a) => a.claims.map((c) => [a.id, c.resourceId, a.hostId, a.groupId, c.type, c.amount, a.guarantee === AllocationGuarantee.GUARANTEED])),
  );
}

/**
 * Ends active allocations (RELEASED or EXPIRED) and gives their claims back to the resources,
 * exactly the amounts claimed. Returns the ids it ended and the hosts it touched; allocations
 * already ended are left alone.
 */
export async function endAllocations(m: EntityManager, ids: string[], status: AllocationStatus.RELEASED | AllocationStatus.EXPIRED, at: Date): Promise<{ ended: string[]; hostIds: string[] }> {
  if (!ids.length) return { ended: [], hostIds: [] };
  const ended: Array<{ id: string; hostId: string }> = await m.query(
    `UPDATE allocation SET status = $2, "endedAt" = $3 WHERE id = ANY($1) AND status = 'ACTIVE' RETURNING id, "hostId"`,
    [ids, status, at],
  ).then(rowsOf<{ id: string; hostId: string }>);
  if (!ended.length) return { ended: [], hostIds: [] };
  const freed: Array<{ resourceId: string; amount: number }> = await m.query(
    `WITH c AS (UPDATE allocation_claim SET active = false WHERE "allocationId" = ANY($1) AND active RETURNING "resourceId", amount)
     SELECT "resourceId", SUM(amount)::float8 AS amount FROM c GROUP BY 1 ORDER BY 1`,
    [ended.map((e) => e.id)],
  );
  if (freed.length) {
    const params: unknown[] = [];
    const values = freed.map((f) => (params.push(f.resourceId, Number(f.amount)), `($${params.length - 1}::uuid, $${params.length}::float8)`));
    await m.query(`UPDATE resource AS r SET used = r.used - v.amount, generation = r.generation + 1 FROM (VALUES ${values.join(', ')}) AS v(id, amount) WHERE r.id = v.id`, params);
  }
  return { ended: ended.map((e) => e.id), hostIds: [...new Set(ended.map((e) => e.hostId))] };
}
