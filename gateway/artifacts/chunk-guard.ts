/**
 * Keeps garbage collection from removing chunks that puts in progress rely on, for every store
 * of one process that shares a backend location.
 *
 * A put holds each chunk id before it asks whether the chunk exists, and releases its ids once
 * its manifest is written. The collector skips held ids, and marks an id as being removed in the
 * same synchronous step in which it checks it; a put that holds an id being removed waits for the
 * removal and then writes the chunk again. Ids released while a collection runs stay held until
 * it ends, so a manifest written after the collector listed manifests keeps its chunks.
 */
export class ChunkGuard {
  private static readonly byLocation = new Map<string, ChunkGuard>();

  /** The guard of a backend location (one per process). */
  static of(location: string): ChunkGuard {
    let guard = ChunkGuard.byLocation.get(location);
    if (!guard) {
      guard = new ChunkGuard();
      ChunkGuard.byLocation.set(location, guard);
    }
    return guard;
  }

  private readonly held = new Map<string, number>();
  private readonly removing = new Map<string, Promise<unknown>>();
  private collections = 0;
  private deferred: string[] = [];

  /** Holds `id` for a put; resolves once no removal of it is under way. */
  async hold(id: string): Promise<void> {
    this.held.set(id, (this.held.get(id) ?? 0) + 1);
    const removal = this.removing.get(id);
    if (removal) await removal.catch(() => undefined);
  }

  /** Releases ids held by a put (deferred while a collection runs). */
  release(ids: Iterable<string>): void {
    if (this.collections > 0) {
      this.deferred.push(...ids);
      return;
    }
    for (const id of ids) this.drop(id);
  }

  /** Starts a collection; returns the function that ends it. */
  beginCollection(): () => void {
    this.collections += 1;
    return () => {
      this.collections -= 1;
      if (this.collections === 0) {
        const ids = this.deferred;
        this.deferred = [];
        for (const id of ids) this.drop(id);
      }
    };
  }

  /**
   * Removes those of `ids` no put holds, with `remove` (given them all at once); the others are
   * skipped. Resolves to the ids removed and what `remove` gave.
   */
  async removeUnlessHeld<T>(ids: string[], remove: (ids: string[]) => Promise<T>): Promise<{ removed: string[]; freed: T | 0 }> {
    const removed = ids.filter((id) => !this.held.has(id) && !this.removing.has(id));
    if (!removed.length) return { removed, freed: 0 };
    const removal = remove(removed);
    for (const id of removed) this.removing.set(id, removal);
    try {
      return { removed, freed: await removal };
    } finally {
      for (const id of removed) this.removing.delete(id);
    }
  }

  private drop(id: string): void {
    const n = (this.held.get(id) ?? 0) - 1;
    if (n > 0) this.held.set(id, n);
    else this.held.delete(id);
  }
}
