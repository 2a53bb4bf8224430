import { DataSource, In, Not, Repository } from 'typeorm';
import type { AgentLink } from '../agent/agent-link';
import { callContext } from '../agent/call-context';
import type { HostAgent } from '../agent/host-agent';
import type { RspEvent } from '../events/events';
import { RspPubSub, Topic } from '../events/pubsub';
import type { Logger } from '../logging/logger';
import type { AlertEvaluator } from '../metrics/alert-evaluator';
import { AlertEntity, AlertState, EnvironmentEntity, EnvironmentStatus, HostEntity, HostState } from '../persistence/entities';
import { DetectorSettings, missedBeatsAllowed, silenceCutoff } from './failure-detector';

/** The metric name of the alert a DOWN host raises. */
export const HOST_DOWN_METRIC = 'heartbeatSilenceSeconds';

/** Any number, the same in every gateway: the advisory lock only one gateway's detector holds per round. */
const DETECTOR_LOCK_KEY = 7_346_201_011;

/** What the failure detector tells failover about, and asks it. */
export interface FailoverHooks {
  /** A host was just marked DOWN (by this gateway): fail its environments over. */
  hostDown(host: HostEntity): Promise<void>;
  /** True while environments of the host are being failed over (it must not come back UP meanwhile). */
  inProgress(hostId: string): Promise<boolean>;
}

/** What one round of the detector did. */
export interface HealthRound {
  /** Hosts marked DOWN this round. */
  down: HostEntity[];
  /** Hosts brought back UP this round, with the environments the split-brain guard removed from each. */
  up: Array<{ host: HostEntity; removed: string[] }>;
}

/**
 * Heartbeats, failure detection and fencing. Every `heartbeatMs` each connected agent beats
 * (`host.lastHeartbeatAt` of the hosts it serves); an UP host silent past `downAfterMs` is marked
 * DOWN — one gateway at a time, under an advisory lock, with a HOST event and an alert — and
 * failover is told. A DOWN host is fenced (the agent link refuses it work). When its agent beats
 * again, the split-brain guard first stops and removes every environment its engines run that the
 * database now places on a host of another agent; only then is the host UP again.
 */
export class HostHealthService {
  private readonly hosts: Repository<HostEntity>;
  private readonly environments: Repository<EnvironmentEntity>;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<unknown> | undefined;
  private hooks: FailoverHooks | undefined;

  constructor(
    private readonly dataSource: DataSource,
    private readonly agents: AgentLink,
    private readonly pubSub: RspPubSub,
    private readonly alerts: AlertEvaluator,
    private readonly logger: Logger,
    readonly settings: DetectorSettings = { heartbeatMs: 1000, downAfterMs: 3000 },
  ) {
    this.hosts = dataSource.getRepository(HostEntity);
    this.environments = dataSource.getRepository(EnvironmentEntity);
  }

  /** Connects failover (set once the failover service exists). */
  useFailover(hooks: FailoverHooks): void {
    this.hooks = hooks;
  }

  /** Beats and detects every `heartbeatMs` until `stop`. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.ticking) return;
      this.ticking = this.tick()
        .catch((e: unknown) => this.logger.warn({ err: e }, 'heartbeat round failed'))
        .finally(() => (this.ticking = undefined));
    }, this.settings.heartbeatMs);
    this.timer.unref();
  }

  /** Stops the rounds and waits for the one in progress. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking;
  }

  /** One round: every connected agent beats (a DOWN host of it goes through the guard), then silent hosts are marked DOWN. */
  async tick(now = Date.now()): Promise<HealthRound> {
    const round: HealthRound = { down: [], up: [] };
    const ids = this.agents.connected();
    // A few statements a round however many agents are connected: one UPDATE for all their beats, one query for their DOWN hosts.
    if (ids.length) await this.hosts.update({ agent: In(ids), state: Not(HostState.DOWN) }, { lastHeartbeatAt: new Date(now) });
    const returning = ids.length ? await this.hosts.findBy({ agent: In(ids), state: HostState.DOWN }) : [];
    for (const host of returning) {
      const agent = this.agents.get(host.agent);
      if (!agent) continue;
      const back = await this.recover(host, agent).catch((e: unknown) => {
        this.logger.warn({ err: e, host: host.hostname }, 'a returning host could not pass the split-brain guard; it stays DOWN');
        return undefined;
      });
      if (back) round.up.push(back);
    }
    round.down = await this.detect(now);
    for (const host of round.down) {
      await this.hooks?.hostDown(host).catch((e: unknown) => this.logger.error({ err: e, host: host.hostname }, 'failover of a DOWN host failed to start'));
    }
    return round;
  }

  /** Records a heartbeat of `agent` for the hosts it serves that are not DOWN (a DOWN one comes back through `recover`). */
  async beat(agent: Pick<HostAgent, 'id'>, now = Date.now()): Promise<void> {
    await this.hosts.update({ agent: agent.id, state: Not(HostState.DOWN) }, { lastHeartbeatAt: new Date(now) });
  }

  /**
   * Marks DOWN every UP host silent past the threshold, in one transaction under an advisory lock
   * (another gateway running the same round finds it taken and leaves the hosts to the winner).
   * Publishes a HOST event and raises an alert per host. Returns the hosts it marked.
   */
  async detect(now = Date.now()): Promise<HostEntity[]> {
    const cutoff = silenceCutoff(now, this.settings);
    const marked = await this.dataSource.transaction(async (m) => {
      const [lock] = (await m.query('SELECT pg_try_advisory_xact_lock($1) AS locked', [DETECTOR_LOCK_KEY])) as Array<{ locked: boolean }>;
      if (!lock?.locked) return [] as HostEntity[];
      const silent = await m
        .getRepository(HostEntity)
        .createQueryBuilder('h')
        .where('h.state = :up AND h."lastHeartbeatAt" IS NOT NULL AND h."lastHeartbeatAt" < :cutoff', { up: HostState.UP, cutoff })
        .setLock('pessimistic_write')
        .getMany();
      if (silent.length) await m.getRepository(HostEntity).update({ id: In(silent.map((h) => h.id)) }, { state: HostState.DOWN });
      return silent.map((h) => Object.assign(h, { state: HostState.DOWN }));
    });
    for (const host of marked) {
      const silence = (now - host.lastHeartbeatAt!.getTime()) / 1000;
      this.logger.warn({ host: host.hostname, agent: host.agent, silenceSeconds: silence }, 'host marked DOWN: no heartbeat; fenced');
      this.publishHost(host, now);
      await this.alerts.raise(
        {
          ruleId: null,
          groupId: null,
          siteId: host.siteId,
          targetType: 'HOST',
          targetId: host.id,
          metric: HOST_DOWN_METRIC,
          value: silence,
          threshold: this.settings.downAfterMs / 1000,
          message: `Host ${host.hostname} is DOWN: no heartbeat from agent "${host.agent}" for ${silence.toFixed(1)} s (more than ${missedBeatsAllowed(this.settings)} beats); it is fenced and its environments with auto-failover are restarted elsewhere`,
        },
        now,
      );
    }
    return marked;
  }

  /**
   * Brings a DOWN host back: unless its environments are still being failed over, the split-brain
   * guard stops and removes, through the returning agent, every environment its engines run that
   * the database places on a host of another agent; then the host is UP (event, alert resolved).
   * Returns undefined when the host must wait (failover in progress).
   */
  async recover(host: HostEntity, agent: HostAgent, now = Date.now()): Promise<{ host: HostEntity; removed: string[] } | undefined> {
    if (await this.hooks?.inProgress(host.id)) return undefined;
    const removed = await this.guard(agent);
    const updated = await this.hosts.update({ id: host.id, state: HostState.DOWN }, { state: HostState.UP, lastHeartbeatAt: new Date(now) });
    if (!updated.affected) return undefined;
    Object.assign(host, { state: HostState.UP, lastHeartbeatAt: new Date(now) });
    this.logger.info({ host: host.hostname, removed }, 'host back UP after the split-brain guard');
    this.publishHost(host, now);
    const open = await this.dataSource.getRepository(AlertEntity).findBy({ targetId: host.id, metric: HOST_DOWN_METRIC, state: AlertState.FIRING });
    for (const alert of open) await this.alerts.resolve(alert, 0, now);
    return { host, removed };
  }

  /**
   * The split-brain guard: stops and removes every environment `agent`'s drivers run that the
   * database places on a host served by another agent (it was failed over or migrated while this
   * agent was cut off). Environments the database does not know are left alone. Returns their ids.
   */
  async guard(agent: HostAgent): Promise<string[]> {
    const mine = new Set((await this.hosts.findBy({ agent: agent.id })).map((h) => h.id));
    const removed: string[] = [];
    for (const driver of (await agent.drivers()).filter((d) => d.available)) {
      const running = await agent.listEnvironments({ driver: driver.name }, callContext(agent));
      if (!running.length) continue;
      const rows = await this.environments.findBy({ id: In(running.map((r) => r.id)), status: Not(EnvironmentStatus.DESTROYED) });
      for (const env of rows.filter((e) => !mine.has(e.hostId))) {
        this.logger.warn({ agent: agent.id, environment: env.id, name: env.name, now: env.hostId }, 'split-brain guard: removing a stale copy that now runs elsewhere');
        await agent.stopEnvironment({ driver: driver.name, environmentId: env.id, graceSeconds: 0 }, callContext(agent)).catch(() => undefined);
        await agent.destroyEnvironment({ driver: driver.name, environmentId: env.id, removeVolumes: true }, callContext(agent));
        removed.push(env.id);
      }
    }
    return removed;
  }

  private publishHost(host: HostEntity, now: number): void {
    const event: RspEvent = { kind: 'HOST', at: now, groupId: null, siteId: host.siteId, host: { id: host.id, hostname: host.hostname, state: host.state, lastHeartbeatAt: host.lastHeartbeatAt?.toISOString() ?? null } };
    this.pubSub.publish(Topic.EVENT, event);
  }
}
