import { setMaxListeners } from 'node:events';
import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import { createPubSub, PubSub } from '@graphql-yoga/subscription';
import Redis from 'ioredis';
import type { EnvironmentSample, HostSample, SiteSample } from '../metrics/samples';
import type { OperationEntity } from '../persistence/entities';
import type { InventoryChange } from '../placement/inventory-changes';
import type { RspEvent } from './events';

export type { RspEvent } from './events';

/** Every topic published inside a gateway, with the payload it carries (and the id it is routed by). */
export type RspTopics = {
  OPERATION_UPDATED: [OperationEntity];
  HOST_METRICS: [hostId: string, sample: HostSample];
  ENVIRONMENT_METRICS: [environmentId: string, sample: EnvironmentSample];
  SITE_METRICS: [siteId: string, sample: SiteSample];
  EVENT: [RspEvent];
  /** A token was revoked: every replica forgets it at once (its id). */
  TOKEN_REVOKED: [tokenId: string];
  /** A host agent's credentials were revoked: the replica holding its connection drops it (its id). */
  AGENT_REVOKED: [agentId: string];
  /** Who may see what changed (a share revoked, a group deleted and its environments handed over): open streams check again. */
  ACCESS_CHANGED: [AccessChange];
  /** A replication policy's auto-failover may have changed on an environment of this host (its id): heartbeats' failover scopes are read again. */
  FAILOVER_SCOPE_CHANGED: [hostId: string];
  /** Hosts' placement-relevant rows changed on one replica: the others' placement pictures read them again. */
  INVENTORY_CHANGED: [InventoryChange];
};

/** What changed who may see what: the kind of object and its id. */
export interface AccessChange {
  kind: 'share' | 'group';
  id: string;
}

/** Topic names, for `@Subscription({ topics })` and `pubSub.subscribe`. */
export const Topic = {
  OPERATION_UPDATED: 'OPERATION_UPDATED',
  HOST_METRICS: 'HOST_METRICS',
  ENVIRONMENT_METRICS: 'ENVIRONMENT_METRICS',
  SITE_METRICS: 'SITE_METRICS',
  EVENT: 'EVENT',
  TOKEN_REVOKED: 'TOKEN_REVOKED',
  AGENT_REVOKED: 'AGENT_REVOKED',
  ACCESS_CHANGED: 'ACCESS_CHANGED',
  FAILOVER_SCOPE_CHANGED: 'FAILOVER_SCOPE_CHANGED',
  INVENTORY_CHANGED: 'INVENTORY_CHANGED',
} as const satisfies Record<keyof RspTopics, keyof RspTopics>;

/** The payload of a topic. */
export type TopicPayload<K extends keyof RspTopics> = RspTopics[K] extends [infer P] ? P : RspTopics[K] extends [string, infer P] ? P : never;

/** Stops a `listen`. */
export type Unlisten = () => void;

/**
 * The gateway's publish/subscribe bus. In-memory by default, Redis across replicas.
 * `listen` attaches a plain callback to a topic (and id): no async iterator or queue per
 * listener, so a publish to many subscribers costs one call each.
 */
export type RspPubSub = PubSub<RspTopics> & {
  listen<K extends keyof RspTopics>(topic: K, id: string | undefined, handler: (payload: TopicPayload<K>) => void): Unlisten;
};

/** Minimal event target the bus runs on (the native one in memory, the Redis one across replicas). */
interface BusTarget {
  addEventListener(type: string, listener: (event: Event) => void): void;
  removeEventListener(type: string, listener: (event: Event) => void): void;
}

/** A PubSub over `target` with `listen` on the same target. */
function pubSubOn(target: BusTarget): RspPubSub {
  const pubSub = createPubSub<RspTopics>({ eventTarget: target as never });
  return Object.assign(pubSub, {
    listen<K extends keyof RspTopics>(topic: K, id: string | undefined, handler: (payload: TopicPayload<K>) => void): Unlisten {
      const type = id === undefined ? topic : `${topic}:${id}`;
      const listener = (event: Event) => handler((event as CustomEvent).detail as TopicPayload<K>);
      target.addEventListener(type, listener);
      return () => target.removeEventListener(type, listener);
    },
  });
}

/** A bus and what closes it. */
export interface PubSubHandle {
  pubSub: RspPubSub;
  /** `memory` or `redis`. */
  kind: 'memory' | 'redis';
  close(): Promise<void>;
}

/** An in-memory PubSub, for one gateway process. */
export function createMemoryPubSub(): RspPubSub {
  const target = new EventTarget();
  // Thousands of subscribers of one host are expected, not a leak.
  setMaxListeners(0, target);
  return pubSubOn(target);
}

/**
 * A PubSub over Redis channels, so every replica's subscribers receive what any replica
 * publishes. Each topic's channel is `prefix` + the topic (the installation's prefix: another
 * installation on the same Redis is never heard). Dates survive the trip (tagged in JSON), so
 * payloads read the same as in memory. While Redis is unreachable, publishes are lost and reported
 * to `onError` (once per outage): they never fail the caller nor the process; ioredis reconnects
 * and subscribes again by itself.
 */
export function createRedisPubSub(url: string, onError: (err: Error) => void = () => undefined, prefix = ''): PubSubHandle {
  const publishClient = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 3 });
  const subscribeClient = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 3 });
  let reported = false;
  const report = (err: Error) => {
    if (reported) return;
    reported = true;
    onError(err);
  };
  for (const client of [publishClient, subscribeClient]) {
    client.on('error', report);
    client.on('ready', () => (reported = false));
  }
  // The event target calls these without waiting on them: a rejection would be unhandled.
  const publishing = { publish: (channel: string, message: string) => publishClient.publish(prefix + channel, message).catch(report) };
  const subscribing = {
    on: (event: 'message', listener: (channel: string, message: string) => void) =>
      subscribeClient.on(event, (channel: string, message: string) => {
        if (channel.startsWith(prefix)) listener(channel.slice(prefix.length), message);
      }),
    subscribe: (channel: string) => subscribeClient.subscribe(prefix + channel).catch(report),
    unsubscribe: (channel: string) => subscribeClient.unsubscribe(prefix + channel).catch(report),
  };
  const eventTarget = createRedisEventTarget({ publishClient: publishing as unknown as Redis, subscribeClient: subscribing as unknown as Redis, serializer: { stringify: stringifyWithDates, parse: parseWithDates } });
  return {
    pubSub: pubSubOn(eventTarget as unknown as BusTarget),
    kind: 'redis',
    close: async () => {
      await Promise.allSettled([publishClient.quit(), subscribeClient.quit()]);
    },
  };
}

/** The bus a gateway uses: Redis when `redisUrl` is set (channels under `prefix`, failures to `onError`), else in memory. */
export function createGatewayPubSub(redisUrl: string | undefined, onError?: (err: Error) => void, prefix = ''): PubSubHandle {
  if (redisUrl) return createRedisPubSub(redisUrl, onError, prefix);
  return { pubSub: createMemoryPubSub(), kind: 'memory', close: async () => undefined };
}

/** JSON with every Date written as `{ "$date": iso }`. */
export function stringifyWithDates(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key, v: unknown) {
    const raw = this[key];
    return raw instanceof Date ? { $date: raw.toISOString() } : v;
  });
}

/** Reads what `stringifyWithDates` wrote, giving Dates back. */
export function parseWithDates(text: string): unknown {
  return JSON.parse(text, (_key, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      if (typeof o.$date === 'string' && Object.keys(o).length === 1) return new Date(o.$date);
    }
    return v;
  });
}
