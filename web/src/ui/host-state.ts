/**
 * How the dashboard words a host's state and its agent's connection. Plain text, no DOM, so the
 * wording is unit tested: a host is only ever called up when its state is UP.
 */
import type { AgentConnectionState, HostState } from '../api/queries';
import { ago } from './format';

/** The agent fields the dashboard shows (Host.agentConnection). */
export interface AgentSummary {
  agentId: string;
  state: AgentConnectionState;
  version?: string | null;
  lastHeartbeatAt?: string | null;
}

/** A host state as shown on its badge: UNKNOWN (no heartbeat yet) reads "waiting for its agent". */
export function hostStateLabel(state: HostState): string {
  return state === 'UNKNOWN' ? 'waiting for its agent' : state;
}

/** How many of `hosts` are up: only those whose state is UP. */
export function hostsUp(hosts: ReadonlyArray<{ state: HostState }>): number {
  return hosts.filter((x) => x.state === 'UP').length;
}

/** The agent's connection state in words: "connected", "disconnected" or "never connected". */
export function agentStateLabel(state: AgentConnectionState): string {
  return state === 'NEVER' ? 'never connected' : state.toLowerCase();
}

/** One line about a host's agent: "agent a1 · v0.1.0 · connected · heartbeat 5 s ago". */
export function agentLine(agent: AgentSummary, now = Date.now()): string {
  const parts = [`agent ${agent.agentId}`];
  if (agent.version) parts.push(`v${agent.version.replace(/^v/, '')}`);
  parts.push(agentStateLabel(agent.state));
  parts.push(agent.state === 'NEVER' ? 'no heartbeat yet' : `heartbeat ${ago(agent.lastHeartbeatAt, now)}`);
  return parts.join(' · ');
}
