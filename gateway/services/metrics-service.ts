import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { DataSource, Repository } from 'typeorm';
import type { AgentLink } from '../agent/agent-link';
import { policy } from '../auth/policy';
import type { Principal } from '../auth/principal';
import { BadInputError, isRspError, NotFoundError, type RspError } from '../errors';
import { operationEventPayload, type RspEvent } from '../events/events';
import { RspPubSub, Topic, type Unlisten } from '../events/pubsub';
import type { Logger } from '../logging/logger';
import { AlertEvaluator } from '../metrics/alert-evaluator';
import { AlertLeadership } from '../metrics/alert-leadership';
import { BoundedStream, boundedStream, EventSource } from '../metrics/bounded-stream';
import { HistoryPoint, HistoryStore } from '../metrics/history-store';
import { MetricsSampler } from '../metrics/metrics-sampler';
import { GatewayMetrics } from '../metrics/prometheus';
import { EnvironmentSample, HostSample, METRIC_NAMES, MetricTarget, SiteSample } from '../metrics/samples';
import { monthOf, SiteUsage, UsageAccountant } from '../metrics/usage-accountant';
import { UsageThrottle } from '../metrics/usage-throttle';
import { AlertComparison, AlertEntity, AlertRuleEntity, AlertState, EnvironmentStatus, MemberRole, OperationEntity, TERMINAL_OPERATION_STATES } from '../persistence/entities';
import type { EnvironmentService } from './environment-service';
import type { OperationService } from './operation-service';
import type { SiteService } from './site-service';
import { requireGroupRoom } from '../limits/group-records';

/** The most alerts one `alerts` query returns (the API's page maximum). */
const MAX_ALERTS_PAGE = 500;

/** What a new alert rule says. */
export interface NewAlertRule {
  name: string;
  groupId?: string | null;
  siteId?: string | null;
  targetType: MetricTarget;
  targetId?: string | null;
  metric: string;
  comparison: AlertComparison;
  threshold: number;
  durationSeconds?: number;
}

/** A live stream of one subscriber; `droppedCount` appears once events were dropped for it. */
export type Live<T> = AsyncIterableIterator<T & { droppedCount?: number }>;

/** Longest duration a rule may ask for: a week. */
const MAX_RULE_DURATION_SECONDS = 7 * 86400;

/**
 * Live metrics, history, alerts and usage. Every stream and query is authorized here through
 * `policy`; the sampler (collection) and the stores are built and owned here too.
 */
export class MetricsService {
  /** The gateway instance id stamped on the samples it publishes. */
  readonly source = randomUUID();
  readonly prometheus = new GatewayMetrics();
  readonly history: HistoryStore;
  readonly alerts: AlertEvaluator;
  readonly usage: UsageAccountant;
  readonly sampler: MetricsSampler;
  private readonly rules: Repository<AlertRuleEntity>;
  private readonly alertRepo: Repository<AlertEntity>;
  private readonly stopCountingOperations: () => void;
  private readonly operationEvents = new WeakMap<OperationEntity, RspEvent>();

  constructor(
    private readonly dataSource: DataSource,
    private readonly pubSub: RspPubSub,
    agents: AgentLink,
    private readonly sites: SiteService,
    private readonly environments: EnvironmentService,
    private readonly operations: OperationService,
    logger: Logger,
    /** Events kept per subscriber before the oldest are dropped. */
    private readonly bufferSize = 100,
    /** The host record that is this machine (id or hostname). */
    localHost: string = hostname(),
    /** The database kind: on PGlite this gateway is alone, on PostgreSQL replicas elect who evaluates alerts. */
    database: 'postgres' | 'pglite' = 'postgres',
  ) {
    this.rules = dataSource.getRepository(AlertRuleEntity);
    this.alertRepo = dataSource.getRepository(AlertEntity);
    this.history = new HistoryStore(dataSource);
    this.alerts = new AlertEvaluator(dataSource, (e) => pubSub.publish(Topic.EVENT, e), logger, new AlertLeadership(dataSource, database === 'pglite', logger));
    this.usage = new UsageAccountant(dataSource, this.alerts, new UsageThrottle(dataSource, agents, logger));
    this.sampler = new MetricsSampler({ dataSource, agents, pubSub, history: this.history, alerts: this.alerts, usage: this.usage, prometheus: this.prometheus, logger, source: this.source, localHost });
    this.stopCountingOperations = pubSub.listen(Topic.OPERATION_UPDATED, undefined, (op) => {
      if (TERMINAL_OPERATION_STATES.has(op.state)) this.prometheus.operations.inc({ kind: op.kind, state: op.state });
    });
  }

  /** Starts sampling every `intervalMs` (0: no sampling). */
  start(intervalMs: number): void {
    this.sampler.start(intervalMs);
  }

  /** Stops sampling and writes what is pending. */
  async stop(): Promise<void> {
    this.stopCountingOperations();
    await this.sampler.stop();
    await this.alerts.stop();
  }

  /** Publishes a host sample to its subscribers (on every replica when the bus is Redis). */
  publishHost(sample: HostSample): void {
    this.pubSub.publish(Topic.HOST_METRICS, sample.hostId, sample);
  }

  /** Live samples of a host (any authenticated caller: hosts are public within the site). */
  async hostStream(actor: Principal, hostId: string): Promise<Live<HostSample>> {
    await this.sites.getHost(actor, hostId);
    return this.stream('hostMetrics', [(push) => this.pubSub.listen(Topic.HOST_METRICS, hostId, push)]);
  }

  /**
   * Live samples of an environment (its group's members, the admins governing its host, site
   * admins). Who may see it is checked again whenever its status changes or access changes
   * (ACCESS_CHANGED: a share revoked, a group deleted and its environments handed over): once the
   * caller may no longer see it, or it is destroyed, the stream ends with NOT_FOUND (or FORBIDDEN).
   */
  async environmentStream(actor: Principal, environmentId: string): Promise<Live<EnvironmentSample>> {
    await this.environments.get(actor, environmentId);
    let stream: BoundedStream<EnvironmentSample, EnvironmentSample & { droppedCount?: number }> | undefined;
    const recheck = () => void this.environmentLost(actor, environmentId).then((lost) => lost && stream?.end(lost));
    const watch: EventSource<EnvironmentSample> = () => this.watchEnvironment(environmentId, recheck);
    stream = this.stream('environmentMetrics', [(push) => this.pubSub.listen(Topic.ENVIRONMENT_METRICS, environmentId, push), watch]);
    return stream;
  }

  /**
   * Calls `changed` whenever the environment's status changes or who may see what changes
   * (ACCESS_CHANGED), on any replica, until unlistened: streams and sessions then check again.
   */
  watchEnvironment(environmentId: string, changed: () => void): Unlisten {
    const stops = [
      this.pubSub.listen(Topic.EVENT, undefined, (e) => e.kind === 'ENVIRONMENT' && e.environment?.id === environmentId && changed()),
      this.pubSub.listen(Topic.ACCESS_CHANGED, undefined, changed),
    ];
    return () => stops.forEach((stop) => stop());
  }

  /** Why the actor may no longer watch the environment (gone from its sight, or destroyed); undefined while it may, or when that cannot be told now (an outage). */
  private async environmentLost(actor: Principal, environmentId: string): Promise<RspError | undefined> {
    try {
      const env = await this.environments.get(actor, environmentId);
      return env.status === EnvironmentStatus.DESTROYED ? new NotFoundError('Environment', environmentId, { reason: 'destroyed' }) : undefined;
    } catch (e) {
      return isRspError(e) && (e.category === 'NOT_FOUND' || e.category === 'FORBIDDEN') ? e : undefined;
    }
  }

  /** Live aggregated samples of a site. */
  async siteStream(actor: Principal, siteId: string): Promise<Live<SiteSample>> {
    await this.sites.getSite(actor, siteId);
    return this.stream('siteMetrics', [(push) => this.pubSub.listen(Topic.SITE_METRICS, siteId, push)]);
  }

  /** Operations, environment changes and alerts the actor may see, as they happen. */
  eventStream(actor: Principal): Live<RspEvent> {
    policy.requireAuthenticated(actor);
    const operations: EventSource<RspEvent> = (push) => this.pubSub.listen(Topic.OPERATION_UPDATED, undefined, (op) => push(this.operationEvent(op)));
    return this.stream('events', [operations, (push) => this.pubSub.listen(Topic.EVENT, undefined, push)], (e) => (e.operation ? this.operations.visibleTo(actor, e.operation) : this.maySee(actor, e.groupId)));
  }

  /** A metric of a host, environment or site over a range, averaged per `stepSeconds`. */
  async historyOf(actor: Principal, targetType: MetricTarget, targetId: string, metric: string, from: Date, to: Date, stepSeconds: number): Promise<{ resolutionSeconds: number; points: HistoryPoint[] }> {
    await this.authorizeTarget(actor, targetType, targetId);
    if (!METRIC_NAMES[targetType].includes(metric)) throw new BadInputError(`Unknown ${targetType.toLowerCase()} metric "${metric}" (known: ${METRIC_NAMES[targetType].join(', ')})`, { metric });
    return this.history.query(targetType, targetId, metric, from, to, stepSeconds);
  }

  /** Alert rules the actor may see: its group's, and (site admins) every site's. */
  async rulesFor(actor: Principal, filter: { groupId?: string; siteId?: string }): Promise<AlertRuleEntity[]> {
    const p = policy.requireAuthenticated(actor);
    const qb = this.rules.createQueryBuilder('r');
    if (!p.siteAdmin) qb.andWhere('r."groupId" = :mine', { mine: p.groupId ?? '00000000-0000-0000-0000-000000000000' });
    if (filter.groupId) qb.andWhere('r."groupId" = :g', { g: filter.groupId });
    if (filter.siteId) qb.andWhere('r."siteId" = :s', { s: filter.siteId });
    return qb.orderBy('r."createdAt"', 'ASC').getMany();
  }

  /**
   * Records an alert rule. A group's rule (group members) watches the group's environments;
   * a site's rule (site admins) watches its hosts, the site as a whole, or its environments.
   */
  async createRule(actor: Principal, input: NewAlertRule): Promise<AlertRuleEntity> {
    if (Boolean(input.groupId) === Boolean(input.siteId)) throw new BadInputError('An alert rule belongs to exactly one of groupId or siteId');
    if (input.groupId) {
      policy.requireRole(actor, input.groupId, MemberRole.MEMBER, "set alert rules for this group's environments");
      if (input.targetType !== 'ENVIRONMENT') throw new BadInputError("A group's rule watches its environments: targetType must be ENVIRONMENT", { targetType: input.targetType });
      if (input.targetId) {
        const env = await this.environments.get(actor, input.targetId);
        if (env.groupId !== input.groupId) throw new BadInputError('The environment belongs to another group', { targetId: input.targetId });
      }
    } else {
      policy.requireSiteAdmin(actor, 'set alert rules for a site');
      await this.sites.getSite(actor, input.siteId!);
      if (input.targetId) await this.authorizeTarget(actor, input.targetType, input.targetId);
    }
    if (!METRIC_NAMES[input.targetType].includes(input.metric)) throw new BadInputError(`Unknown ${input.targetType.toLowerCase()} metric "${input.metric}" (known: ${METRIC_NAMES[input.targetType].join(', ')})`, { metric: input.metric });
    if (!Number.isFinite(input.threshold)) throw new BadInputError('threshold must be a finite number');
    const durationSeconds = input.durationSeconds ?? 0;
    if (!Number.isInteger(durationSeconds) || durationSeconds < 0 || durationSeconds > MAX_RULE_DURATION_SECONDS) throw new BadInputError(`durationSeconds must be a whole number from 0 to ${MAX_RULE_DURATION_SECONDS}`, { durationSeconds });
    if (!input.name.trim() || input.name.length > 100) throw new BadInputError('name must be 1 to 100 characters');
    const rule = await this.dataSource.transaction(async (m) => {
      const rules = m.getRepository(AlertRuleEntity);
      if (input.groupId) await requireGroupRoom(rules, { groupId: input.groupId }, input.groupId, 'alertRules');
      return rules.save(rules.create({ name: input.name.trim(), groupId: input.groupId ?? null, siteId: input.siteId ?? null, targetType: input.targetType, targetId: input.targetId ?? null, metric: input.metric, comparison: input.comparison, threshold: input.threshold, durationSeconds }));
    });
    this.alerts.invalidate();
    return rule;
  }

  /** Removes a rule; its firing alerts are resolved. */
  async deleteRule(actor: Principal, id: string): Promise<boolean> {
    policy.requireAuthenticated(actor);
    const rule = await this.rules.findOneBy({ id });
    if (!rule || !(rule.groupId ? policy.isMember(actor, rule.groupId) : actor.kind === 'token' && actor.siteAdmin)) throw new NotFoundError('AlertRule', id);
    if (rule.groupId) policy.requireRole(actor, rule.groupId, MemberRole.MEMBER, 'remove alert rules of this group');
    await this.dataSource.transaction(async (m) => {
      await m.getRepository(AlertEntity).update({ ruleId: id, state: AlertState.FIRING }, { state: AlertState.RESOLVED, resolvedAt: new Date() });
      await m.getRepository(AlertRuleEntity).delete({ id });
    });
    this.alerts.invalidate();
    return true;
  }

  /** Alerts the actor may see, newest first; `limit` is 1 to 500, as every page of the API. */
  async alertsFor(actor: Principal, filter: { state?: AlertState; groupId?: string }, limit: number): Promise<AlertEntity[]> {
    const p = policy.requireAuthenticated(actor);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_ALERTS_PAGE) throw new BadInputError(`first must be 1 to ${MAX_ALERTS_PAGE} (got ${limit})`, { field: 'first', max: MAX_ALERTS_PAGE, got: limit });
    const qb = this.alertRepo.createQueryBuilder('a');
    if (!p.siteAdmin) qb.andWhere('a."groupId" = :mine', { mine: p.groupId ?? '00000000-0000-0000-0000-000000000000' });
    if (filter.groupId) qb.andWhere('a."groupId" = :g', { g: filter.groupId });
    if (filter.state) qb.andWhere('a.state = :s', { s: filter.state });
    return qb.orderBy('a."firedAt"', 'DESC').take(limit).getMany();
  }

  /** What a group used per site in a month (`YYYY-MM`, default this month); its members see it. */
  async usageOf(actor: Principal, groupId: string, month?: string): Promise<SiteUsage[]> {
    policy.requireRole(actor, groupId, MemberRole.VIEWER, "read this group's usage");
    if (month !== undefined && !/^\d{4}-(0[1-9]|1[0-2])$/.test(month)) throw new BadInputError('month must be YYYY-MM', { month });
    await this.usage.flush();
    return this.usage.usage(groupId, month ?? monthOf(Date.now()));
  }

  /** The Prometheus text exposition (site admins). */
  async prometheusText(actor: Principal): Promise<{ contentType: string; body: string }> {
    policy.requireSiteAdmin(actor, 'read the Prometheus metrics');
    return this.prometheus.text();
  }

  /** The `events` entry of an operation update: one object per update, shared by every subscriber (so it is serialized once). */
  private operationEvent(op: OperationEntity): RspEvent {
    let event = this.operationEvents.get(op);
    if (!event) this.operationEvents.set(op, (event = { kind: 'OPERATION', at: Date.now(), groupId: op.groupId, siteId: null, operation: operationEventPayload(op) }));
    return event;
  }

  /** True when the actor may see something owned by `groupId` (null: site admins only). */
  private maySee(actor: Principal, groupId: string | null): boolean {
    return groupId ? policy.isMember(actor, groupId) : actor.kind === 'token' && actor.siteAdmin;
  }

  private async authorizeTarget(actor: Principal, targetType: MetricTarget, targetId: string): Promise<void> {
    if (targetType === 'HOST') await this.sites.getHost(actor, targetId);
    else if (targetType === 'SITE') await this.sites.getSite(actor, targetId);
    else await this.environments.get(actor, targetId);
  }

  private stream<T>(field: string, sources: Array<EventSource<T>>, filter?: (e: T) => boolean): BoundedStream<T, T & { droppedCount?: number }> {
    this.prometheus.subscriptions.inc({ field });
    return boundedStream<T, T & { droppedCount?: number }>(sources, {
      capacity: this.bufferSize,
      filter,
      map: (e, dropped) => (dropped ? { ...e, droppedCount: dropped } : (e as T & { droppedCount?: number })),
      onDrop: () => this.prometheus.dropped.inc({ field }),
      onClose: () => this.prometheus.subscriptions.dec({ field }),
    });
  }
}
