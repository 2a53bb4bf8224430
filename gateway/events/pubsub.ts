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

/** Minimal event target the bus runs on. */
interface BusTarget {
  addEventListener(type: string, listener: (event: Event) => void): void;
  removeEventListener(type: string, listener: (event: Event) => void): void;
}

/** A PubSub over `bus` (in memory or across replicas), with `listen` straight to the bus's handlers. */
function pubSubOn(bus: MemoryBus): RspPubSub {
  const pubSub = createPubSub<RspTopics>({ eventTarget: bus as never });
  return Object.assign(pubSub, {
    listen<K extends keyof RspTopics>(topic: K, id: string | undefined, handler: (payload: TopicPayload<K>) => void): Unlisten {
      return bus.listen(id === undefined ? topic : `${topic}:${id}`, handler as (detail: unknown) => void);
    },
  });
}

/** One listener of a `MemoryBus` type: an event listener, or a handler of the event's detail (`listen`). */
interface BusListener {
  call: (arg: never) => void;
  /** True when `call` takes the event's detail rather than the event. */
  detail: boolean;
  /** Set once removed: a dispatch under way skips it, as EventTarget does. */
  removed: boolean;
}

/** What a bus is told when a type gets its first listener or loses its last (a Redis channel to (un)subscribe). */
export interface BusTypeWatch {
  first(type: string): void;
  last(type: string): void;
}

/**
 * The in-memory bus: an event target whose dispatch calls each listener of a type from a plain
 * array, and whose `listen` handlers get the event's detail directly. A publish to thousands of
 * subscribers costs one call each (the native EventTarget's per-listener bookkeeping and
 * `CustomEvent.detail` read were a large part of a fanned-out event's cost). Listeners added
 * during a dispatch wait for the next one; removed ones are skipped at once; a listener that
 * throws is reported as an uncaught exception after the others ran (as EventTarget does).
 * `watch`, when given, hears when a type gets its first listener and loses its last.
 */
export class MemoryBus implements BusTarget {
  /** Per type, its listeners; an array is replaced (never changed) when a listener is added or removed. */
  private readonly listeners = new Map<string, BusListener[]>();

  constructor(private readonly watch?: BusTypeWatch) {}

  addEventListener(type: string, listener: (event: Event) => void): void {
    if (!this.find(type, listener)) this.add(type, { call: listener, detail: false, removed: false });
  }

  removeEventListener(type: string, listener: (event: Event) => void): void {
    const entry = this.find(type, listener);
    if (entry) this.remove(type, entry);
  }

  /** Calls `handler` with the detail of every event of `type`; returns what stops it. */
  listen(type: string, handler: (detail: unknown) => void): () => void {
    const entry: BusListener = { call: handler, detail: true, removed: false };
    this.add(type, entry);
    return () => this.remove(type, entry);
  }

  dispatchEvent(event: Event): boolean {
    this.deliver(event.type, (event as CustomEvent).detail, event);
    return true;
  }

  /** True while `type` has a listener. */
  has(type: string): boolean {
    return this.listeners.has(type);
  }

  /**
   * Calls the listeners of `type`: `listen` handlers with `detail`, event listeners with `event`
   * (made once, when one of them is there and none was given).
   */
  protected deliver(type: string, detail: unknown, event?: Event): void {
    const list = this.listeners.get(type);
    if (!list) return;
    for (let i = 0; i < list.length; i++) {
      const entry = list[i]!;
      if (entry.removed) continue;
      try {
        if (entry.detail) entry.call(detail as never);
        else entry.call((event ??= new CustomEvent(type, { detail })) as never);
      } catch (err) {
        process.nextTick(() => {
          throw err;
        });
      }
    }
  }

  private find(type: string, listener: (event: Event) => void): BusListener | undefined {
    return this.listeners.get(type)?.find((e) => !e.detail && e.call === listener);
  }

  private add(type: string, entry: BusListener): void {
    const list = this.listeners.get(type);
    this.listeners.set(type, [...(list ?? []), entry]);
    if (!list) this.watch?.first(type);
  }

  private remove(type: string, entry: BusListener): void {
    if (entry.removed) return;
    entry.removed = true;
    const rest = (this.listeners.get(type) ?? []).filter((e) => e !== entry);
    if (rest.length) this.listeners.set(type, rest);
    else if (this.listeners.delete(type)) this.watch?.last(type);
  }
}

/** How the Redis bus talks to Redis: publish a message, (un)subscribe a channel (unprefixed names). */
export interface RedisBusLink {
  publish(channel: string, message: string): void;
  subscribe(channel: string): void;
  unsubscribe(channel: string): void;
}

/**
 * The bus across replicas: a publish goes to Redis (every replica hears it, this one too), and
 * what Redis delivers is parsed once and handed to this replica's listeners as the in-memory bus
 * hands its events (one call each from a plain array, the detail directly: the generic Redis event
 * target made a closure call and a `CustomEvent.detail` read per subscriber of every event).
 * A channel is subscribed while this replica has a listener of it. An empty message is a null
 * detail (a publish without payload).
 */
export class RedisBus extends MemoryBus {
  constructor(
    private readonly link: RedisBusLink,
    private readonly serializer: { stringify(value: unknown): string; parse(text: string): unknown } = { stringify: stringifyWithDates, parse: parseWithDates },
  ) {
    super({ first: (type) => link.subscribe(type), last: (type) => link.unsubscribe(type) });
  }

  override dispatchEvent(event: Event): boolean {
    const detail = (event as CustomEvent).detail as unknown;
    this.link.publish(event.type, detail === undefined ? '' : this.serializer.stringify(detail));
    return true;
  }

  /** A message Redis delivered on `channel` (unprefixed): to this replica's listeners. */
  received(channel: string, message: string): void {
    if (!this.has(channel)) return;
    this.deliver(channel, message === '' ? null : this.serializer.parse(message));
  }
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
  return pubSubOn(new MemoryBus());
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
  // The bus calls these without waiting on them: a rejection would be unhandled.
  const bus = new RedisBus({
    publish: (channel, message) => void publishClient.publish(prefix + channel, message).catch(report),
    subscribe: (channel) => void subscribeClient.subscribe(prefix + channel).catch(report),
    unsubscribe: (channel) => void subscribeClient.unsubscribe(prefix + channel).catch(report),
  });
  subscribeClient.on('message', (channel: string, message: string) => {
    if (channel.startsWith(prefix)) bus.received(channel.slice(prefix.length), message);
  });
  return {
    pubSub: pubSubOn(bus),
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
