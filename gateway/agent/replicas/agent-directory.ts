import type { Logger } from '../../logging/logger';
import { BUS_NAMES, type ReplicaBus } from './relay-transport';

/** How long a directory entry lives unless its replica refreshes it: 10 s. */
export const DEFAULT_DIRECTORY_TTL_MS = 10_000;

/**
 * What a replica knows of an agent's connection: `held` (by this replica or another), `arriving`
 * (held nowhere it knows of, but an announcement is plausibly on its way: see `presence`) or
 * `gone` (known to be connected nowhere).
 */
export type AgentPresence = 'held' | 'arriving' | 'gone';

/** What a replica says on the directory channel. */
interface DirectoryMessage {
  replica: string;
  /** A beat: every agent the replica holds now. */
  held?: string[];
  claimed?: string[];
  released?: string[];
  /** The replica is stopping: it holds nothing and answers nothing from now on. */
  stopping?: boolean;
}

/** Options of an `AgentDirectory`. */
export interface AgentDirectoryOptions {
  /** This replica's id. */
  replicaId: string;
  bus: ReplicaBus;
  logger: Logger;
  /** Life of an entry (and of a replica) without a refresh; default 10 s. */
  ttlMs?: number;
}

/**
 * Which gateway replica holds which agent's connection. The truth is in Redis: one key per agent
 * (`<prefix>agent-at:<id>` → replica id) with a TTL, refreshed by its replica's beat (every third of
 * the TTL) while the agent stays connected and removed when it leaves. Every replica also keeps a
 * copy in memory, filled from the keys at start and from the beats, claims and releases on the
 * directory channel, so that finding an agent's replica needs no round trip. A replica that stops
 * beating for a TTL is gone: its entries are dropped and `onReplicaGone` listeners are told.
 */
export class AgentDirectory {
  private readonly ttlMs: number;
  private readonly held = new Set<string>();
  private readonly holders = new Map<string, { replica: string; until: number }>();
  private readonly lastBeat = new Map<string, number>();
  private readonly goneListeners: Array<(replica: string, reason: string) => void> = [];
  private readonly takenListeners: Array<(agentId: string, replica: string) => void> = [];
  private readonly movedListeners: Array<(agentId: string, from: string) => void> = [];
  /** When each agent not held now left its holder (released, or its replica stopped), by agent id. */
  private readonly left = new Map<string, number>();
  /** Agents known to be connected nowhere (see `presence`). */
  private readonly gone = new Set<string>();
  /** Who waits for an agent's holder to become known (`whenHeld`), by agent id. */
  private readonly waiters = new Map<string, Set<(replica: string | undefined) => void>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: AgentDirectoryOptions) {
    this.ttlMs = options.ttlMs ?? DEFAULT_DIRECTORY_TTL_MS;
  }

  /** This replica's id. */
  get replicaId(): string {
    return this.options.replicaId;
  }

  /** Listens to the other replicas, reads the entries already there and starts beating. */
  async start(): Promise<void> {
    const { bus } = this.options;
    await bus.subscribe(BUS_NAMES.directory, (text) => this.hear(text));
    const now = Date.now();
    for (const [key, replica] of await bus.entries(BUS_NAMES.agentKeyPrefix)) {
      if (replica === this.replicaId) continue;
      this.holders.set(key.slice(BUS_NAMES.agentKeyPrefix.length), { replica, until: now + this.ttlMs });
      if (!this.lastBeat.has(replica)) this.lastBeat.set(replica, now);
    }
    await this.beat();
    this.timer = setInterval(() => {
      this.beat().catch((e: unknown) => this.options.logger.warn({ err: e }, 'the agent directory beat failed'));
      this.sweep();
    }, Math.max(10, Math.floor(this.ttlMs / 3)));
    this.timer.unref();
  }

  /** Records that this replica holds `agentId`'s connection. */
  async claim(agentId: string): Promise<void> {
    this.held.add(agentId);
    this.moveAway(agentId, this.replicaId);
    this.learned(agentId, this.replicaId);
    await this.options.bus.setWithTtl(BUS_NAMES.agentKey(agentId), this.replicaId, this.ttlMs);
    await this.say({ replica: this.replicaId, claimed: [agentId] });
  }

  /** Records that this replica no longer holds `agentId`'s connection. */
  async release(agentId: string): Promise<void> {
    if (!this.held.delete(agentId)) return;
    this.left.set(agentId, Date.now());
    await this.options.bus.deleteIfEquals(BUS_NAMES.agentKey(agentId), this.replicaId);
    await this.say({ replica: this.replicaId, released: [agentId] });
  }

  /** The replica holding `agentId`'s connection: this one's id, another's, or undefined when none does. */
  holder(agentId: string): string | undefined {
    if (this.held.has(agentId)) return this.replicaId;
    const entry = this.holders.get(agentId);
    if (!entry || entry.until <= Date.now()) return undefined;
    return entry.replica;
  }

  /**
   * What this replica knows of `agentId`'s connection. `held`: a replica holds it (`holder`).
   * `gone`: connected nowhere as far as anyone can tell — its entry lapsed (its replica did not
   * refresh it for a TTL), its replica went silent for a TTL, it left its replica more than a TTL
   * ago without being claimed again, or a wait for it (`whenHeld`) ended with no announcement.
   * `arriving`: an announcement is plausibly on its way — it left its replica (or that replica
   * stopped) less than a TTL ago and is likely redialling (an agent's first redial comes within
   * 0.5 s, the next ones within seconds), or this replica has heard nothing of it since it started
   * (a first connection, or one this replica has not waited for yet). Never a round trip.
   */
  presence(agentId: string, now = Date.now()): AgentPresence {
    if (this.holder(agentId) !== undefined) return 'held';
    if (this.gone.has(agentId) || this.holders.has(agentId)) return 'gone';
    const at = this.left.get(agentId);
    return at === undefined || now - at < this.ttlMs ? 'arriving' : 'gone';
  }

  /**
   * The replica holding `agentId`'s connection as soon as this one knows it: at once when it does,
   * undefined at once when the agent is `gone` (see `presence`), else when a replica claims it or
   * names it in a beat, else undefined after `timeoutMs` (or when the directory stops); a wait
   * that ends so makes the agent `gone` until a replica announces it. It waits on those announcements, never polls: an agent that has just
   * connected to another replica is found though its claim is still on its way. With `except`,
   * an entry naming that replica is dropped first (it answered that it does not hold the agent).
   */
  whenHeld(agentId: string, timeoutMs: number, except?: string): Promise<string | undefined> {
    if (except !== undefined && except !== this.replicaId && this.holders.get(agentId)?.replica === except) this.holders.delete(agentId);
    const known = this.holder(agentId);
    if (known || timeoutMs <= 0 || !this.timer || this.presence(agentId) === 'gone') return Promise.resolve(known);
    return new Promise((resolve) => {
      const waiting = this.waiters.get(agentId) ?? new Set();
      this.waiters.set(agentId, waiting);
      const settle = (replica: string | undefined) => {
        clearTimeout(timer);
        waiting.delete(settle);
        if (!waiting.size && this.waiters.get(agentId) === waiting) this.waiters.delete(agentId);
        resolve(replica);
      };
      const timer = setTimeout(() => {
        if (this.holder(agentId) === undefined) this.gone.add(agentId);
        settle(undefined);
      }, timeoutMs);
      timer.unref();
      waiting.add(settle);
    });
  }

  /** Calls `listener` when a replica stops (says so, or stops beating for a TTL). */
  onReplicaGone(listener: (replica: string, reason: string) => void): void {
    this.goneListeners.push(listener);
  }

  /** Calls `listener` when an agent another replica held is now held elsewhere (here, or by a third). */
  onMoved(listener: (agentId: string, from: string) => void): void {
    this.movedListeners.push(listener);
  }

  /**
   * Calls `listener` when another replica claims an agent this one holds (the agent connected
   * there while its old connection here has not closed yet): this replica no longer holds it.
   */
  onTaken(listener: (agentId: string, replica: string) => void): void {
    this.takenListeners.push(listener);
  }

  /** Stops beating, releases every agent this replica holds and tells the others it is gone. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const waiting of [...this.waiters.values()]) for (const settle of [...waiting]) settle(undefined);
    const held = [...this.held];
    this.held.clear();
    await Promise.allSettled(held.map((id) => this.options.bus.deleteIfEquals(BUS_NAMES.agentKey(id), this.replicaId)));
    await this.say({ replica: this.replicaId, released: held, stopping: true }).catch(() => undefined);
    await this.options.bus.unsubscribe(BUS_NAMES.directory).catch(() => undefined);
  }

  /** Refreshes this replica's keys and tells the others what it holds. */
  private async beat(): Promise<void> {
    const held = [...this.held];
    await Promise.all(held.map((id) => this.options.bus.setWithTtl(BUS_NAMES.agentKey(id), this.replicaId, this.ttlMs)));
    await this.say({ replica: this.replicaId, held });
  }

  private say(message: DirectoryMessage): Promise<void> {
    return this.options.bus.publish(BUS_NAMES.directory, JSON.stringify(message));
  }

  private hear(text: string): void {
    let message: DirectoryMessage;
    try {
      message = JSON.parse(text) as DirectoryMessage;
    } catch {
      return;
    }
    const { replica } = message;
    if (typeof replica !== 'string' || replica === this.replicaId) return;
    const now = Date.now();
    const until = now + this.ttlMs;
    if (message.stopping) {
      this.forget(replica, 'it stopped');
      return;
    }
    this.lastBeat.set(replica, now);
    if (Array.isArray(message.held)) {
      const held = new Set(message.held);
      for (const [id, entry] of this.holders) if (entry.replica === replica && !held.has(id)) this.holders.delete(id);
      for (const id of held) {
        if (this.held.has(id)) continue;
        this.holders.set(id, { replica, until });
        this.learned(id, replica);
      }
    }
    for (const id of message.claimed ?? []) {
      this.moveAway(id, replica);
      this.holders.set(id, { replica, until });
      this.learned(id, replica);
      if (!this.held.delete(id)) continue;
      this.options.logger.warn({ agent: id, replica }, 'an agent held here connected to another replica: its connection here is dropped');
      for (const listener of this.takenListeners) listener(id, replica);
    }
    for (const id of message.released ?? []) {
      if (this.holders.get(id)?.replica !== replica) continue;
      this.holders.delete(id);
      this.left.set(id, now);
    }
  }

  /** Tells whoever waits for `agentId`'s holder (`whenHeld`) that `replica` holds it. */
  private learned(agentId: string, replica: string): void {
    this.left.delete(agentId);
    this.gone.delete(agentId);
    const waiting = this.waiters.get(agentId);
    if (waiting) for (const settle of [...waiting]) settle(replica);
  }

  /** Drops the entry of `agentId` when it names a replica other than `to`, telling the listeners it moved. */
  private moveAway(agentId: string, to: string): void {
    const from = this.holders.get(agentId)?.replica;
    this.holders.delete(agentId);
    if (from && from !== to) for (const listener of this.movedListeners) listener(agentId, from);
  }

  /** Replicas silent for a TTL are gone. */
  private sweep(now = Date.now()): void {
    for (const [replica, at] of this.lastBeat) {
      if (now - at > this.ttlMs) this.forget(replica, `no beat for ${this.ttlMs} ms`, false);
    }
    for (const [id, at] of this.left) {
      if (now - at < this.ttlMs) continue;
      this.left.delete(id);
      this.gone.add(id);
    }
  }

  /**
   * Drops `replica` and its entries: its agents are `arriving` when it said it stopped (they
   * redial another replica), `gone` when it went silent (their entries' lease lapsed).
   */
  private forget(replica: string, reason: string, stopped = true): void {
    this.lastBeat.delete(replica);
    const now = Date.now();
    for (const [id, entry] of this.holders) {
      if (entry.replica !== replica) continue;
      this.holders.delete(id);
      if (stopped) this.left.set(id, now);
      else this.gone.add(id);
    }
    this.options.logger.warn({ replica, reason }, 'a gateway replica is gone: its agents are unreachable through it');
    for (const listener of this.goneListeners) listener(replica, reason);
  }
}
