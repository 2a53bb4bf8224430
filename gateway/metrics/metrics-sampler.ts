import { DataSource, In } from 'typeorm';
import type { AgentLink, AgentReach } from '../agent/agent-link';
import { callContext } from '../agent/call-context';
import type { RspPubSub } from '../events/pubsub';
import { Topic } from '../events/pubsub';
import type { Logger } from '../logging/logger';
import { EnvironmentEntity, EnvironmentStatus, HostEntity } from '../persistence/entities';
import { TimeoutError, UnavailableError } from '../errors';
import type { AlertEvaluator, Observation } from './alert-evaluator';
import type { HistoryStore } from './history-store';
import type { GatewayMetrics } from './prometheus';
import { aggregateSite, EnvironmentSample, flattenEnvironment, flattenHost, flattenSite, HostSample, MachineSample } from './samples';
import type { UsageAccountant } from './usage-accountant';
import { PeriodicTask } from '../scheduling/periodic-task';

/** What the sampler works with. */
export interface SamplerDeps {
  dataSource: DataSource;
  agents: AgentLink;
  pubSub: RspPubSub;
  history: HistoryStore;
  alerts: AlertEvaluator;
  usage: UsageAccountant;
  prometheus: GatewayMetrics;
  logger: Logger;
  /** The gateway instance stamped on every sample. */
  source: string;
  /** The host record that is this machine, by id or hostname: the in-process agent's samples are its own. */
  localHost: string;
  /** How long each agent has to answer a tick's `hostSample` (default 5 s); a later answer is dropped. */
  hostSampleTimeoutMs?: number;
  /** How long each agent has to measure its environments' volumes (default 60 s). */
  diskTimeoutMs?: number;
}

/** A driver's `stats` call that takes longer than this is abandoned for the tick. */
const STATS_TIMEOUT_MS = 10_000;
const HOST_SAMPLE_TIMEOUT_MS = 5_000;
const DISK_TIMEOUT_MS = 60_000;
/** Usage is written every this many ticks; retention runs about every minute. */
const USAGE_FLUSH_TICKS = 5;
const RETENTION_EVERY_MS = 60_000;
/** Disk use (filesystems and volumes) is measured about this often: walking volumes costs more than reading counters. */
const DISK_EVERY_MS = 60_000;
/** Environments that still hold disk on their host. */
const HOLDING_DISK = [EnvironmentStatus.CREATED, EnvironmentStatus.STARTING, EnvironmentStatus.RUNNING, EnvironmentStatus.STOPPING, EnvironmentStatus.STOPPED, EnvironmentStatus.REBUILDING, EnvironmentStatus.MIGRATING, EnvironmentStatus.FAILING_OVER, EnvironmentStatus.SNAPSHOTTING, EnvironmentStatus.FAILED];

/**
 * True when `host` is the machine this gateway runs on: `localHost` (RSP_LOCAL_HOST, default this
 * machine's hostname) is its id or its hostname (case-insensitive; a short name matches the
 * first label of a fully qualified one, either way round).
 */
export function isThisMachine(host: Pick<HostEntity, 'id' | 'hostname'>, localHost: string): boolean {
  if (host.id === localHost) return true;
  const a = host.hostname.toLowerCase();
  const b = localHost.toLowerCase();
  return a === b || (!a.includes('.') && b.split('.')[0] === a) || (!b.includes('.') && a.split('.')[0] === b);
}

/**
 * Whether a sample taken by an agent reached as `reach` is `host`'s: a remote agent (`rsp agent`)
 * runs on the machine of the hosts it serves, so its samples are theirs; an in-process agent (the
 * gateway's own and the `RSP_AGENTS` extras) measures the gateway's machine, which is only the host
 * record `localHost` names (see `isThisMachine`).
 */
export function measuresHost(reach: AgentReach | undefined, host: Pick<HostEntity, 'id' | 'hostname'>, localHost: string): boolean {
  return reach === 'remote' || isThisMachine(host, localHost);
}

/** `work`, or TIMEOUT after `ms` whatever it does. */
function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(what, ms)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/**
 * The sampling loop of one gateway. Every interval it asks every connected host agent for a sample
 * of its own machine (`hostSample`, all at once, each with its deadline: a slow or gone agent
 * yields no sample, it never delays the others nor stands in for them) and attributes it to the
 * hosts the agent serves (see `measuresHost`); it asks each running environment's driver for
 * `stats` through its host's agent (each environment at its own pace), publishes host, environment
 * and site samples, and feeds history, alert rules, usage and Prometheus.
 */
export class MetricsSampler {
  private schedule: PeriodicTask | undefined;
  private readonly inFlight = new Set<string>();
  /** Agents whose previous `hostSample` has not answered yet: they are not asked again meanwhile. */
  private readonly sampling = new Set<string>();
  private readonly latestEnv = new Map<string, EnvironmentSample>();
  private envObservations: Observation[] = [];
  private ticks = 0;
  private lastRetention = 0;
  private lastDisk = 0;
  private measuringDisk: Promise<void> | undefined;
  /** The latest `diskUsedBytes` each environment's driver reported. */
  private readonly diskUsed = new Map<string, number>();
  /** `groupId|hostId` pairs measured holding disk last time. */
  private diskGroups = new Set<string>();

  constructor(private readonly deps: SamplerDeps) {}

  /** Starts sampling every `intervalMs` (0 = never). */
  start(intervalMs: number): void {
    this.schedule ??= new PeriodicTask('metrics sample', () => this.tick(), this.deps.logger);
    if (!this.schedule.started) this.schedule.start(intervalMs);
  }

  /** Stops sampling and writes what is still in memory. */
  async stop(): Promise<void> {
    await this.schedule?.stop();
    await this.measuringDisk;
    await this.deps.history.flush().catch(() => undefined);
    await this.deps.usage.flush().catch(() => undefined);
  }

  /** The hosts served by connected agents (one query), by agent. */
  private async connectedHosts(): Promise<Map<string, HostEntity[]>> {
    const connected = this.deps.agents.connected();
    const byAgent = new Map<string, HostEntity[]>();
    if (!connected.length) return byAgent;
    for (const h of await this.deps.dataSource.getRepository(HostEntity).findBy({ agent: In(connected) })) byAgent.set(h.agent, [...(byAgent.get(h.agent) ?? []), h]);
    return byAgent;
  }

  /** One round: host samples of every connected agent now, environment samples as their drivers answer. */
  async tick(now = Date.now()): Promise<HostSample[]> {
    const { pubSub, history, prometheus, source, localHost } = this.deps;
    const byAgent = await this.connectedHosts();
    const hosts = [...byAgent.values()].flat();
    const started = performance.now();
    const machines = await Promise.all([...byAgent.keys()].map(async (agentId) => [agentId, await this.sampleAgent(agentId)] as const));
    prometheus.collectSeconds.set((performance.now() - started) / 1000);
    const samples: HostSample[] = [];
    for (const [agentId, machine] of machines) {
      if (!machine) continue;
      for (const h of byAgent.get(agentId)!) if (measuresHost(this.deps.agents.reachOf(agentId), h, localHost)) samples.push({ ...machine, hostId: h.id, siteId: h.siteId, source, agent: agentId });
    }

    const envs = hosts.length ? await this.deps.dataSource.getRepository(EnvironmentEntity).findBy({ hostId: In(hosts.map((h) => h.id)), status: EnvironmentStatus.RUNNING }) : [];
    this.forgetGone(new Set(envs.map((e) => e.id)));
    const hostOf = new Map(hosts.map((h) => [h.id, h]));
    for (const env of envs) if (!this.inFlight.has(env.id)) void this.sampleEnvironment(env, hostOf.get(env.hostId)!);

    const observations: Observation[] = [...this.envObservations];
    this.envObservations = [];
    for (const s of samples) {
      pubSub.publish(Topic.HOST_METRICS, s.hostId, s);
      prometheus.observeHost(s);
      const metrics = flattenHost(s);
      history.record('HOST', s.hostId, now, metrics);
      observations.push({ targetType: 'HOST', targetId: s.hostId, groupId: null, siteId: s.siteId, at: now, metrics });
    }
    for (const siteId of new Set(hosts.map((h) => h.siteId))) {
      const site = aggregateSite(siteId, now, source, samples.filter((s) => s.siteId === siteId), [...this.latestEnv.values()].filter((e) => e.siteId === siteId));
      pubSub.publish(Topic.SITE_METRICS, siteId, site);
      const metrics = flattenSite(site);
      history.record('SITE', siteId, now, metrics);
      observations.push({ targetType: 'SITE', targetId: siteId, groupId: null, siteId, at: now, metrics });
    }
    await history.flush();
    await this.deps.alerts.evaluate(observations, now);
    if (++this.ticks % USAGE_FLUSH_TICKS === 0) await this.deps.usage.flush(now);
    if (now - this.lastDisk >= DISK_EVERY_MS && !this.measuringDisk) {
      this.lastDisk = now;
      this.measuringDisk = this.measureDisk(now, byAgent)
        .catch((e: unknown) => this.deps.logger.warn({ err: e }, 'disk usage measure failed'))
        .finally(() => (this.measuringDisk = undefined));
    }
    if (now - this.lastRetention >= RETENTION_EVERY_MS) {
      this.lastRetention = now;
      await history.enforceRetention(now);
    }
    return samples;
  }

  /**
   * An agent's sample of its machine, or undefined: when it is not connected, still answering the
   * previous tick's call, failing, or past its deadline (then its answer, if it comes, is dropped).
   */
  private async sampleAgent(agentId: string): Promise<MachineSample | undefined> {
    const agent = this.deps.agents.get(agentId);
    if (!agent || this.sampling.has(agentId)) return undefined;
    const timeoutMs = this.deps.hostSampleTimeoutMs ?? HOST_SAMPLE_TIMEOUT_MS;
    this.sampling.add(agentId);
    const call = agent.hostSample({}, callContext(agent, { timeoutMs })).finally(() => this.sampling.delete(agentId));
    try {
      return await within(call, timeoutMs, `hostSample of host agent ${agentId}`);
    } catch (e) {
      call.catch(() => undefined);
      this.deps.logger.debug({ err: e, agent: agentId }, 'host sample failed');
      return undefined;
    }
  }

  /**
   * Measures the disk each group's environments take on the hosts of every connected agent (what
   * their drivers report of their filesystems plus their volume directories, measured by each
   * host's own agent in one call) and hands it to the usage accountant. The hosts of an agent that
   * does not answer keep their previous measure. `known`: the hosts of connected agents, when the
   * caller has just read them.
   */
  async measureDisk(now = Date.now(), known?: Map<string, HostEntity[]>): Promise<void> {
    const { dataSource, agents, usage } = this.deps;
    const byAgent = known ?? (await this.connectedHosts());
    const hosts = [...byAgent.values()].flat();
    if (!hosts.length) return;
    const hostOf = new Map(hosts.map((h) => [h.id, h]));
    const envs = await dataSource.getRepository(EnvironmentEntity).findBy({ hostId: In(hosts.map((h) => h.id)), status: In(HOLDING_DISK) });
    const timeoutMs = this.deps.diskTimeoutMs ?? DISK_TIMEOUT_MS;
    const measured = new Map<string, number>();
    const unmeasured = new Set<string>();
    await Promise.all(
      [...byAgent.keys()].map(async (agentId) => {
        const agentHosts = new Set(byAgent.get(agentId)!.map((h) => h.id));
        const ids = envs.filter((e) => agentHosts.has(e.hostId)).map((e) => e.id);
        if (!ids.length) return;
        try {
          const agent = agents.get(agentId);
          if (!agent) throw new UnavailableError(`No host agent "${agentId}" is connected`, { agent: agentId });
          const bytes = await within(agent.volumesBytes({ environmentIds: ids }, callContext(agent, { timeoutMs })), timeoutMs, `volumesBytes of host agent ${agentId}`);
          for (const id of ids) measured.set(id, Number(bytes[id] ?? 0));
        } catch (e) {
          for (const h of agentHosts) unmeasured.add(h);
          this.deps.logger.warn({ err: e, agent: agentId }, 'could not measure the volumes of an agent: its hosts keep their previous disk measure');
        }
      }),
    );
    const byGroupHost = new Map<string, { groupId: string; hostId: string; siteId: string; bytes: number }>();
    // Every group that had disk here is measured again, so one that freed it all drops to 0.
    for (const key of this.diskGroups) {
      const [groupId, hostId] = key.split('|') as [string, string];
      const host = hostOf.get(hostId);
      if (host) byGroupHost.set(key, { groupId, hostId, siteId: host.siteId, bytes: 0 });
    }
    for (const env of envs) {
      const key = `${env.groupId}|${env.hostId}`;
      const entry = byGroupHost.get(key) ?? { groupId: env.groupId, hostId: env.hostId, siteId: hostOf.get(env.hostId)!.siteId, bytes: 0 };
      entry.bytes += (measured.get(env.id) ?? 0) + (this.diskUsed.get(env.id) ?? 0);
      byGroupHost.set(key, entry);
    }
    this.diskGroups = new Set(byGroupHost.keys());
    const holding = new Set(envs.map((e) => e.id));
    for (const id of this.diskUsed.keys()) if (!holding.has(id)) this.diskUsed.delete(id);
    for (const e of byGroupHost.values()) if (!unmeasured.has(e.hostId)) usage.observeDisk(e.groupId, e.hostId, e.siteId, e.bytes, now);
  }

  /** Asks the environment's driver for `stats` through its host's agent, then publishes the sample. */
  private async sampleEnvironment(env: EnvironmentEntity, host: HostEntity): Promise<void> {
    this.inFlight.add(env.id);
    const siteId = host.siteId;
    try {
      const agent = await this.deps.agents.forHost(host);
      const stats = await agent.environmentStats({ driver: env.driver, environmentId: env.id }, callContext(agent, { timeoutMs: STATS_TIMEOUT_MS }));
      const at = Number.isNaN(Date.parse(stats.at)) ? Date.now() : Date.parse(stats.at);
      const prev = this.latestEnv.get(env.id);
      const seconds = prev ? (at - prev.at) / 1000 : 0;
      const rate = (now: number, before: number | undefined) => (seconds > 0 && before !== undefined && now >= before ? (now - before) / seconds : 0);
      const sample: EnvironmentSample = {
        environmentId: env.id,
        groupId: env.groupId,
        hostId: env.hostId,
        siteId,
        at,
        source: this.deps.source,
        cpuSeconds: stats.cpuSeconds,
        cpuUsage: rate(stats.cpuSeconds, prev?.cpuSeconds),
        memoryBytes: stats.memoryBytes,
        memoryLimitBytes: stats.memoryLimitBytes ?? null,
        diskReadBytes: stats.diskReadBytes,
        diskWriteBytes: stats.diskWriteBytes,
        networkRxBytes: stats.networkRxBytes,
        networkTxBytes: stats.networkTxBytes,
        networkRxBytesPerSecond: rate(stats.networkRxBytes, prev?.networkRxBytes),
        networkTxBytesPerSecond: rate(stats.networkTxBytes, prev?.networkTxBytes),
        pids: stats.pids ?? null,
      };
      this.latestEnv.set(env.id, sample);
      if (stats.diskUsedBytes !== undefined) this.diskUsed.set(env.id, stats.diskUsedBytes);
      this.deps.pubSub.publish(Topic.ENVIRONMENT_METRICS, env.id, sample);
      this.deps.prometheus.observeEnvironment(sample);
      this.deps.usage.observe(sample);
      const metrics = flattenEnvironment(sample);
      this.deps.history.record('ENVIRONMENT', env.id, at, metrics);
      this.envObservations.push({ targetType: 'ENVIRONMENT', targetId: env.id, groupId: env.groupId, siteId, at, metrics });
    } catch (e) {
      this.deps.logger.debug({ err: e, environment: env.id }, 'environment stats failed');
    } finally {
      this.inFlight.delete(env.id);
    }
  }

  /** Drops what is kept about environments no longer running. */
  private forgetGone(running: Set<string>): void {
    for (const [id, s] of this.latestEnv) {
      if (running.has(id)) continue;
      this.latestEnv.delete(id);
      this.deps.usage.forget(id);
      this.deps.prometheus.forgetEnvironment(id, s.groupId);
    }
  }
}
