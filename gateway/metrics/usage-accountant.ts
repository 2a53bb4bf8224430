import type { DataSource } from 'typeorm';
import { AlertState, UsagePolicyEntity } from '../persistence/entities';
import { AlertEntity } from '../persistence/entities';
import type { AlertEvaluator } from './alert-evaluator';
import type { EnvironmentSample } from './samples';
import type { UsageThrottle } from './usage-throttle';

/** What one group used on one host in one month, not yet written. */
interface Pending {
  groupId: string;
  hostId: string;
  siteId: string;
  month: string;
  cpuSeconds: number;
  networkBytes: number;
  peakMemoryBytes: number;
  /** Disk the group takes on the host as last measured; null: not measured since the last write. */
  diskBytes: number | null;
}

/** A group's usage in a site this month, summed over its hosts there. */
export interface SiteUsage {
  groupId: string;
  siteId: string;
  month: string;
  cpuSeconds: number;
  networkBytes: number;
  peakMemoryBytes: number;
  /** Disk its environments take on the site's hosts (filesystems and volumes), as last measured. */
  diskBytes: number;
}

/** The `YYYY-MM` (UTC) of a time. */
export function monthOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 7);
}

/**
 * Accounts what each group uses per host (its share) and month from its environments' samples
 * (CPU time and network bytes from the counters' increase, peak memory) and from disk
 * measurements (filesystems and volumes, the latest value counts), writes it additively,
 * and raises an alert when a group's usage in a site goes over one of the site's usage policies.
 * After each flush the THROTTLE policies are enforced (`UsageThrottle`); REFUSE ones are read by
 * placement from the same records.
 */
export class UsageAccountant {
  private readonly last = new Map<string, { cpuSeconds: number; networkBytes: number }>();
  private pending = new Map<string, Pending>();
  private memoryNow = new Map<string, number>();

  constructor(
    private readonly dataSource: DataSource,
    private readonly alerts: AlertEvaluator,
    /** Applies and lifts THROTTLE usage policies after each flush. */
    private readonly throttle?: UsageThrottle,
  ) {}

  /** Adds one environment sample: the increase since its previous sample counts. */
  observe(s: EnvironmentSample): void {
    const networkBytes = s.networkRxBytes + s.networkTxBytes;
    const prev = this.last.get(s.environmentId);
    this.last.set(s.environmentId, { cpuSeconds: s.cpuSeconds, networkBytes });
    const month = monthOf(s.at);
    const key = `${s.groupId}|${s.hostId}|${month}`;
    const p = this.pendingFor(s.groupId, s.hostId, s.siteId, month);
    // A counter that went down was reset (restart): what it shows now is all new.
    if (prev) {
      p.cpuSeconds += s.cpuSeconds >= prev.cpuSeconds ? s.cpuSeconds - prev.cpuSeconds : s.cpuSeconds;
      p.networkBytes += networkBytes >= prev.networkBytes ? networkBytes - prev.networkBytes : networkBytes;
    }
    this.memoryNow.set(`${key}|${s.environmentId}`, s.memoryBytes);
    let memory = 0;
    for (const [k, v] of this.memoryNow) if (k.startsWith(`${key}|`)) memory += v;
    p.peakMemoryBytes = Math.max(p.peakMemoryBytes, memory);
  }

  /** Records the disk a group's environments take on a host now (replacing the previous measure). */
  observeDisk(groupId: string, hostId: string, siteId: string, bytes: number, at = Date.now()): void {
    this.pendingFor(groupId, hostId, siteId, monthOf(at)).diskBytes = bytes;
  }

  private pendingFor(groupId: string, hostId: string, siteId: string, month: string): Pending {
    const key = `${groupId}|${hostId}|${month}`;
    let p = this.pending.get(key);
    if (!p) this.pending.set(key, (p = { groupId, hostId, siteId, month, cpuSeconds: 0, networkBytes: 0, peakMemoryBytes: 0, diskBytes: null }));
    return p;
  }

  /** Forgets an environment that stopped being sampled. */
  forget(environmentId: string): void {
    this.last.delete(environmentId);
    for (const k of this.memoryNow.keys()) if (k.endsWith(`|${environmentId}`)) this.memoryNow.delete(k);
  }

  /** Writes the accounted usage, checks the policies of the sites it touched, then applies or lifts throttles (usage may also fall under a policy as a month begins). */
  async flush(now = Date.now()): Promise<void> {
    await this.write(now);
    await this.throttle?.reconcile();
  }

  private async write(now: number): Promise<void> {
    const rows = [...this.pending.values()];
    this.pending = new Map();
    if (!rows.length) return;
    for (const r of rows) {
      await this.dataSource.query(
        `INSERT INTO "usage_record" ("groupId", "hostId", "month", "cpuSeconds", "networkBytes", "peakMemoryBytes", "diskBytes", "updatedAt")
         VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7::double precision, 0), now())
         ON CONFLICT ("groupId", "hostId", "month") DO UPDATE SET
           "cpuSeconds" = "usage_record"."cpuSeconds" + EXCLUDED."cpuSeconds",
           "networkBytes" = "usage_record"."networkBytes" + EXCLUDED."networkBytes",
           "peakMemoryBytes" = GREATEST("usage_record"."peakMemoryBytes", EXCLUDED."peakMemoryBytes"),
           "diskBytes" = COALESCE($7::double precision, "usage_record"."diskBytes"),
           "updatedAt" = now()`,
        [r.groupId, r.hostId, r.month, r.cpuSeconds, r.networkBytes, r.peakMemoryBytes, r.diskBytes],
      );
    }
    const touched = new Map(rows.map((r) => [`${r.groupId}|${r.siteId}`, r]));
    for (const r of touched.values()) await this.checkPolicies(r.groupId, r.siteId, r.month, now);
  }

  /** A group's usage per site in `month`. */
  async usage(groupId: string, month: string): Promise<SiteUsage[]> {
    const rows: Array<{ siteId: string; cpu: number; net: number; mem: number; disk: number }> = await this.dataSource.query(
      `SELECT h."siteId" AS "siteId", sum(u."cpuSeconds") AS cpu, sum(u."networkBytes") AS net, sum(u."peakMemoryBytes") AS mem, sum(u."diskBytes") AS disk
         FROM "usage_record" u JOIN "host" h ON h."id" = u."hostId"
        WHERE u."groupId" = $1 AND u."month" = $2 GROUP BY h."siteId"`,
      [groupId, month],
    );
    return rows.map((r) => ({ groupId, siteId: r.siteId, month, cpuSeconds: Number(r.cpu), networkBytes: Number(r.net), peakMemoryBytes: Number(r.mem), diskBytes: Number(r.disk) }));
  }

  private async checkPolicies(groupId: string, siteId: string, month: string, now: number): Promise<void> {
    const policies = await this.dataSource.getRepository(UsagePolicyEntity).findBy({ siteId });
    if (!policies.length) return;
    const used = (await this.usage(groupId, month)).find((u) => u.siteId === siteId);
    if (!used) return;
    const alerts = this.dataSource.getRepository(AlertEntity);
    for (const policy of policies) {
      const checks: Array<[string, number | null, number, string]> = [
        ['usage.cpuHoursPerMonth', policy.cpuHoursPerMonth, used.cpuSeconds / 3600, 'CPU hours'],
        ['usage.bandwidthBytesPerMonth', policy.bandwidthBytesPerMonth, used.networkBytes, 'network bytes'],
        ['usage.diskBytes', policy.diskBytes, used.diskBytes, 'bytes of disk'],
      ];
      for (const [metric, limit, value, what] of checks) {
        if (limit === null || value <= limit) continue;
        const already = await alerts
          .createQueryBuilder('a')
          .where('a."ruleId" IS NULL AND a."groupId" = :groupId AND a."siteId" = :siteId AND a.metric = :metric AND a."firedAt" >= :since AND a.state = :state', { groupId, siteId, metric, since: new Date(`${month}-01T00:00:00Z`), state: AlertState.FIRING })
          .getExists();
        if (already) continue;
        await this.alerts.raise({ ruleId: null, groupId, siteId, targetType: 'GROUP', targetId: groupId, metric, value, threshold: limit, message: `Usage policy "${policy.name}": the group used ${round(value)} ${what} this month in the site, over the ${limit} allowed` }, now);
      }
    }
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
