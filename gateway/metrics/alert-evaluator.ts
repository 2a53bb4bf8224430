import type { DataSource, Repository } from 'typeorm';
import { In } from 'typeorm';
import type { RspEvent } from '../events/events';
import type { AlertLeadership } from './alert-leadership';
import type { Logger } from '../logging/logger';
import { AlertComparison, AlertEntity, AlertRuleEntity, AlertState } from '../persistence/entities';
import type { MetricTarget } from './samples';

/** One target's metrics at one moment, as the rules see them. */
export interface Observation {
  targetType: MetricTarget;
  targetId: string;
  /** The group owning the target (environments), else null. */
  groupId: string | null;
  siteId: string;
  at: number;
  metrics: Record<string, number>;
}

/** What an alert is raised with (a rule's or a usage policy's). */
export type NewAlert = Pick<AlertEntity, 'ruleId' | 'groupId' | 'siteId' | 'targetType' | 'targetId' | 'metric' | 'value' | 'threshold' | 'message'>;

/** How often the rules are re-read, besides on every change made through this gateway. */
const RULES_TTL_MS = 10_000;

/**
 * Evaluates alert rules against live observations (on one replica only, see `AlertLeadership`): a condition that holds for the rule's
 * duration fires one alert (stored, published on `events`); when it stops holding the alert is
 * resolved (stored, published).
 */
export class AlertEvaluator {
  private readonly rules: Repository<AlertRuleEntity>;
  private readonly alerts: Repository<AlertEntity>;
  private cached: { at: number; rules: AlertRuleEntity[] } | undefined;
  private readonly pendingSince = new Map<string, number>();
  private open: Map<string, AlertEntity> | undefined;

  constructor(
    dataSource: DataSource,
    private readonly publish: (event: RspEvent) => void,
    private readonly logger: Logger,
    /** Which replica evaluates; absent: this one always does. */
    readonly leadership?: AlertLeadership,
  ) {
    this.rules = dataSource.getRepository(AlertRuleEntity);
    this.alerts = dataSource.getRepository(AlertEntity);
  }

  /** Stops evaluating here (at shutdown): another replica takes over. */
  async stop(): Promise<void> {
    await this.leadership?.release();
  }

  /** Forgets the cached rules (after one was added or removed). */
  invalidate(): void {
    this.cached = undefined;
  }

  /** Checks every rule against `observations`; fires and resolves alerts. */
  async evaluate(observations: Observation[], now = Date.now()): Promise<void> {
    if (this.leadership && !(await this.leadership.holds())) {
      // Another replica evaluates; what is known here is stale once this one takes over.
      this.pendingSince.clear();
      this.open = undefined;
      this.cached = undefined;
      return;
    }
    const rules = await this.currentRules(now);
    if (!rules.length) return;
    const open = await this.openAlerts();
    for (const rule of rules) {
      for (const o of observations) {
        if (!matches(rule, o)) continue;
        const value = o.metrics[rule.metric];
        if (value === undefined) continue;
        const key = `${rule.id}|${o.targetId}`;
        const holds = rule.comparison === AlertComparison.ABOVE ? value > rule.threshold : value < rule.threshold;
        if (holds) {
          const since = this.pendingSince.get(key) ?? now;
          this.pendingSince.set(key, since);
          if (!open.has(key) && now - since >= rule.durationSeconds * 1000) {
            const word = rule.comparison === AlertComparison.ABOVE ? 'above' : 'below';
            open.set(key, await this.raise({ ruleId: rule.id, groupId: rule.groupId ?? null, siteId: o.siteId, targetType: o.targetType, targetId: o.targetId, metric: rule.metric, value, threshold: rule.threshold, message: `${rule.name}: ${rule.metric} of ${o.targetType.toLowerCase()} ${o.targetId} is ${value} (${word} ${rule.threshold} for ${rule.durationSeconds} s)` }, now));
          }
        } else {
          this.pendingSince.delete(key);
          const alert = open.get(key);
          if (alert) {
            open.delete(key);
            await this.resolve(alert, value, now);
          }
        }
      }
    }
  }

  /** Stores a new FIRING alert and publishes it. */
  async raise(fields: NewAlert, now = Date.now()): Promise<AlertEntity> {
    const alert = await this.alerts.save(this.alerts.create({ ...fields, state: AlertState.FIRING, firedAt: new Date(now), resolvedAt: null }));
    this.logger.warn({ alert: alert.id, metric: alert.metric, target: alert.targetId }, alert.message);
    this.publish(eventOf(alert, now));
    return alert;
  }

  /** Marks an alert RESOLVED and publishes it. */
  async resolve(alert: AlertEntity, value: number, now = Date.now()): Promise<void> {
    Object.assign(alert, { state: AlertState.RESOLVED, resolvedAt: new Date(now), value });
    await this.alerts.update({ id: alert.id }, { state: alert.state, resolvedAt: alert.resolvedAt, value });
    this.publish(eventOf(alert, now));
  }

  private async currentRules(now: number): Promise<AlertRuleEntity[]> {
    if (!this.cached || now - this.cached.at > RULES_TTL_MS) this.cached = { at: now, rules: await this.rules.find() };
    return this.cached.rules;
  }

  /** Alerts still firing, keyed by rule and target; read once, then kept up to date here. */
  private async openAlerts(): Promise<Map<string, AlertEntity>> {
    if (!this.open) {
      const firing = await this.alerts.findBy({ state: AlertState.FIRING, ruleId: In((this.cached?.rules ?? []).map((r) => r.id)) });
      this.open = new Map(firing.map((a) => [`${a.ruleId}|${a.targetId}`, a]));
    }
    return this.open;
  }
}

/** True when the rule watches this observation's target. */
function matches(rule: AlertRuleEntity, o: Observation): boolean {
  if (rule.targetType !== o.targetType) return false;
  if (rule.targetId && rule.targetId !== o.targetId) return false;
  if (rule.groupId) return o.groupId === rule.groupId;
  return rule.siteId === o.siteId;
}

/** The `events` entry of an alert. */
export function eventOf(alert: AlertEntity, now: number): RspEvent {
  return {
    kind: 'ALERT',
    at: now,
    groupId: alert.groupId,
    siteId: alert.siteId,
    alert: { id: alert.id, ruleId: alert.ruleId, state: alert.state, targetType: alert.targetType, targetId: alert.targetId, metric: alert.metric, value: alert.value, threshold: alert.threshold, message: alert.message },
  };
}
