import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { Topic, type RspPubSub, type Unlisten } from '../events/pubsub';

/** Hosts whose placement-relevant rows changed, or null for every host (a site, a usage policy, a layer many hosts may inherit). */
export type ChangedHosts = string[] | null;

/** What one replica tells the others: its own id (so it ignores its own message) and the hosts that changed. */
export interface InventoryChange {
  origin: string;
  hostIds: ChangedHosts;
}

/** The listeners of one database's inventory changes in this process, and this process's id on the bus. */
interface InventoryFeed {
  origin: string;
  listeners: Set<(hostIds: ChangedHosts) => void>;
  buses: Set<RspPubSub>;
}

const feeds = new WeakMap<DataSource, InventoryFeed>();

function feedOf(dataSource: DataSource): InventoryFeed {
  let feed = feeds.get(dataSource);
  if (!feed) {
    feed = { origin: randomUUID(), listeners: new Set(), buses: new Set() };
    feeds.set(dataSource, feed);
  }
  return feed;
}

/**
 * Says that hosts' placement-relevant rows (the host itself, its resources, shares, machine layer,
 * its site's policies) changed: `'every host'` when the change may touch many. Call it after the
 * write committed. The placement pictures of this process hear it at once (before this returns);
 * other replicas hear it over the bus given to `shareInventoryChanges`.
 */
export function inventoryChanged(dataSource: DataSource, hostIds: Iterable<string> | 'every host'): void {
  const ids = hostIds === 'every host' ? null : [...new Set(hostIds)];
  if (ids && !ids.length) return;
  const feed = feeds.get(dataSource);
  if (!feed) return;
  for (const listener of feed.listeners) listener(ids);
  for (const bus of feed.buses) bus.publish(Topic.INVENTORY_CHANGED, { origin: feed.origin, hostIds: ids });
}

/** Calls `listener` with every inventory change of `dataSource`'s database this process hears of (its own writes and other replicas'). */
export function onInventoryChange(dataSource: DataSource, listener: (hostIds: ChangedHosts) => void): Unlisten {
  const feed = feedOf(dataSource);
  feed.listeners.add(listener);
  return () => feed.listeners.delete(listener);
}

/**
 * Carries `dataSource`'s inventory changes over `pubSub` (Redis across replicas): this process's
 * are published, the other replicas' given to this process's listeners.
 */
export function shareInventoryChanges(dataSource: DataSource, pubSub: RspPubSub): Unlisten {
  const feed = feedOf(dataSource);
  feed.buses.add(pubSub);
  const unlisten = pubSub.listen(Topic.INVENTORY_CHANGED, undefined, (change) => {
    if (change.origin === feed.origin) return;
    for (const listener of feed.listeners) listener(change.hostIds);
  });
  return () => {
    feed.buses.delete(pubSub);
    unlisten();
  };
}
