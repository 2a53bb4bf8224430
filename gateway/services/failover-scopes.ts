/**
 * Each agent's failover scope as last read with a batch of heartbeats — the environments on its
 * hosts that failover would restart elsewhere, which a heartbeat's answer names — kept so that
 * a beat is answered without reading the database while nothing that moves a scope changed.
 *
 * What moves a scope: an environment's status or host (its ENVIRONMENT events), a replication
 * policy's auto-failover (FAILOVER_SCOPE_CHANGED), a host of the agent coming or going. Each
 * marks the agents it concerns, or every agent when the host is not known here, and a scope read
 * before the mark is stale: the agent's next beat reads it again. Marks come from every replica
 * (the bus), and each scope is read again with every write of its agent's beats anyway
 * (`heardWriteEveryMs`), so a change no event announced is seen within that time.
 */
export class FailoverScopes {
  /** Counts the marks: a scope read at tick `t` is stale once its agent (or every agent) is marked after `t`. */
  private clock = 0;
  private allMarkedAt = 0;
  private readonly markedAt = new Map<string, number>();
  private readonly scopes = new Map<string, { ids: string[]; readAt: number }>();
  /** Each host's agent, as read with beats and looked up for the hosts of events (a host's agent never changes). */
  private readonly agentOfHost = new Map<string, string>();

  /** The tick to pass to `store` for a scope about to be read. */
  now(): number {
    return this.clock;
  }

  /** The scope of `agentId` when it is known and nothing marked it since it was read; undefined when it must be read. */
  fresh(agentId: string): string[] | undefined {
    const scope = this.scopes.get(agentId);
    if (!scope || scope.readAt < this.allMarkedAt || scope.readAt < (this.markedAt.get(agentId) ?? 0)) return undefined;
    return scope.ids;
  }

  /** Keeps the scope of `agentId` read at tick `readAt` (`now` before the read), and its hosts. */
  store(agentId: string, ids: string[], hostIds: string[], readAt: number): void {
    const known = this.scopes.get(agentId);
    if (known && known.readAt > readAt) return;
    this.scopes.set(agentId, { ids, readAt });
    for (const hostId of hostIds) this.agentOfHost.set(hostId, agentId);
  }

  /** The agent of `hostId` when known here. */
  agentOf(hostId: string): string | undefined {
    return this.agentOfHost.get(hostId);
  }

  /** Notes the agent of a host (looked up for an event about a host not known here). */
  learn(hostId: string, agentId: string): void {
    this.agentOfHost.set(hostId, agentId);
  }

  /** The scope of `agentId` may have moved: read it again on its next beat. */
  mark(agentId: string): void {
    this.markedAt.set(agentId, (this.clock += 1));
  }

  /** Every scope may have moved (a host not known here, a change no host names). */
  markAll(): void {
    this.allMarkedAt = this.clock += 1;
    this.markedAt.clear();
  }

  /** Forgets `agentId` (it left this gateway): its scope is read again with its first beat when it is back. */
  forget(agentId: string): void {
    this.scopes.delete(agentId);
    this.markedAt.delete(agentId);
  }
}
