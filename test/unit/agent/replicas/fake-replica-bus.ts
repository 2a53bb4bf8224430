import type { ReplicaBus } from '../../../../gateway/agent/replicas/relay-transport';

/** What a fake network is told to lose: a message on `channel` for which this returns true is dropped. */
export type DropRule = (channel: string, message: string) => boolean;

/**
 * An in-memory Redis for the replicas' bus: channels delivered on a later turn of the event loop
 * (as a network would), keys with TTLs, rules that lose messages, and buses that die (they stop
 * sending and receiving, like a killed replica).
 */
export class FakeReplicaNetwork {
  readonly keys = new Map<string, { value: string; until: number }>();
  readonly subscribers = new Map<string, Set<FakeReplicaBus>>();
  readonly drops: DropRule[] = [];

  /** A bus on this network (one per replica). */
  bus(): FakeReplicaBus {
    return new FakeReplicaBus(this);
  }
}

/** One replica's connection to a `FakeReplicaNetwork`. */
export class FakeReplicaBus implements ReplicaBus {
  readonly handlers = new Map<string, (message: string) => void>();
  private readonly interruptionListeners: Array<(reason: string) => void> = [];
  dead = false;

  constructor(private readonly network: FakeReplicaNetwork) {}

  /** The replica dies: nothing more goes out or comes in. */
  die(): void {
    this.dead = true;
  }

  /** The bus's connection drops for a moment: what was sent to it meanwhile would be lost. */
  interrupt(reason = 'the connection dropped'): void {
    for (const listener of this.interruptionListeners) listener(reason);
  }

  onInterrupted(listener: (reason: string) => void): void {
    this.interruptionListeners.push(listener);
  }

  async publish(channel: string, message: string): Promise<void> {
    if (this.dead) return;
    if (this.network.drops.some((drop) => drop(channel, message))) return;
    for (const bus of this.network.subscribers.get(channel) ?? []) {
      setImmediate(() => {
        if (!bus.dead) bus.handlers.get(channel)?.(message);
      });
    }
  }

  async subscribe(channel: string, handler: (message: string) => void): Promise<void> {
    this.handlers.set(channel, handler);
    const set = this.network.subscribers.get(channel) ?? new Set<FakeReplicaBus>();
    set.add(this);
    this.network.subscribers.set(channel, set);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.handlers.delete(channel);
    this.network.subscribers.get(channel)?.delete(this);
  }

  async setWithTtl(key: string, value: string, ttlMs: number): Promise<void> {
    if (!this.dead) this.network.keys.set(key, { value, until: Date.now() + ttlMs });
  }

  async deleteIfEquals(key: string, value: string): Promise<void> {
    if (!this.dead && this.network.keys.get(key)?.value === value) this.network.keys.delete(key);
  }

  async entries(prefix: string): Promise<Map<string, string>> {
    const now = Date.now();
    const out = new Map<string, string>();
    for (const [key, entry] of this.network.keys) if (key.startsWith(prefix) && entry.until > now) out.set(key, entry.value);
    return out;
  }

  async close(): Promise<void> {
    for (const channel of [...this.handlers.keys()]) await this.unsubscribe(channel);
  }
}
