import type { DataSource } from 'typeorm';
import type { LimitName, ResourceLimits } from '../../drivers/contract';
import type { AgentLink } from '../agent/agent-link';
import type { Logger } from '../logging/logger';
import { EnvironmentStatus, HostState, UsagePolicyMode } from '../persistence/entities';
import { breachText, usageBreaches, type UsageBreach } from './usage-breaches';

/** A throttled environment's CPU weight (and bandwidth cap, when it has one) is this fraction of its own. */
export const THROTTLE_FACTOR = 0.1;

/** The CPU weight of an environment that asks for none (a full share's). */
export const DEFAULT_CPU_WEIGHT = 100;

/** Environments whose engine object exists and no operation replaces: the ones a throttle is applied to or lifted from. */
const IN_PLACE: EnvironmentStatus[] = [EnvironmentStatus.CREATED, EnvironmentStatus.STARTING, EnvironmentStatus.RUNNING, EnvironmentStatus.STOPPING, EnvironmentStatus.STOPPED];

/** An environment as the throttle sees it, with the throttle applied to it if any. */
interface Row {
  id: string;
  name: string;
  groupId: string;
  driver: string;
  status: EnvironmentStatus;
  limits: ResourceLimits;
  siteId: string;
  agent: string;
  hostname: string;
  hostState: HostState;
  changed: boolean;
  throttledBy: string | null;
  applied: ResourceLimits | null;
}

/** What one reconciliation changed, by environment id. */
export interface ThrottleChanges {
  throttled: string[];
  lifted: string[];
}

/** The limits that throttle an environment whose own limits are `own`, among those its driver enforces; null when it enforces none of them. */
export function throttledLimits(own: ResourceLimits, enforced: readonly LimitName[]): ResourceLimits | null {
  const out: ResourceLimits = {};
  if (enforced.includes('cpuWeight')) out.cpuWeight = Math.max(1, Math.round((own.cpuWeight ?? DEFAULT_CPU_WEIGHT) * THROTTLE_FACTOR));
  if (enforced.includes('networkBitsPerSecond') && own.networkBitsPerSecond) out.networkBitsPerSecond = Math.max(1, Math.round(own.networkBitsPerSecond * THROTTLE_FACTOR));
  return Object.keys(out).length ? out : null;
}

/** The environment's own values of the limits a throttle changed (its CPU weight, or the default one). */
export function liftedLimits(own: ResourceLimits, applied: ResourceLimits): ResourceLimits {
  const out: ResourceLimits = {};
  if (applied.cpuWeight !== undefined) out.cpuWeight = own.cpuWeight ?? DEFAULT_CPU_WEIGHT;
  if (applied.networkBitsPerSecond !== undefined && own.networkBitsPerSecond) out.networkBitsPerSecond = own.networkBitsPerSecond;
  return out;
}

/**
 * Enforces THROTTLE usage policies: the environments of a group over one in a site get a lower
 * CPU weight (and bandwidth cap) there, through their agent's `resizeEnvironment`, recorded in
 * `usage_throttle`; when the group's usage is back under every THROTTLE policy of the site (a
 * new month, less disk, a policy raised) their own limits are put back. A throttle is applied
 * again to an environment changed since (rebuilt, moved back in place). An environment whose
 * agent is away or whose driver cannot resize is left for the next reconciliation.
 */
export class UsageThrottle {
  private running: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly dataSource: DataSource,
    private readonly agents: AgentLink,
    private readonly logger: Logger,
  ) {}

  /** Applies and lifts throttles to match the usage recorded now; reconciliations run one at a time. */
  reconcile(): Promise<ThrottleChanges> {
    const run = this.running.then(() => this.reconcileOnce());
    this.running = run.catch(() => undefined);
    return run;
  }

  private async reconcileOnce(): Promise<ThrottleChanges> {
    const over = new Map<string, UsageBreach>();
    for (const b of await usageBreaches(this.dataSource, { mode: UsagePolicyMode.THROTTLE })) if (!over.has(`${b.groupId}|${b.siteId}`)) over.set(`${b.groupId}|${b.siteId}`, b);
    await this.dataSource.query(`DELETE FROM usage_throttle t USING environment e WHERE e.id = t."environmentId" AND e.status = $1`, [EnvironmentStatus.DESTROYED]);
    const rows: Row[] = await this.dataSource.query(
      `SELECT e.id, e.name, e."groupId", e.driver, e.status, e.limits, h."siteId", h.agent, h.hostname, h.state AS "hostState",
              t."environmentId" IS NOT NULL AND e."updatedAt" > t."throttledAt" AS changed, t."policyId" AS "throttledBy", t.limits AS applied
         FROM environment e JOIN host h ON h.id = e."hostId" LEFT JOIN usage_throttle t ON t."environmentId" = e.id
        WHERE e.status = ANY($1) AND (t."environmentId" IS NOT NULL OR EXISTS (SELECT 1 FROM usage_policy p WHERE p."siteId" = h."siteId" AND p.mode = $2))`,
      [IN_PLACE, UsagePolicyMode.THROTTLE],
    );
    const changes: ThrottleChanges = { throttled: [], lifted: [] };
    for (const env of rows) {
      const breach = over.get(`${env.groupId}|${env.siteId}`);
      try {
        if (breach && (!env.throttledBy || env.changed || env.throttledBy !== breach.policyId)) {
          if (await this.throttle(env, breach)) changes.throttled.push(env.id);
        } else if (!breach && env.throttledBy) {
          if (await this.lift(env)) changes.lifted.push(env.id);
        }
      } catch (e) {
        this.logger.warn({ err: e, environmentId: env.id, policyId: breach?.policyId ?? env.throttledBy }, breach ? 'could not throttle an environment over a usage policy' : 'could not lift the throttle of an environment');
      }
    }
    return changes;
  }

  /** Lowers the environment's limits and records it; false when its agent is away or its driver cannot. */
  private async throttle(env: Row, breach: UsageBreach): Promise<boolean> {
    const agent = await this.agentOf(env);
    if (!agent) return false;
    const driver = (await agent.drivers()).find((d) => d.name === env.driver);
    const limits = driver?.capabilities.operations.includes('resize') ? throttledLimits(env.limits, driver.capabilities.limits) : null;
    if (!limits) {
      this.logger.warn({ environmentId: env.id, driver: env.driver, policyId: breach.policyId }, 'the driver cannot lower this environment: it stays unthrottled');
      return false;
    }
    await agent.resizeEnvironment({ driver: env.driver, environmentId: env.id, limits });
    await this.dataSource.query(
      `INSERT INTO usage_throttle ("environmentId", "policyId", limits, "throttledAt") VALUES ($1, $2, $3, now())
       ON CONFLICT ("environmentId") DO UPDATE SET "policyId" = EXCLUDED."policyId", limits = EXCLUDED.limits, "throttledAt" = now()`,
      [env.id, breach.policyId, JSON.stringify(limits)],
    );
    this.logger.info({ environmentId: env.id, policyId: breach.policyId, limits }, `environment ${env.name} throttled: ${breachText(breach)}`);
    return true;
  }

  /** Puts the environment's own limits back and forgets the throttle; false when its agent is away. */
  private async lift(env: Row): Promise<boolean> {
    const agent = await this.agentOf(env);
    if (!agent) return false;
    const limits = liftedLimits(env.limits, env.applied ?? {});
    if (Object.keys(limits).length) await agent.resizeEnvironment({ driver: env.driver, environmentId: env.id, limits });
    await this.dataSource.query(`DELETE FROM usage_throttle WHERE "environmentId" = $1`, [env.id]);
    this.logger.info({ environmentId: env.id, policyId: env.throttledBy, limits }, `environment ${env.name} no longer throttled: its group is back under the usage policy`);
    return true;
  }

  /** The agent of an UP host: at once when connected or gone, once announced when it is arriving (see `AgentLink.soon`). */
  private async agentOf(env: Row) {
    return env.hostState === HostState.UP ? this.agents.soon(env.agent) : undefined;
  }
}
