import { UnavailableError } from '../errors';
import type { HostEntity } from '../persistence/entities';
import type { HostAgent } from './host-agent';

/** Finds the agent that serves a host. Embedded mode has one: the in-process agent (`local`). */
export class AgentLink {
  private readonly agents = new Map<string, HostAgent>();

  /** Makes an agent reachable under its id. */
  add(agent: HostAgent): void {
    this.agents.set(agent.id, agent);
  }

  /** The agent of `host`, or UNAVAILABLE when none is connected. */
  forHost(host: Pick<HostEntity, 'id' | 'hostname' | 'agent'>): HostAgent {
    const agent = this.agents.get(host.agent);
    if (!agent) throw new UnavailableError(`No host agent "${host.agent}" is connected for host ${host.hostname}`, { hostId: host.id, agent: host.agent });
    return agent;
  }

  /** The in-process agent, when this gateway runs one. */
  get local(): HostAgent | undefined {
    return this.agents.get('local');
  }
}
