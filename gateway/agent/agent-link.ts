import { UnavailableError } from '../errors';
import { HostState, type HostEntity } from '../persistence/entities';
import type { HostAgent } from './host-agent';

/** Reaches an agent connected to another gateway replica (see `gateway/agent/replicas`). */
export type ElsewhereResolver = (agentId: string) => HostAgent | undefined;

/**
 * Waits, for a bounded time, until an agent connected to another gateway replica is known here
 * (its replica's announcement may still be on its way), and reaches it; undefined when none is
 * known by then.
 */
export type ElsewhereWaiter = (agentId: string) => Promise<HostAgent | undefined>;

/**
 * Whether an agent connected to no replica known here yet may be in a moment (`arriving`: its
 * replica's announcement is plausibly on its way) or is known to be connected nowhere (`gone`).
 */
export type ElsewherePresence = (agentId: string) => 'arriving' | 'gone';

/**
 * Where an agent stands for this gateway: `connected` (here, or to another replica known here),
 * `arriving` (with several replicas: an announcement that it is connected is plausibly on its way,
 * see `AgentDirectory.presence`), `gone` (connected nowhere as far as this gateway knows).
 */
export type AgentPresence = 'connected' | 'arriving' | 'gone';

/**
 * How the gateway reaches an agent: `in-process` (the gateway's own `local` and the `RSP_AGENTS`
 * extras, whose heartbeats the gateway pushes for them through the same receiver) or `remote`
 * (`rsp agent` over WebSocket, which pushes its own).
 */
export type AgentReach = 'in-process' | 'remote';

/**
 * Finds the agent that serves a host. Embedded mode has the in-process agent (`localId`, `local`
 * unless `RSP_LOCAL_AGENT_ID` names it) and any extra in-process agents the configuration names
 * (`RSP_AGENTS`); remote agents join while connected to this gateway, and with several gateway
 * replicas the agents connected to the others are reached through the call relay. An agent can
 * be disconnected (its host is lost: no calls, no heartbeats) and connected again.
 */
export class AgentLink {
  private readonly agents = new Map<string, HostAgent>();
  private readonly disconnected = new Map<string, HostAgent>();
  private readonly reach = new Map<string, AgentReach>();
  private readonly changeListeners: Array<(agentId: string, connected: boolean) => void> = [];
  private elsewhere: ElsewhereResolver | undefined;
  private waitElsewhere: ElsewhereWaiter | undefined;
  private presenceElsewhere: ElsewherePresence | undefined;

  constructor(
    /** The id of this gateway's in-process agent. */
    readonly localId = 'local',
  ) {}

  /** Makes an agent reachable under its id. */
  add(agent: HostAgent, reach: AgentReach = 'in-process'): void {
    this.disconnected.delete(agent.id);
    this.agents.set(agent.id, agent);
    this.reach.set(agent.id, reach);
    this.changed(agent.id, true);
  }

  /** Ids of the connected in-process agents (whose heartbeats the gateway pushes for them). */
  inProcess(): string[] {
    return this.connected().filter((id) => this.reach.get(id) === 'in-process');
  }

  /** How a connected agent is reached, or undefined when it is not connected. */
  reachOf(id: string): AgentReach | undefined {
    return this.agents.has(id) ? this.reach.get(id) : undefined;
  }

  /**
   * Reaches agents connected to other gateway replicas through `resolver` when none of that id is
   * connected here; `soon` (and `forHost`) waits through `waiter` for one `presence` says is arriving.
   */
  useReplicas(resolver: ElsewhereResolver, waiter?: ElsewhereWaiter, presence?: ElsewherePresence): void {
    this.elsewhere = resolver;
    this.waitElsewhere = waiter;
    this.presenceElsewhere = presence;
  }

  /** Calls `listener` whenever an agent joins (`true`) or leaves (`false`) this gateway. */
  onChange(listener: (agentId: string, connected: boolean) => void): void {
    this.changeListeners.push(listener);
  }

  /** The agent `id` connected here, else through another gateway replica; undefined when none is connected anywhere. */
  reachable(id: string): HostAgent | undefined {
    return this.agents.get(id) ?? this.elsewhere?.(id);
  }

  /**
   * Where agent `id` stands, without waiting: what a scheduler or a periodic check reads to pass
   * over a host at once only when its agent is `gone`, and to count an `arriving` one as reachable
   * soon (`soon` then reaches it). A single gateway (no replicas) knows only its own agents.
   */
  presence(id: string): AgentPresence {
    if (this.reachable(id)) return 'connected';
    return this.presenceElsewhere?.(id) ?? 'gone';
  }

  /**
   * The agent `id` now when it is connected, once announced when it is `arriving` (a bounded wait,
   * see `joinReplicas`), undefined at once when it is `gone`.
   */
  async soon(id: string): Promise<HostAgent | undefined> {
    const agent = this.reachable(id);
    if (agent || this.presence(id) === 'gone') return agent;
    return this.waitElsewhere?.(id);
  }

  /**
   * The agent of `host`, or UNAVAILABLE when none is connected. A DOWN host is fenced: the
   * gateway sends it no work until the failure detector has let it back UP. With several gateway
   * replicas, an agent `arriving` (see `presence`) is waited for a short while (see `joinReplicas`):
   * one that has just connected to another replica is reached once its announcement arrives,
   * instead of the call answering UNAVAILABLE meanwhile; one known `gone` answers UNAVAILABLE at once.
   */
  async forHost(host: Pick<HostEntity, 'id' | 'hostname' | 'agent' | 'state'>): Promise<HostAgent> {
    if (host.state === HostState.DOWN) throw new UnavailableError(`Host ${host.hostname} is DOWN (fenced): it gets no work until it is back UP`, { hostId: host.id, agent: host.agent });
    const agent = await this.soon(host.agent);
    if (!agent) throw new UnavailableError(`No host agent "${host.agent}" is connected for host ${host.hostname}`, { hostId: host.id, agent: host.agent });
    return agent;
  }

  /** An agent connected to this gateway by id, whatever its hosts' state (the failure detector's way in). */
  get(id: string): HostAgent | undefined {
    return this.agents.get(id);
  }

  /** Ids of the agents connected to this gateway. */
  connected(): string[] {
    return [...this.agents.keys()];
  }

  /** Removes `agent` (a remote agent whose connection closed), unless another connection of its id replaced it. */
  remove(id: string, agent: HostAgent): void {
    if (this.agents.get(id) !== agent) return;
    this.agents.delete(id);
    this.changed(id, false);
  }

  /** Cuts an agent off, as if its host were lost: it gets no calls and sends no heartbeats. */
  disconnect(id: string): void {
    const agent = this.agents.get(id);
    if (!agent) throw new UnavailableError(`No host agent "${id}" is connected`, { agent: id });
    this.agents.delete(id);
    this.disconnected.set(id, agent);
    this.changed(id, false);
  }

  /** Connects a disconnected agent again; its hosts come back UP through the split-brain guard. */
  reconnect(id: string): void {
    const agent = this.disconnected.get(id);
    if (!agent) throw new UnavailableError(`No host agent "${id}" was disconnected`, { agent: id });
    this.add(agent, this.reach.get(id) ?? 'in-process');
  }

  /** The in-process agent, when this gateway runs one. */
  get local(): HostAgent | undefined {
    return this.agents.get(this.localId);
  }

  private changed(agentId: string, connected: boolean): void {
    for (const listener of this.changeListeners) listener(agentId, connected);
  }
}
