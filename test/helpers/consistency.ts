import type { Client } from 'pg';
import { TRANSIENT_STATUSES } from '../../gateway/environments/state-machine';

/** Runs SQL on a gateway's database and resolves with the rows: TypeORM's `DataSource.query`, or `pgRows(client)`. */
export type SqlRows = (sql: string, params?: unknown[]) => Promise<Array<Record<string, any>>>;

/** One consistency check and how many records break it (0: holds). */
export interface ConsistencyCount {
  check: string;
  count: number;
}

/** A `pg` client as a `SqlRows`. */
export function pgRows(client: Client): SqlRows {
  return async (sql, params) => (await client.query(sql, params)).rows;
}

/** Counts the rows of a `SELECT count(*)::int AS n …`. */
async function count(sql: SqlRows, query: string, params?: unknown[]): Promise<number> {
  const [row] = await sql(query, params);
  return Number(row?.n ?? 0);
}

/**
 * The capacity accounting of every host: nothing over capacity × ratio, guaranteed claims within
 * the capacity itself, each resource's `used` equal to what its active claims hold, shares within
 * their quotas, and nothing still held by an allocation that ended or by a destroyed environment.
 */
export async function capacityChecks(sql: SqlRows): Promise<ConsistencyCount[]> {
  return [
    { check: 'resources over capacity × ratio', count: await count(sql, `SELECT count(*)::int AS n FROM resource WHERE used > (total - reserved) * "allocationRatio" + 1e-6`) },
    {
      check: 'guaranteed claims over capacity',
      count: await count(sql, `SELECT count(*)::int AS n FROM resource r JOIN (SELECT "resourceId", SUM(amount) AS s FROM allocation_claim WHERE active AND guaranteed GROUP BY 1) g ON g."resourceId" = r.id WHERE g.s > r.total - r.reserved + 1e-6`),
    },
    {
      check: 'used ≠ sum of active claims',
      count: await count(sql, `SELECT count(*)::int AS n FROM resource r LEFT JOIN (SELECT "resourceId", SUM(amount) AS s FROM allocation_claim WHERE active GROUP BY 1) c ON c."resourceId" = r.id WHERE abs(r.used - coalesce(c.s, 0)) > 1e-3`),
    },
    {
      check: 'shares over quota',
      count: await count(
        sql,
        `SELECT count(*)::int AS n FROM (SELECT "hostId", "groupId", type, SUM(amount) AS s FROM allocation_claim WHERE active GROUP BY 1, 2, 3) u
         JOIN share sh ON sh."hostId" = u."hostId" AND sh."groupId" = u."groupId" WHERE u.s > (sh.quotas ->> u.type)::float8 + 1e-6`,
      ),
    },
    { check: 'active claims of ended allocations', count: await count(sql, `SELECT count(*)::int AS n FROM allocation_claim c JOIN allocation a ON a.id = c."allocationId" WHERE c.active AND a.status <> 'ACTIVE'`) },
    {
      check: 'allocations still held by destroyed environments',
      count: await count(sql, `SELECT count(*)::int AS n FROM allocation a JOIN environment e ON e.id = a."environmentId" OR e."allocationId" = a.id WHERE a.status = 'ACTIVE' AND e.status = 'DESTROYED'`),
    },
  ];
}

/** Work in flight: operations PENDING or RUNNING, environments in a transient status (CREATING, STOPPING…). */
export async function lifecycleChecks(sql: SqlRows): Promise<ConsistencyCount[]> {
  return [
    { check: 'operations RUNNING', count: await count(sql, `SELECT count(*)::int AS n FROM operation WHERE state = 'RUNNING'`) },
    { check: 'operations PENDING', count: await count(sql, `SELECT count(*)::int AS n FROM operation WHERE state = 'PENDING'`) },
    { check: 'environments in a transient status', count: await count(sql, `SELECT count(*)::int AS n FROM environment WHERE status = ANY($1)`, [[...TRANSIENT_STATUSES]]) },
  ];
}

/** The checks that fail (count above 0). */
export function broken(counts: ConsistencyCount[]): ConsistencyCount[] {
  return counts.filter((c) => c.count > 0);
}
