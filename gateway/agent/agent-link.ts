import { UnavailableError } from '../errors';
import { HostState, type HostEntity } from '../persistence/entities';
import type { HostAgent } from './host-agent';

/**
 * How the gateway reaches an agent: `in-process` (the gateway's own `local` and the `RSP_AGENTS`
 * extras, whose heartbeats the gateway pushes for them through the same receiver) or `remote`
 * (`rsp agent` over WebSocket, which pushes its own).
 */
export type AgentReach = 'in-process' | 'remote';

/**
 * Finds the agent that serves a host. Embedded mode has the in-process agent (`local`) and any
 * extra in-process agents the configuration names (`RSP_AGENTS`); remote agents are here while
 * their connection is open. An agent can be disconnected (its host is lost: no calls, no
 * heartbeats) and connected again.
 */
export class AgentLink {
  private readonly agents = new Map<string, HostAgent>();
  private readonly disconnected = new Map<string, HostAgent>();
  private readonly reach = new Map<string, AgentReach>();

  /** Makes an agent reachable under its id. */
  add(agent: HostAgent, reach: AgentReach = 'in-process'): void {
    this.disconnected.delete(agent.id);
    this.agents.set(agent.id, agent);
    this.reach.set(agent.id, reach);
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
   * The agent of `host`, or UNAVAILABLE when none is connected. A DOWN host is fenced: the
   * gateway sends it no work until the failure detector has let it back UP.
   */
  forHost(host: Pick<HostEntity, 'id' | 'hostname' | 'agent' | 'state'>): HostAgent {
    if (host.state === HostState.DOWN) throw new UnavailableError(`Host ${host.hostname} is DOWN (fenced): it gets no work until it is back UP`, { hostId: host.id, agent: host.agent });
    const agent = this.agents.get(host.agent);
    if (!agent) throw new UnavailableError(`No host agent "${host.agent}" is connected for host ${host.hostname}`, { hostId: host.id, agent: host.agent });
    return agent;
  }

  /** A connected agent by id, whatever its hosts' state (the failure detector's way in). */
  get(id: string): HostAgent | undefined {
    return this.agents.get(id);
  }

  /** Ids of the connected agents. */
  connected(): string[] {
    return [...this.agents.keys()];
  }

  /** Removes `agent` (a remote agent whose connection closed), unless another connection of its id replaced it. */
  remove(id: string, agent: HostAgent): void {
    if (this.agents.get(id) === agent) this.agents.delete(id);
  }

  /** Cuts an agent off, as if its host were lost: it gets no calls and sends no heartbeats. */
  disconnect(id: string): void {
    const agent = this.agents.get(id);
    if (!agent) throw new UnavailableError(`No host agent "${id}" is connected`, { agent: id });
    this.agents.delete(id);
    this.disconnected.set(id, agent);
  }

  /** Connects a disconnected agent again; its hosts come back UP through the split-brain guard. */
  reconnect(id: string): void {
    const agent = this.disconnected.get(id);
    if (!agent) throw new UnavailableError(`No host agent "${id}" was disconnected`, { agent: id });
    this.add(agent);
  }

  /** The in-process agent, when this gateway runs one. */
  get local(): HostAgent | undefined {
    return this.agents.get('local');
  }
}
