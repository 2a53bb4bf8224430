import type { DetectorSettings } from './failure-detector';

/**
 * When each agent was last heard by this gateway (its pushed heartbeats): whether it is live —
 * heard within `downAfterMs`. Hosts are only ever UP on the word of a live agent.
 */
export class AgentHeartbeats {
  private readonly heard = new Map<string, number>();

  constructor(readonly settings: DetectorSettings) {}

  /** Records a heartbeat of `agentId` received at `at`. */
  record(agentId: string, at: number): void {
    this.heard.set(agentId, Math.max(at, this.heard.get(agentId) ?? 0));
  }

  /** When `agentId` was last heard here (ms), or undefined. */
  lastHeard(agentId: string): number | undefined {
    return this.heard.get(agentId);
  }

  /** True when `agentId` was heard here within `downAfterMs` of `now`. */
  isLive(agentId: string, now = Date.now()): boolean {
    const at = this.heard.get(agentId);
    return at !== undefined && now - at <= this.settings.downAfterMs;
  }

  /** Forgets `agentId` (its connection closed or it was cut off): it is live again only on its next beat. */
  forget(agentId: string): void {
    this.heard.delete(agentId);
  }
}
