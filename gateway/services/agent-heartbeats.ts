import { heardWriteEveryMs, type DetectorSettings } from './failure-detector';

/**
 * When each agent was last heard by this gateway (its pushed heartbeats): whether it is live —
 * heard within `downAfterMs` and in the agent link (`inLink`), so that work sent to it reaches it.
 * A remote agent beats from its welcome on, before its opening calls are done and it joins the
 * link: heard then (its lease renewed, its hosts not judged silent), it is not live yet. Hosts are
 * only ever UP on the word of a live agent. Liveness lives
 * here, in memory; the hosts' `lastHeartbeatAt` is written on a state change and otherwise every
 * `heardWriteEveryMs` (`dueWrite`, `wrote`), for the other replicas and for display.
 */
export class AgentHeartbeats {
  private readonly heard = new Map<string, number>();
  /** Per agent heard here: the beat time last written to its hosts. */
  private readonly written = new Map<string, number>();
  /** Agents that left this gateway (connection closed, cut off): when they were last heard. */
  private readonly left = new Map<string, number>();

  constructor(
    readonly settings: DetectorSettings,
    /** True when `agentId` is in this gateway's agent link (`AgentLink.get`): work sent to it reaches it. */
    private readonly inLink: (agentId: string) => boolean,
  ) {}

  /** Records a heartbeat of `agentId` received at `at`. */
  record(agentId: string, at: number): void {
    this.heard.set(agentId, Math.max(at, this.heard.get(agentId) ?? 0));
    this.left.delete(agentId);
  }

  /** When `agentId` was last heard here (ms), or undefined. */
  lastHeard(agentId: string): number | undefined {
    return this.heard.get(agentId);
  }

  /** True when `agentId` was heard here within `downAfterMs` of `now` and is in the agent link. */
  isLive(agentId: string, now = Date.now()): boolean {
    const at = this.heard.get(agentId);
    return at !== undefined && now - at <= this.settings.downAfterMs && this.inLink(agentId);
  }

  /** True when `agentId` is in this gateway's agent link (its beats may bring its hosts UP). */
  usable(agentId: string): boolean {
    return this.inLink(agentId);
  }

  /** Forgets `agentId` (its connection closed or it was cut off): it is live again only on its next beat. */
  forget(agentId: string): void {
    const at = this.heard.get(agentId);
    if (at !== undefined) this.left.set(agentId, at);
    this.heard.delete(agentId);
    this.written.delete(agentId);
  }

  /** True when a beat of `agentId` heard at `at` is to be written: its first here, or `heardWriteEveryMs` after the last written. */
  dueWrite(agentId: string, at: number): boolean {
    const last = this.written.get(agentId);
    return last === undefined || at - last >= heardWriteEveryMs(this.settings);
  }

  /** True when no beat of `agentId` was written since it connected here (or since `rewrite`): its next write may bring hosts UP. */
  firstWrite(agentId: string): boolean {
    return !this.written.has(agentId);
  }

  /** A host of `agentId` was registered UNKNOWN: its next beat is written as a first one (the host is UP with it). */
  rewrite(agentId: string): void {
    this.written.delete(agentId);
  }

  /** Notes that the beat of `agentId` heard at `at` is written (unless it left meanwhile). */
  wrote(agentId: string, at: number): void {
    if (this.heard.has(agentId)) this.written.set(agentId, Math.max(at, this.written.get(agentId) ?? 0));
  }

  /** Agents this gateway heard (connected or since left) last before `cutoff` (ms): silent, as far as this gateway knows. */
  silentSince(cutoff: number): string[] {
    const silent: string[] = [];
    for (const map of [this.heard, this.left]) for (const [agentId, at] of map) if (at < cutoff) silent.push(agentId);
    return silent;
  }
}
