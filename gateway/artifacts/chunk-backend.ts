/** What a backend stores: chunks (content-addressed bits) and manifests (an artifact's chunk list). */
export type StoredKind = 'chunk' | 'manifest';

/** Bytes to store: one buffer, or several written one after the other (no copy to join them). */
export type StoredBytes = Uint8Array | readonly Uint8Array[];

/** One stored object as a listing shows it. */
export interface StoredObject {
  id: string;
  /** Bytes it takes in the backend. */
  size: number;
  /** When it was last written, in ms since the epoch. */
  modifiedMs: number;
}

/**
 * Where an artifact store keeps its objects: a directory by default, anything else (an object
 * store, a remote host) by implementing this. Ids are lowercase hex; the store never writes an id
 * twice with different bytes, so a backend may skip a write whose id it already has.
 *
 * Rules every backend keeps: `put` is atomic (a reader sees all of the bytes or no object, never
 * a partial one); `get` of an absent object rejects with `NotFoundError`; `delete` of an absent
 * object is not an error; `put` does not keep `data` once it resolves (the store reuses those
 * buffers).
 */
export interface ChunkBackend {
  /** Names where the objects live (for messages and to tell two stores on the same place apart). */
  readonly location: string;
  has(kind: StoredKind, id: string): Promise<boolean>;
  put(kind: StoredKind, id: string, data: StoredBytes): Promise<void>;
  get(kind: StoredKind, id: string): Promise<Buffer>;
  /** Removes an object; resolves to the bytes freed (0 when it was absent). */
  delete(kind: StoredKind, id: string): Promise<number>;
  list(kind: StoredKind): AsyncIterable<StoredObject>;
  /**
   * Optional, for backends that buffer chunks: makes every chunk put so far durable and visible,
   * and rejects when one of `ids` is not stored. The store calls it before writing a manifest.
   */
  flush?(ids: Iterable<string>): Promise<void>;
  /** Optional: removes many objects at once (a packing backend rewrites each pack once); resolves to the bytes freed. */
  deleteMany?(kind: StoredKind, ids: string[]): Promise<number>;
  /**
   * Optional, cheap (no read of the bytes): a stamp of where a chunk's bytes live — e.g. the
   * size and modification time of its file — that changes whenever they may have changed;
   * undefined when the chunk is absent or not yet in place. A store trusts a chunk it found
   * intact for as long as its stamp stays the same.
   */
  stamp?(id: string): Promise<string | undefined>;
  /** Optional: where the store keeps its own bookkeeping (the chunk ledger); none keeps it in memory. */
  readonly ledgerPath?: string;
}
