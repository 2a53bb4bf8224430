import Redis from 'ioredis';
import type { ReplicaBus } from './relay-transport';

/** Deletes KEYS[1] only while it holds ARGV[1]. */
const DELETE_IF_EQUALS = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/**
 * The replicas' bus on Redis (`REDIS_URL`), with ioredis as the event bus uses it
 * (`gateway/events/pubsub.ts`): one connection publishes and reads keys, one subscribes. Every
 * key and channel is `namespace` + its name (the installation's prefix, RSP_REDIS_PREFIX): callers
 * never see it, and another installation on the same Redis is never heard.
 */
export class RedisReplicaBus implements ReplicaBus {
  private readonly commands: Redis;
  private readonly subscriber: Redis;
  private readonly handlers = new Map<string, (message: string) => void>();
  private readonly interruptionListeners: Array<(reason: string) => void> = [];
  private closing = false;

  constructor(
    url: string,
    private readonly namespace = '',
  ) {
    this.commands = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 3 });
    this.subscriber = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 3 });
    this.subscriber.on('message', (channel: string, message: string) => this.handlers.get(channel)?.(message));
    // ioredis subscribes again once it reconnects, but what was published meanwhile is gone.
    this.subscriber.on('close', () => {
      if (this.closing) return;
      for (const listener of this.interruptionListeners) listener('the subscription\'s connection to Redis closed');
    });
  }

  onInterrupted(listener: (reason: string) => void): void {
    this.interruptionListeners.push(listener);
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.commands.publish(this.namespace + channel, message);
  }

  async subscribe(channel: string, handler: (message: string) => void): Promise<void> {
    this.handlers.set(this.namespace + channel, handler);
    await this.subscriber.subscribe(this.namespace + channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.handlers.delete(this.namespace + channel);
    await this.subscriber.unsubscribe(this.namespace + channel);
  }

  async setWithTtl(key: string, value: string, ttlMs: number): Promise<void> {
    await this.commands.set(this.namespace + key, value, 'PX', ttlMs);
  }

  async deleteIfEquals(key: string, value: string): Promise<void> {
    await this.commands.eval(DELETE_IF_EQUALS, 1, this.namespace + key, value);
  }

  async entries(prefix: string): Promise<Map<string, string>> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await this.commands.scan(cursor, 'MATCH', `${globEscape(this.namespace + prefix)}*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    const out = new Map<string, string>();
    if (!keys.length) return out;
    const values = await this.commands.mget(...keys);
    keys.forEach((key, i) => {
      const value = values[i];
      if (typeof value === 'string') out.set(key.slice(this.namespace.length), value);
    });
    return out;
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.allSettled([this.commands.quit(), this.subscriber.quit()]);
  }
}

/** `text` with Redis glob characters escaped, for a MATCH pattern. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
