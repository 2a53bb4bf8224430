import type { EntityManager } from 'typeorm';
import { ForbiddenError } from '../errors';
import { UsagePolicyMode } from '../persistence/entities';
import { monthOf } from './usage-accountant';

/** `details.reason` of the FORBIDDEN error refusing new work over a usage policy. */
export const USAGE_POLICY_EXCEEDED = 'USAGE_POLICY_EXCEEDED';

/** A usage policy a group is over in a site this month, and by what. */
export interface UsageBreach {
  policyId: string;
  /** The policy's name. */
  policy: string;
  siteId: string;
  siteName: string;
  groupId: string;
  mode: UsagePolicyMode;
  /** The first limit over: `cpuHoursPerMonth`, `bandwidthBytesPerMonth` or `diskBytes`. */
  metric: 'cpuHoursPerMonth' | 'bandwidthBytesPerMonth' | 'diskBytes';
  used: number;
  limit: number;
}

/** What to look at: one month (default this one), some sites, some groups, some modes (default all). */
export interface BreachFilter {
  month?: string;
  siteIds?: string[];
  groupIds?: string[];
  mode?: UsagePolicyMode;
}

const WHAT: Record<UsageBreach['metric'], string> = { cpuHoursPerMonth: 'CPU hours', bandwidthBytesPerMonth: 'network bytes', diskBytes: 'bytes of disk' };

/** A breach as the statement answers it (numbers may come as strings, or as JSON numbers). */
type BreachRow = { policyId: string; policy: string; siteId: string; siteName: string; groupId: string; mode: UsagePolicyMode; cpuHours: number; net: number; disk: number; maxCpu: number | null; maxNet: number | null; maxDisk: number | null };

/**
 * The statement of `usageBreaches`, its four filters given as SQL expressions (the month, a
 * `uuid[]` of sites or NULL, a `uuid[]` of groups or NULL, a mode or NULL): parameters of its
 * own, or columns of an outer statement it is a subquery of (`usageBreachesSubquery`).
 */
function breachesText(month: string, sites: string, groups: string, mode: string): string {
  return `SELECT p.id AS "policyId", p.name AS policy, p."siteId", s.name AS "siteName", u."groupId", p.mode,
            u.cpu / 3600 AS "cpuHours", u.net, u.disk, p."cpuHoursPerMonth" AS "maxCpu", p."bandwidthBytesPerMonth" AS "maxNet", p."diskBytes" AS "maxDisk"
       FROM usage_policy p
       JOIN site s ON s.id = p."siteId"
       JOIN (SELECT r."groupId", h."siteId", sum(r."cpuSeconds") AS cpu, sum(r."networkBytes") AS net, sum(r."diskBytes") AS disk
               FROM usage_record r JOIN host h ON h.id = r."hostId"
              WHERE r.month = ${month} AND (${sites} IS NULL OR h."siteId" = ANY(${sites})) AND (${groups} IS NULL OR r."groupId" = ANY(${groups}))
              GROUP BY 1, 2) u ON u."siteId" = p."siteId"
      WHERE (${mode} IS NULL OR p.mode = ${mode})
        AND (u.cpu / 3600 > p."cpuHoursPerMonth" OR u.net > p."bandwidthBytesPerMonth" OR u.disk > p."diskBytes")
      ORDER BY p.name, p.id, u."groupId"`;
}

/**
 * The usage policies groups are over, read from the usage the accountant recorded (`usage_record`,
 * summed over each site's hosts for the month, as `UsageAccountant.usage` does): one row per
 * policy and group, naming the first of its limits that is exceeded.
 */
export async function usageBreaches(m: Pick<EntityManager, 'query'>, filter: BreachFilter = {}): Promise<UsageBreach[]> {
  const rows: BreachRow[] = await m.query(breachesText('$1', '$2::uuid[]', '$3::uuid[]', '$4::varchar'), [filter.month ?? monthOf(Date.now()), filter.siteIds ?? null, filter.groupIds ?? null, filter.mode ?? null]);
  return breachesOf(rows);
}

/**
 * `usageBreaches` as a subquery of another statement, answering them as one JSON array (in
 * `usageBreaches`' order; read it with `breachesOf`). Its filters are SQL expressions of that
 * statement (`breachesText`'s: its parameters, or columns such as `ARRAY[h."siteId"]`).
 */
export function usageBreachesSubquery(month: string, sites: string, groups: string, mode: string): string {
  return `(SELECT coalesce(json_agg(b ORDER BY b.policy, b."policyId", b."groupId"), '[]'::json) FROM (${breachesText(month, sites, groups, mode)}) b)`;
}

/** The breaches of rows the statement answered (as rows, or as the JSON array of `usageBreachesSubquery`). */
export function breachesOf(rows: BreachRow[] | string | null): UsageBreach[] {
  return (typeof rows === 'string' ? (JSON.parse(rows) as BreachRow[]) : (rows ?? [])).map((r) => {
    const checks: Array<[UsageBreach['metric'], number | null, number]> = [
      ['cpuHoursPerMonth', r.maxCpu, Number(r.cpuHours)],
      ['bandwidthBytesPerMonth', r.maxNet, Number(r.net)],
      ['diskBytes', r.maxDisk, Number(r.disk)],
    ];
    const [metric, limit, used] = checks.find(([, max, value]) => max !== null && value > Number(max))!;
    return { policyId: r.policyId, policy: r.policy, siteId: r.siteId, siteName: r.siteName, groupId: r.groupId, mode: r.mode, metric, used, limit: Number(limit) };
  });
}

/** A sentence naming the policy, the site and what is over it. */
export function breachText(b: UsageBreach): string {
  return `usage policy "${b.policy}" of site ${b.siteName}: the group ${overText(b)}`;
}

function overText(b: UsageBreach): string {
  return `used ${Math.round(b.used * 1000) / 1000} ${WHAT[b.metric]} this month, over the ${b.limit} allowed`;
}

/** FORBIDDEN for new work of a group (named `group`) in a site whose REFUSE usage policy it is over; `extensions.details.reason` is USAGE_POLICY_EXCEEDED. */
export function usagePolicyRefusal(b: UsageBreach, group: string): ForbiddenError {
  return new ForbiddenError(`Group ${group} may place no new work in site ${b.siteName}: it is over usage policy "${b.policy}" (it ${overText(b)})`, {
    reason: USAGE_POLICY_EXCEEDED,
    policyId: b.policyId,
    policy: b.policy,
    siteId: b.siteId,
    site: b.siteName,
    groupId: b.groupId,
    metric: b.metric,
    used: b.used,
    limit: b.limit,
  });
}
