/**
 * What the call relay and the agent directory need of the bus between gateway replicas (Redis in
 * production, an in-memory fake in unit tests): channels carrying text, and keys with a TTL.
 */
export interface ReplicaBus {
  /** Sends `message` to every subscriber of `channel` (on every replica). */
  publish(channel: string, message: string): Promise<void>;
  /** Calls `handler` with each message of `channel` until `unsubscribe`. */
  subscribe(channel: string, handler: (message: string) => void): Promise<void>;
  /** Stops delivering `channel`. */
  unsubscribe(channel: string): Promise<void>;
  /** Sets `key` to `value`, expiring after `ttlMs`. */
  setWithTtl(key: string, value: string, ttlMs: number): Promise<void>;
  /** Deletes `key` only while it still holds `value` (another replica may have taken it over). */
  deleteIfEquals(key: string, value: string): Promise<void>;
  /** Every key starting with `prefix`, with its value. */
  entries(prefix: string): Promise<Map<string, string>>;
  /**
   * Calls `listener` when the bus may have lost messages: its subscription's connection dropped
   * (Redis keeps nothing for a subscriber that is reconnecting), until `close`.
   */
  onInterrupted(listener: (reason: string) => void): void;
  /** Closes the bus's connections. */
  close(): Promise<void>;
}

/** The Redis names the replicas share (the bus puts the installation's prefix before each). */
export const BUS_NAMES = {
  /** Key: which replica holds the connection of agent `id`. */
  agentKey: (agentId: string) => `agent-at:${agentId}`,
  agentKeyPrefix: 'agent-at:',
  /** Channel: each replica's beats (the agents it holds) and releases. */
  directory: 'agents:directory',
  /** Channel: calls for the agents a replica holds. */
  requests: (replicaId: string) => `relay:${replicaId}:requests`,
  /** Channel: answers to the calls a replica relayed. */
  replies: (replicaId: string) => `relay:${replicaId}:replies`,
} as const;
