import { DataSource, In, Not, Repository } from 'typeorm';
import type { AgentLink } from '../agent/agent-link';
import { callContext } from '../agent/call-context';
import { LABEL_AGENT } from '../agent/environment-request';
import type { HostAgent } from '../agent/host-agent';
import type { FencedEnvironment, HeartbeatAnswer, HeartbeatRequest } from '../agent/protocol';
import { leaseUntil } from '../agent/remote/agent-lease';
import type { HeartbeatReceiver } from '../agent/remote/upstream-dispatcher';
import { TRANSITIONS } from '../environments';
import type { RspEvent } from '../events/events';
import { RspPubSub, Topic } from '../events/pubsub';
import type { Logger } from '../logging/logger';
import type { AlertEvaluator } from '../metrics/alert-evaluator';
import { AlertEntity, AlertState, EnvironmentEntity, EnvironmentStatus, HostEntity, HostState } from '../persistence/entities';
import { EntityStatements } from '../persistence/entity-statements';
import { inventoryChanged } from '../placement/inventory-changes';
import { AgentHeartbeats } from './agent-heartbeats';
import { FailoverScopes } from './failover-scopes';
import { DEFAULT_DETECTOR_SETTINGS, DetectorSettings, judgedSince, missedBeatsAllowed, silenceCutoff, staleCutoff } from './failure-detector';
import { PeriodicTask } from '../scheduling/periodic-task';

/** The metric name of the alert a DOWN host raises. */
export const HOST_DOWN_METRIC = 'heartbeatSilenceSeconds';

/**
 * The longest a beat waiting for its answer (its scope to read, a first write) waits for others
 * to join its batch: a tenth of a beat up to this (the default 1 s beat's tenth). A waiting beat
 * holds its agent's lease renewal, and the gateway's own start waits for its in-process agents'
 * first beats: with `RSP_HEARTBEAT_MS` at its 10-minute maximum a tenth was a minute of each.
 */
const WAITING_BEAT_GATHER_MS = 100;

/**
 * The UP hosts silent past the cutoff ($2) by what is written ($3, stale) or heard here ($4,
 * agents), and judged (last heard since $5, `judgedSince`, or heard here): the detector's read
 * without a lock, every beat.
 */
const DETECT_CANDIDATES =
  'SELECT h.agent FROM host h WHERE h.state = $1 AND h."lastHeartbeatAt" < $2 AND (h."lastHeartbeatAt" < $3 OR h.agent = ANY($4::varchar[])) AND (h."lastHeartbeatAt" >= $5 OR h.agent = ANY($4::varchar[]))';

/** Any number, the same in every gateway: the advisory lock only one gateway's detector holds per round. */
const DETECTOR_LOCK_KEY = 7_346_201_011;

/** What the failure detector tells failover about, and asks it. */
export interface FailoverHooks {
  /** A host was just marked DOWN (by this gateway, the mark written at `declaredAt`, ms): fail its environments over. */
  hostDown(host: HostEntity, declaredAt?: number): Promise<void>;
  /** True while environments of the host are being failed over (it must not come back UP meanwhile). */
  inProgress(hostId: string): Promise<boolean>;
  /** Starts again, on its own (UP) host, an environment its agent self-fenced that was not failed over. */
  resumeFenced(env: EnvironmentEntity, host: HostEntity): Promise<void>;
}

/** What one round of the detector did. */
export interface HealthRound {
  /** Hosts marked DOWN this round. */
  down: HostEntity[];
  /** Hosts brought back UP this round, with the environments the split-brain guard removed from each. */
  up: Array<{ host: HostEntity; removed: string[] }>;
}

/**
 * Heartbeats, failure detection and fencing. Agents push their heartbeats (`receiveHeartbeat`:
 * remote agents over their connection, in-process ones through the gateway's `InProcessHeartbeats`),
 * each answered with a lease that ends before the host could be declared DOWN. A host is UNKNOWN
 * until its agent's first heartbeat, then UP; an UP host silent past `downAfterMs` is marked DOWN
 * — one gateway at a time, under an advisory lock, with a HOST event and an alert — and failover
 * is told; a host last heard before this gateway started is not judged during the restart grace
 * after it (`judgedSince`: its agent's reconnection backoff grew while the gateway was away; a
 * restart must not fail every host over). A DOWN host is fenced (the agent link refuses it work). When its
 * agent beats again, the split-brain guard first stops and removes every environment it made that its engines
 * run that the database now places on a host of another agent; only then is the host UP again.
 * Environments an agent self-fenced are resumed where they were not failed over.
 */
export class HostHealthService implements HeartbeatReceiver {
  private readonly hosts: Repository<HostEntity>;
  /** The round's read of hosts, written out once (it runs every beat). */
  private readonly hostRows: EntityStatements<HostEntity>;
  /** When this gateway started its rounds (ms; undefined before `start`): the restart grace counts from it. */
  private started: number | undefined;
  /** Per agent: environments it reported self-fenced, not settled yet. */
  private readonly fencedReports = new Map<string, Map<string, FencedEnvironment>>();
  /** Per agent: ids of its fenced environments settled here, to acknowledge on its next beat. */
  private readonly settled = new Map<string, Set<string>>();
  private readonly environments: Repository<EnvironmentEntity>;
  private rounds: PeriodicTask | undefined;
  private hooks: FailoverHooks | undefined;
  /** When `detect` wrote each host's DOWN mark (ms): failover times count from it. */
  private readonly declaredAt = new WeakMap<HostEntity, number>();
  /** Beats received and not written yet, per agent. */
  private pendingBeats = new Map<string, QueuedBeat>();
  /** True while a batch of beats is being written (new ones join the next batch). */
  private writing = false;
  /** The next batch, while it gathers beats, and when it is due (ms). */
  private batchTimer: NodeJS.Timeout | undefined;
  private batchDue = Infinity;
  /** Settles once the beats being written are (see `stop`). */
  private beatsWritten: Promise<void> = Promise.resolve();
  /** True while writing beats fails (logged once per outage). */
  private writeFailing = false;
  /** Each agent's failover scope, answered from memory while nothing moved it. */
  private readonly scopes = new FailoverScopes();
  /** Hosts whose agent is being looked up (for an event about a host not known here). */
  private readonly lookingUp = new Set<string>();

  constructor(
    private readonly dataSource: DataSource,
    private readonly agents: AgentLink,
    private readonly pubSub: RspPubSub,
    private readonly alerts: AlertEvaluator,
    private readonly logger: Logger,
    readonly settings: DetectorSettings = DEFAULT_DETECTOR_SETTINGS,
    /** When each agent was last heard here (shared with the site service). */
    readonly beats: AgentHeartbeats = new AgentHeartbeats(settings, (agentId) => agents.get(agentId) !== undefined),
  ) {
    this.hosts = dataSource.getRepository(HostEntity);
    this.hostRows = new EntityStatements(dataSource, HostEntity);
    this.environments = dataSource.getRepository(EnvironmentEntity);
    // What moves a failover scope, on any replica: an environment's status or host, a policy's auto-failover.
    pubSub.listen(Topic.EVENT, undefined, (e) => e.kind === 'ENVIRONMENT' && e.environment && this.scopeMoved(e.environment.hostId));
    pubSub.listen(Topic.FAILOVER_SCOPE_CHANGED, undefined, (hostId) => this.scopeMoved(hostId));
    // An agent that joins the link (a remote one once its opening calls are done, though it beat
    // before) has its next beat written as a first one: its UNKNOWN hosts are UP with it.
    agents.onChange((agentId, connected) => (connected ? this.beats.rewrite(agentId) : this.scopes.forget(agentId)));
  }

  /** Connects failover (set once the failover service exists). */
  useFailover(hooks: FailoverHooks): void {
    this.hooks = hooks;
  }

  /** When the rounds first started (ms), or undefined before: the restart grace counts from it. */
  get startedAt(): number | undefined {
    return this.started;
  }

  /** Detects every `heartbeatMs` until `stop`; the first start opens the restart grace (agents reconnect meanwhile). */
  start(): void {
    // A round starts once this turn of the event loop has read its I/O (`setImmediate` runs after it): after a stall of the
    // gateway's own the timer fires before the beats agents sent meanwhile are read, and would judge them silent.
    this.rounds ??= new PeriodicTask('heartbeat round', () => new Promise((resolve) => setImmediate(resolve)).then(() => this.tick()), this.logger);
    if (this.rounds.started) return;
    this.started ??= Date.now();
    this.rounds.start(this.settings.heartbeatMs);
  }

  /** Stops the rounds and waits for the one in progress; the beats gathering for a batch are written now. */
  async stop(): Promise<void> {
    await this.rounds?.stop();
    if (this.batchTimer) this.writeNextBatch();
    await this.beatsWritten;
  }

  /**
   * One round: the DOWN hosts of every connected agent heard lately go through the guard, silent
   * hosts are marked DOWN (those heard before the start only after the restart grace), environments agents self-fenced are settled.
   */
  async tick(now = Date.now()): Promise<HealthRound> {
    const round: HealthRound = { down: [], up: [] };
    const live = new Set(this.agents.connected().filter((id) => this.beats.isLive(id, now)));
    // One query for the DOWN and UNKNOWN hosts (few), of which those of live agents are kept.
    const waiting = live.size ? (await this.hostRows.where('t.state = ANY($1)', [[HostState.DOWN, HostState.UNKNOWN]])).filter((h) => live.has(h.agent)) : [];
    // An UNKNOWN host of a live agent (registered on another replica) is UP with its agent's next beat, which is written for it.
    for (const host of waiting) if (host.state === HostState.UNKNOWN) this.scopes.mark(host.agent);
    const returning = waiting.filter((h) => h.state === HostState.DOWN);
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
      await this.hooks?.hostDown(host, this.declaredAt.get(host)).catch((e: unknown) => this.logger.error({ err: e, host: host.hostname }, 'failover of a DOWN host failed to start'));
    }
    await this.settleFenced().catch((e: unknown) => this.logger.warn({ err: e }, 'settling self-fenced environments failed'));
    return round;
  }

  /**
   * A heartbeat pushed by `agentId`: its hosts that are not DOWN were heard now (an UNKNOWN one,
   * never heard before, is UP from now — event and log — once the agent is in the agent link: a
   * remote agent beats from its welcome on, before its opening calls are done, and no host is UP
   * before work sent to it can reach its agent); a DOWN one comes back through `recover`.
   * The environments it reports self-fenced are noted, and those settled acknowledged. The answer
   * carries its lease (`leaseUntil`): at once when the agent's failover scope is known here (most
   * beats: no promise, no microtask), else once the batch that reads it is written.
   */
  receiveHeartbeat(agentId: string, beat: HeartbeatRequest, now = Date.now()): HeartbeatAnswer | Promise<HeartbeatAnswer> {
    this.beats.record(agentId, now);
    const scope = this.failoverScope(agentId, now);
    const answer = (failover: string[]): HeartbeatAnswer => {
      const acknowledged = beat.fenced.length ? this.noteFenced(agentId, beat.fenced) : [];
      return { leaseUntil: leaseUntil(beat.sentAt, this.settings), heartbeatMs: this.settings.heartbeatMs, downAfterMs: this.settings.downAfterMs, acknowledged, failover };
    };
    return Array.isArray(scope) ? answer(scope) : scope.then(answer);
  }

  /** Notes the environments `agentId` reports self-fenced; answers the ids of those settled here, which it may forget. */
  private noteFenced(agentId: string, fenced: FencedEnvironment[]): string[] {
    const reports = this.fencedReports.get(agentId) ?? new Map<string, FencedEnvironment>();
    const settled = this.settled.get(agentId) ?? new Set<string>();
    const acknowledged: string[] = [];
    for (const f of fenced) {
      if (settled.has(f.id)) acknowledged.push(f.id);
      else if (!reports.has(f.id)) {
        this.logger.warn({ agent: agentId, environment: f.id, driver: f.driver, fencedAt: new Date(f.at).toISOString() }, 'an agent reports an environment it self-fenced');
        reports.set(f.id, f);
      }
    }
    for (const id of acknowledged) settled.delete(id);
    if (reports.size) this.fencedReports.set(agentId, reports);
    if (settled.size) this.settled.set(agentId, settled);
    else this.settled.delete(agentId);
    return acknowledged;
  }

  /**
   * The failover scope of `agentId`, whose beat was heard `at`: from memory while nothing moved it
   * (`FailoverScopes`), else read with the next batch of beats, which this beat waits for. A beat
   * due a write (`AgentHeartbeats.dueWrite`) answered from memory is written with a later batch,
   * gathered for up to a beat, without waiting for it (the scope is then returned as it is, not as a promise).
   */
  private failoverScope(agentId: string, at: number): string[] | Promise<string[]> {
    const write = this.beats.dueWrite(agentId, at);
    const known = this.scopes.fresh(agentId);
    // A first write (a host registered UNKNOWN meanwhile, see `AgentHeartbeats.rewrite`) is waited for: it brings hosts UP.
    if (known && !(write && this.beats.firstWrite(agentId))) {
      if (write) this.queue(agentId, at, write);
      return known;
    }
    return new Promise((resolve, reject) => this.queue(agentId, at, write, { resolve, reject }));
  }

  /**
   * Queues `agentId`'s beat heard `at` for a batch. The beats that arrive within a tenth of a beat
   * (at most `WAITING_BEAT_GATHER_MS`) of one that waits for its scope, or while a batch is
   * written, go together: one statement however many agents beat. Beats that only need writing
   * gather for a beat.
   */
  private queue(agentId: string, at: number, write: boolean, waiter?: BeatWaiter): void {
    const queued = this.pendingBeats.get(agentId);
    if (queued) {
      queued.at = Math.max(queued.at, at);
      queued.write ||= write;
      if (waiter) queued.waiters.push(waiter);
    } else this.pendingBeats.set(agentId, { at, write, waiters: waiter ? [waiter] : [] });
    this.scheduleBatch(waiter ? Math.min(this.settings.heartbeatMs / 10, WAITING_BEAT_GATHER_MS) : this.settings.heartbeatMs);
  }

  /** Writes the queued beats in `delayMs` at the latest; a batch being written schedules the next as it ends. */
  private scheduleBatch(delayMs: number): void {
    if (this.writing) return;
    const due = Date.now() + delayMs;
    if (this.batchTimer && due >= this.batchDue) return;
    clearTimeout(this.batchTimer);
    this.batchDue = due;
    this.batchTimer = setTimeout(() => this.writeNextBatch(), delayMs);
    this.batchTimer.unref();
  }

  /** Writes the queued beats as one batch; then schedules the beats queued meanwhile (at once when one waits). */
  private writeNextBatch(): void {
    clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    this.batchDue = Infinity;
    this.writing = true;
    const batch = this.pendingBeats;
    this.pendingBeats = new Map();
    this.beatsWritten = this.writeBatch(batch).finally(() => {
      this.writing = false;
      if (!this.pendingBeats.size) return;
      const waiting = [...this.pendingBeats.values()].some((q) => q.waiters.length);
      this.scheduleBatch(waiting ? 0 : this.settings.heartbeatMs);
    });
  }

  /** An environment of `hostId` changed status or host, or a policy its auto-failover: its agent's scope is read again. */
  private scopeMoved(hostId: string): void {
    const agentId = this.scopes.agentOf(hostId);
    if (agentId) return this.scopes.mark(agentId);
    // A host not known here (new, or of an agent not heard here): every scope is read again, and its agent learnt for next time.
    this.scopes.markAll();
    if (this.lookingUp.has(hostId)) return;
    this.lookingUp.add(hostId);
    void this.hosts
      .findOne({ select: { id: true, agent: true }, where: { id: hostId } })
      .then((host) => host && this.scopes.learn(host.id, host.agent))
      .catch((e: unknown) => this.logger.warn({ err: e, hostId }, 'could not look up the agent of a host'))
      .finally(() => this.lookingUp.delete(hostId));
  }

  /**
   * One statement for a batch of beats: the hosts of the agents heard, written heard when the
   * beat is due a write (`AgentHeartbeats.dueWrite`) or the host is UNKNOWN and its agent is in
   * the agent link (then UP from now: event and log; an agent not in it yet stays UNKNOWN, and its
   * first beat once it joins is written as a first one), and the environments on their hosts failover would restart elsewhere (a
   * status failover brings back, a policy with auto-failover, as `FailoverService.hostDown` picks
   * them) — what each agent self-fences, kept in memory with its hosts' ids (`FailoverScopes`).
   * The beats of an agent that left this gateway since
   * (its connection closed, it was cut off) are dropped: its hosts are not written heard after
   * it left. No row is locked before it is written (`FOR UPDATE` made each written host cost a
   * lock and then an update: most of the statement's time in EXPLAIN ANALYZE on PGlite): the UNKNOWN hosts
   * and the others not DOWN are two UPDATEs whose conditions each row re-checks on its newest
   * version, so a host marked DOWN meanwhile is not written and an UNKNOWN one is brought UP once.
   */
  private async writeBatch(batch: Map<string, QueuedBeat>): Promise<void> {
    const beats = [...batch].filter(([agentId, queued]) => {
      if (this.beats.lastHeard(agentId) !== undefined) return true;
      for (const waiter of queued.waiters) waiter.resolve([]);
      return false;
    });
    if (!beats.length) return;
    const readAt = this.scopes.now();
    try {
      const [result] = (await this.dataSource.query(
        `WITH beat AS (SELECT * FROM unnest($1::varchar[], $2::timestamptz[], $${FAILOVER_FROM.length + 6}::bool[], $${FAILOVER_FROM.length + 7}::bool[]) AS b(agent, at, write, usable)),
         up AS (UPDATE host h SET "lastHeartbeatAt" = b.at, state = $5 FROM beat b WHERE b.agent = h.agent AND h.state = $4 AND b.usable
           RETURNING h.id, h.agent, h.hostname, h."siteId", h."lastHeartbeatAt"),
         heard AS (UPDATE host h SET "lastHeartbeatAt" = b.at FROM beat b WHERE b.agent = h.agent AND b.write AND h.state <> $3 AND h.state <> $4)
         SELECT (SELECT coalesce(json_agg(up), '[]'::json) FROM up) AS up,
                (SELECT coalesce(json_agg(json_build_array(h.agent, e.id) ORDER BY e.id), '[]'::json)
                  FROM environment e JOIN host h ON h.id = e."hostId" JOIN beat b ON b.agent = h.agent
                  WHERE e.status IN (${FAILOVER_FROM.map((_, i) => `$${i + 6}`).join(', ')})
                    AND EXISTS (SELECT 1 FROM replication_policy p WHERE p."environmentId" = e.id AND p."autoFailover")) AS failover,
                (SELECT coalesce(json_agg(json_build_array(h.agent, h.id)), '[]'::json) FROM host h JOIN beat b ON b.agent = h.agent) AS hosts`,
        [beats.map(([agentId]) => agentId), beats.map(([, queued]) => new Date(queued.at).toISOString()), HostState.DOWN, HostState.UNKNOWN, HostState.UP, ...FAILOVER_FROM, beats.map(([, queued]) => queued.write), beats.map(([agentId]) => this.beats.usable(agentId))],
      )) as Array<{ up: BeatRow[]; failover: Array<[string, string]>; hosts: Array<[string, string]> }>;
      for (const [agentId, queued] of beats) if (queued.write) this.beats.wrote(agentId, queued.at);
      for (const row of result?.up ?? []) {
        this.logger.info({ host: row.hostname, agent: row.agent }, "first heartbeat of the host's agent: host UP");
        const at = new Date(row.lastHeartbeatAt);
        this.publishHost({ id: row.id, hostname: row.hostname, siteId: row.siteId, state: HostState.UP, lastHeartbeatAt: at }, at.getTime());
      }
      const failover = new Map<string, string[]>();
      for (const [agentId, environmentId] of result?.failover ?? []) failover.set(agentId, [...(failover.get(agentId) ?? []), environmentId]);
      const hosts = new Map<string, string[]>();
      for (const [agentId, hostId] of result?.hosts ?? []) hosts.set(agentId, [...(hosts.get(agentId) ?? []), hostId]);
      for (const [agentId, queued] of beats) {
        const scope = failover.get(agentId) ?? [];
        if (this.beats.lastHeard(agentId) !== undefined) this.scopes.store(agentId, scope, hosts.get(agentId) ?? [], readAt);
        for (const waiter of queued.waiters) waiter.resolve(scope);
      }
      if (this.writeFailing) this.logger.info('heartbeats are written again');
      this.writeFailing = false;
    } catch (e) {
      if (!this.writeFailing) this.logger.warn({ err: e }, 'could not write a batch of heartbeats; the beats waiting for it are answered with the error');
      this.writeFailing = true;
      for (const [, queued] of beats) for (const waiter of queued.waiters) waiter.reject(e);
    }
  }


  /**
   * Settles the environments agents reported self-fenced: one failed over (its record is on a host
   * of another agent) or gone is not started again; one still on its UP host, meant to run, is
   * resumed there (`environment.resume`); one whose host is not UP yet, or whose failover runs,
   * waits. A settled one is acknowledged on the agent's next beat.
   */
  async settleFenced(): Promise<void> {
    for (const [agentId, reports] of this.fencedReports) {
      for (const f of [...reports.values()]) {
        if (!(await this.settleOne(agentId, f))) continue;
        reports.delete(f.id);
        const settled = this.settled.get(agentId) ?? new Set<string>();
        settled.add(f.id);
        this.settled.set(agentId, settled);
      }
      if (!reports.size) this.fencedReports.delete(agentId);
    }
  }

  /** Ids of the environments `agentId` reported self-fenced that are not settled yet. */
  fencedPending(agentId: string): string[] {
    return [...(this.fencedReports.get(agentId)?.keys() ?? [])];
  }

  /** Settles one fenced environment; false when it must wait. */
  private async settleOne(agentId: string, f: FencedEnvironment): Promise<boolean> {
    const env = await this.environments.findOneBy({ id: f.id });
    if (!env || env.status === EnvironmentStatus.DESTROYED) return true;
    const host = await this.hosts.findOneBy({ id: env.hostId });
    if (!host || host.agent !== agentId) {
      this.logger.warn({ agent: agentId, environment: env.id, now: env.hostId }, 'a self-fenced environment was failed over: it is not started again where it was fenced');
      return true;
    }
    if (env.status === EnvironmentStatus.FAILING_OVER || host.state !== HostState.UP || !this.beats.isLive(agentId) || !this.hooks) return false;
    if (env.status !== EnvironmentStatus.RUNNING) return true;
    await this.hooks.resumeFenced(env, host);
    return true;
  }

  /**
   * Marks DOWN every UP host silent past the threshold (none before `start`, nor, during the restart
   * grace after it, one last heard before it — `judgedSince` — unless this gateway heard its agent
   * since): judged from memory for agents this gateway heard (a live one's hosts are
   * never DOWN, its beats being written only every `heardWriteEveryMs`), from the written
   * `lastHeartbeatAt` with that much more allowance for the others (`staleCutoff`), in one transaction under an advisory lock
   * (another gateway running the same round finds it taken and leaves the hosts to the winner),
   * once a read without the lock found a candidate. Publishes a HOST event and raises an alert per host. Returns the hosts it marked.
   */
  async detect(now = Date.now()): Promise<HostEntity[]> {
    if (this.started === undefined) return [];
    const cutoff = silenceCutoff(now, this.settings);
    const since = judgedSince(now, this.started, this.settings);
    // First, without a lock or a transaction, whether any host is a candidate at all (in a steady state none is).
    const liveNow = new Set(this.agents.connected().filter((id) => this.beats.isLive(id, now)));
    const candidates = (await this.dataSource.query(DETECT_CANDIDATES, [HostState.UP, cutoff, staleCutoff(now, this.settings), this.beats.silentSince(cutoff.getTime()), since])) as Array<Pick<HostEntity, 'agent'>>;
    if (!candidates.some((h) => !liveNow.has(h.agent))) return [];
    const marked = await this.dataSource.transaction(async (m) => {
      const [lock] = (await m.query('SELECT pg_try_advisory_xact_lock($1) AS locked', [DETECTOR_LOCK_KEY])) as Array<{ locked: boolean }>;
      if (!lock?.locked) return [] as HostEntity[];
      // An agent this gateway heard lately is live, whatever is written; one it heard last before
      // the cutoff is silent; of the others, only what is written is known (`staleCutoff`).
      const liveHere = this.agents.connected().filter((id) => this.beats.isLive(id, now));
      const silentHere = this.beats.silentSince(cutoff.getTime());
      const silent = await m
        .getRepository(HostEntity)
        .createQueryBuilder('h')
        .where('h.state = :up AND h."lastHeartbeatAt" IS NOT NULL AND h."lastHeartbeatAt" < :cutoff AND NOT (h.agent = ANY(CAST(:liveHere AS varchar[])))', { up: HostState.UP, cutoff, liveHere })
        .andWhere('(h."lastHeartbeatAt" < :stale OR h.agent = ANY(CAST(:silentHere AS varchar[])))', { stale: staleCutoff(now, this.settings), silentHere })
        .andWhere('(h."lastHeartbeatAt" >= :since OR h.agent = ANY(CAST(:silentHere AS varchar[])))', { since })
        .setLock('pessimistic_write')
        .getMany();
      if (silent.length) await m.getRepository(HostEntity).update({ id: In(silent.map((h) => h.id)) }, { state: HostState.DOWN });
      return silent.map((h) => Object.assign(h, { state: HostState.DOWN }));
    });
    const declaredAt = Date.now();
    for (const host of marked) this.declaredAt.set(host, declaredAt);
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
   * The split-brain guard: stops and removes every environment `agent` made (its `LABEL_AGENT`
   * mark, or none: made before the mark) that its drivers run and the database places on a host
   * served by another agent (it was failed over or migrated while this agent was cut off).
   * Environments the database does not know, and those another agent made on a shared engine
   * (another replica's in-process agent, with the same owner), are left alone. Returns their ids.
   */
  async guard(agent: HostAgent): Promise<string[]> {
    const mine = new Set((await this.hosts.findBy({ agent: agent.id })).map((h) => h.id));
    const removed: string[] = [];
    for (const driver of (await agent.drivers()).filter((d) => d.available)) {
      const listed = await agent.listEnvironments({ driver: driver.name }, callContext(agent));
      const running = listed.filter((r) => (r.labels?.[LABEL_AGENT] ?? agent.id) === agent.id);
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

  /** Tells of a host's new state: a HOST event, and the placement pictures (`inventoryChanged`). */
  private publishHost(host: Pick<HostEntity, 'id' | 'hostname' | 'siteId' | 'state' | 'lastHeartbeatAt'>, now: number): void {
    inventoryChanged(this.dataSource, [host.id]);
    const event: RspEvent = { kind: 'HOST', at: now, groupId: null, siteId: host.siteId, host: { id: host.id, hostname: host.hostname, state: host.state, lastHeartbeatAt: host.lastHeartbeatAt?.toISOString() ?? null } };
    this.pubSub.publish(Topic.EVENT, event);
  }
}

/** Statuses of environments failover brings back (with an auto-failover policy, they are self-fenced). */
const FAILOVER_FROM: readonly EnvironmentStatus[] = TRANSITIONS.failover.from;

/** A host a batch of heartbeats brought UP (it was UNKNOWN), as the UPDATE … RETURNING gives it (JSON: ids, states and times are strings). */
interface BeatRow {
  id: string;
  agent: string;
  hostname: string;
  siteId: string;
  lastHeartbeatAt: string;
}

/** A beat waiting for its agent's failover scope. */
interface BeatWaiter {
  resolve(failover: string[]): void;
  reject(e: unknown): void;
}

/** An agent's beat waiting for the next write: when it was heard (the latest of its beats queued) and who waits for the outcome. */
interface QueuedBeat {
  at: number;
  /** Whether its hosts are to be written heard (not only those UNKNOWN). */
  write: boolean;
  /** The beats waiting for its scope (none when it was answered from memory). */
  waiters: BeatWaiter[];
}

