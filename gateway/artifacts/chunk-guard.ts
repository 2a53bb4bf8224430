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

  /** Removes `id` with `remove` unless a put holds it; resolves to what `remove` gave, or undefined when skipped. */
  async removeUnlessHeld<T>(id: string, remove: () => Promise<T>): Promise<T | undefined> {
    if (this.held.has(id) || this.removing.has(id)) return undefined;
    const removal = remove();
    this.removing.set(id, removal);
    try {
      return await removal;
    } finally {
      this.removing.delete(id);
    }
  }

  private drop(id: string): void {
    const n = (this.held.get(id) ?? 0) - 1;
    if (n > 0) this.held.set(id, n);
    else this.held.delete(id);
  }
}
