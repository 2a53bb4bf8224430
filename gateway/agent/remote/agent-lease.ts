/** How heartbeats are timed: the gateway's `RSP_HEARTBEAT_MS` and `RSP_HOST_DOWN_AFTER_MS`. */
export interface LeaseSettings {
  heartbeatMs: number;
  downAfterMs: number;
}

/**
 * The end of the lease a heartbeat sent at `sentAt` earns: `sentAt + downAfterMs − margin` with
 * `margin = min(heartbeatMs, (downAfterMs − heartbeatMs) / 2)`. The gateway declares the host DOWN
 * no sooner than `downAfterMs` after it *received* the beat (never before it was sent), so the
 * lease always ends strictly before: an agent that fences at its lease's end has stopped its
 * environments before failover may start them elsewhere. Counted on the agent's clock (`sentAt`
 * is the agent's), so clock skew between the machines does not matter.
 */
export function leaseUntil(sentAt: number, settings: LeaseSettings): number {
  return sentAt + settings.downAfterMs - leaseMargin(settings);
}

/** The time by which a lease ends before the gateway may declare the host DOWN (always > 0 when `downAfterMs > heartbeatMs`). */
export function leaseMargin(settings: LeaseSettings): number {
  return Math.min(settings.heartbeatMs, (settings.downAfterMs - settings.heartbeatMs) / 2);
}

/**
 * An agent's lease on running its environments: renewed by each answered heartbeat (a later end
 * only; an answer that arrives out of order never shortens it). No lease yet (never answered):
 * nothing to fence, the agent has run nothing for the gateway.
 */
export class AgentLease {
  private end: number | undefined;

  /** Takes the lease of an answered heartbeat. */
  renew(until: number): void {
    if (this.end === undefined || until > this.end) this.end = until;
  }

  /** When the lease ends (ms, this machine's clock), or undefined before the first answer. */
  get until(): number | undefined {
    return this.end;
  }

  /** True once a lease was granted and has ended at `now`. */
  expired(now = Date.now()): boolean {
    return this.end !== undefined && now >= this.end;
  }

  /** Milliseconds left at `now` (negative once ended), or undefined before the first answer. */
  remaining(now = Date.now()): number | undefined {
    return this.end === undefined ? undefined : this.end - now;
  }
}
