import { createHash, randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, opendir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { BadInputError, NotFoundError } from '../errors';
import type { ChunkBackend, StoredBytes, StoredKind, StoredObject } from './chunk-backend';
import { isMissing, subdirectories } from './directories';
import { FilePerChunkBackend } from './file-per-chunk-backend';

const CHUNK_ID = /^[0-9a-f]{64}$/;
const MAGIC = Buffer.from('RSPPACK1');
/** An index entry: 32-byte id, 8-byte offset, 4-byte length. */
const ENTRY_BYTES = 44;
/** After the entries: sha256 of the entries, their count (u32), the magic. */
const TRAILER_BYTES = 32 + 4 + MAGIC.length;

/** Options of a directory backend. */
export interface DirectoryBackendOptions {
  /** A pack is sealed once it holds this many bytes (default 16 MiB). */
  packBytes?: number;
  /** fsync each pack before it becomes visible (manifests are always synced). Default false. */
  syncChunks?: boolean;
}

/** Where a chunk is: a pack, the offset and length of its bytes. */
export interface ChunkLocation {
  pack: string;
  path: string;
  offset: number;
  length: number;
}

interface PackEntry {
  id: string;
  offset: number;
  length: number;
}

interface SealedPack {
  id: string;
  entries: PackEntry[];
  modifiedMs: number;
}

/** Chunks appended to a pack and not written yet: they go out in one positional writev. */
interface WriteBatch {
  offset: number;
  bytes: number;
  parts: Uint8Array[];
  written: Promise<void>;
  settle(error?: unknown): void;
}

/** A pack being filled: chunks are appended with positional writes (batched), readable from the file once written. */
interface OpenPack {
  id: string;
  tmp: string;
  handle: FileHandle;
  size: number;
  entries: PackEntry[];
  writes: Array<Promise<unknown>>;
  batch: WriteBatch | undefined;
  sealed: boolean;
}

/** A write batch goes out once it holds this many bytes or parts (or at the next turn of the event loop). */
const WRITE_BATCH_BYTES = 1024 * 1024;
const WRITE_BATCH_PARTS = 256;

/**
 * The default backend: a local directory where chunks are appended to pack files —
 * `packs/<ab>/<pack id>.pack`, fanned out by the first byte of the pack id — each ending in an
 * index of its chunks (id, offset, length) with the sha256 of that index. A pack is written under
 * `tmp/` and renamed into place once complete (its chunks become visible together; no partial
 * pack is ever visible), and never changes after: removing chunks rewrites the pack's live
 * chunks into a new pack. Manifests are files `manifests/<id>.json`, written the same way.
 *
 * Packing makes a put cost a few file creations instead of one per chunk. The chunk index is
 * kept in memory (about 200 bytes per chunk), loaded from the packs' trailers on first use and
 * refreshed when a chunk is not found (another process may have written or repacked).
 */
export class DirectoryBackend implements ChunkBackend {
  readonly location: string;
  private readonly files: FilePerChunkBackend;
  private readonly packBytes: number;
  private readonly syncChunks: boolean;
  private readonly index = new Map<string, PackEntry & { pack: string }>();
  private readonly packs = new Map<string, SealedPack>();
  /** Chunks in a pack not sealed yet: where they are being written (their bytes are not kept in memory). */
  private readonly pending = new Map<string, { pack: OpenPack; offset: number; length: number; written: Promise<unknown> }>();
  private loading: Promise<void> | undefined;
  private current: Promise<OpenPack> | undefined;
  private currentPack: OpenPack | undefined;
  /** Why the last pack that could not be sealed failed (its chunks are lost; `flush` reports them). */
  private lastFailure: unknown;
  /** Packs whose index could not be read: their chunks count as missing. */
  readonly damagedPacks = new Map<string, string>();
  private sealing: Promise<unknown> = Promise.resolve();
  private readonly made = new Set<string>();
  /** Stats of packs under way (see `stamp`). */
  private readonly stamps = new Map<string, Promise<string | undefined>>();

  constructor(dir: string, options: DirectoryBackendOptions = {}) {
    this.files = new FilePerChunkBackend(dir);
    this.location = this.files.location;
    this.packBytes = Math.max(64 * 1024, options.packBytes ?? 16 * 1024 * 1024);
    this.syncChunks = options.syncChunks ?? false;
  }

  async has(kind: StoredKind, id: string): Promise<boolean> {
    if (kind === 'manifest') return this.files.has(kind, id);
    checkChunkId(id);
    await this.loaded();
    return this.pending.has(id) || this.index.has(id);
  }

  async put(kind: StoredKind, id: string, data: StoredBytes): Promise<void> {
    if (kind === 'manifest') return this.files.put(kind, id, data);
    checkChunkId(id);
    await this.loaded();
    if (this.pending.has(id) || this.index.has(id)) return;
    let pack = await this.openPack();
    while (pack.sealed) pack = await this.openPack();
    if (this.pending.has(id) || this.index.has(id)) return;
    const parts = data instanceof Uint8Array ? [data] : (data as Uint8Array[]);
    let length = 0;
    for (const part of parts) length += part.length;
    const offset = pack.size;
    pack.size += length;
    pack.entries.push({ id, offset, length });
    const write = this.append(pack, parts, offset, length);
    this.pending.set(id, { pack, offset, length, written: write });
    if (pack.size >= this.packBytes) void this.seal(pack).catch(() => undefined);
    await write;
  }

  async get(kind: StoredKind, id: string): Promise<Buffer> {
    if (kind === 'manifest') return this.files.get(kind, id);
    checkChunkId(id);
    await this.loaded();
    for (let attempt = 0; ; attempt += 1) {
      const pending = this.pending.get(id);
      if (pending) {
        try {
          await pending.written;
          return await readRange(pending.pack.tmp, pending.offset, pending.length);
        } catch (e) {
          // Sealed (renamed) meanwhile: the index has it now.
          if (!isMissing(e)) throw e;
        }
      }
      const at = this.index.get(id);
      if (at) {
        try {
          return await readRange(this.packPath(at.pack), at.offset, at.length);
        } catch (e) {
          if (!isMissing(e) || attempt > 0) throw e;
        }
      }
      if (attempt > 0) throw new NotFoundError('Chunk', id, { location: this.location });
      await this.rescan();
    }
  }

  async delete(kind: StoredKind, id: string): Promise<number> {
    if (kind === 'manifest') return this.files.delete(kind, id);
    return this.deleteMany(kind, [id]);
  }

  /** Removes chunks: a pack left without live chunks is deleted, one with some is rewritten without the others. */
  async deleteMany(kind: StoredKind, ids: string[]): Promise<number> {
    if (kind === 'manifest') {
      let freed = 0;
      for (const id of ids) freed += await this.files.delete(kind, id);
      return freed;
    }
    await this.loaded();
    const byPack = new Map<string, Set<string>>();
    for (const id of ids) {
      const at = this.index.get(id);
      if (!at) continue;
      let set = byPack.get(at.pack);
      if (!set) byPack.set(at.pack, (set = new Set()));
      set.add(id);
    }
    let freed = 0;
    for (const [packId, dead] of byPack) freed += await this.dropFromPack(packId, dead);
    return freed;
  }

  async *list(kind: StoredKind): AsyncIterable<StoredObject> {
    if (kind === 'manifest') {
      yield* this.files.list(kind);
      return;
    }
    await this.rescan();
    for (const pack of [...this.packs.values()]) {
      for (const e of pack.entries) if (this.index.get(e.id)?.pack === pack.id) yield { id: e.id, size: e.length, modifiedMs: pack.modifiedMs };
    }
  }

  /**
   * Seals the pack being filled and waits until every chunk put so far is in a pack in place;
   * rejects when one of `ids` is not stored (its pack could not be written).
   */
  async flush(ids: Iterable<string> = []): Promise<void> {
    const current = this.current;
    if (current) {
      const pack = await current;
      if (pack.entries.length && !pack.sealed) await this.seal(pack).catch(() => undefined);
    }
    await this.sealing;
    for (const id of ids) {
      if (!this.index.has(id)) {
        const why = this.lastFailure instanceof Error ? `: ${this.lastFailure.message}` : '';
        throw new Error(`chunk ${id} was not stored in ${this.location}${why}`, { cause: this.lastFailure });
      }
    }
  }

  /** Where the store keeps its chunk ledger. */
  get ledgerPath(): string {
    return join(this.location, 'chunk-ledger.jsonl');
  }

  /**
   * Its pack's id, size and modification time; undefined when absent or not yet sealed. Callers
   * asking while a stat of the same pack is under way share it (the chunks of a pack are met
   * together); none is kept after it.
   */
  async stamp(id: string): Promise<string | undefined> {
    await this.loaded();
    const at = this.index.get(id);
    if (!at) return undefined;
    let pending = this.stamps.get(at.pack);
    if (!pending) {
      const packId = at.pack;
      pending = stat(this.packPath(packId)).then(
        (s) => `${packId}:${s.ino}:${s.size}:${s.mtimeMs}`,
        (e: unknown) => {
          if (isMissing(e)) return undefined;
          throw e;
        },
      );
      const settled = pending.finally(() => this.stamps.delete(packId));
      settled.catch(() => undefined);
      this.stamps.set(packId, pending);
    }
    return pending;
  }

  /** Where a chunk's bytes are (for inspection and tests); undefined when absent or not yet sealed. */
  async whereIs(id: string): Promise<ChunkLocation | undefined> {
    await this.loaded();
    const at = this.index.get(id);
    return at && { pack: at.pack, path: this.packPath(at.pack), offset: at.offset, length: at.length };
  }

  /** Removes temporary files older than `olderThanMs` (left by a crash mid-write); resolves to how many. */
  async sweepTemporary(olderThanMs: number): Promise<number> {
    return this.files.sweepTemporary(olderThanMs);
  }

  private loaded(): Promise<void> {
    this.loading ??= this.rescan();
    return this.loading;
  }

  /** Reads the trailers of packs not known yet and forgets packs gone from disk. */
  private async rescan(): Promise<void> {
    const seen = new Set<string>();
    for (const first of await subdirectories(join(this.location, 'packs'))) {
      let dir;
      try {
        dir = await opendir(join(this.location, 'packs', first));
      } catch (e) {
        if (isMissing(e)) continue;
        throw e;
      }
      for await (const entry of dir) {
        if (!entry.isFile() || !entry.name.endsWith('.pack')) continue;
        const packId = entry.name.slice(0, -5);
        seen.add(packId);
        if (this.packs.has(packId) || this.damagedPacks.has(packId)) continue;
        const pack = await readPackIndex(this.packPath(packId), packId).catch((e: unknown) => {
          if (!isMissing(e)) this.damagedPacks.set(packId, (e as Error).message);
          return undefined;
        });
        if (pack) this.addPack(pack);
      }
    }
    for (const packId of [...this.packs.keys()]) if (!seen.has(packId)) this.forgetPack(packId);
  }

  private addPack(pack: SealedPack): void {
    this.packs.set(pack.id, pack);
    for (const e of pack.entries) this.index.set(e.id, { ...e, pack: pack.id });
  }

  private forgetPack(packId: string): void {
    const pack = this.packs.get(packId);
    if (!pack) return;
    this.packs.delete(packId);
    for (const e of pack.entries) if (this.index.get(e.id)?.pack === packId) this.index.delete(e.id);
  }

  private openPack(): Promise<OpenPack> {
    this.current ??= (async () => {
      const id = randomBytes(16).toString('hex');
      const tmp = join(this.location, 'tmp', `pack-${id}`);
      await this.ensureDir(join(this.location, 'tmp'));
      const handle = await open(tmp, 'wx', 0o600);
      const pack: OpenPack = { id, tmp, handle, size: 0, entries: [], writes: [], batch: undefined, sealed: false };
      this.currentPack = pack;
      return pack;
    })();
    const opening = this.current;
    opening.catch(() => {
      if (this.current === opening) this.current = undefined;
    });
    return opening;
  }

  /**
   * Queues a chunk's bytes at `offset` of a pack (right after the bytes queued before): they are
   * written with those of the chunks put in the same turn, in one writev (fewer calls into the
   * thread pool). Resolves once they are written.
   */
  private append(pack: OpenPack, parts: readonly Uint8Array[], offset: number, length: number): Promise<void> {
    let batch = pack.batch;
    if (!batch) {
      let settle!: (error?: unknown) => void;
      const written = new Promise<void>((resolve, reject) => {
        settle = (error) => (error === undefined ? resolve() : reject(error));
      });
      batch = { offset, bytes: 0, parts: [], written, settle };
      pack.batch = batch;
      pack.writes.push(written);
      setImmediate(() => this.writeBatch(pack, batch!));
    }
    for (const part of parts) {
      const last = batch.parts[batch.parts.length - 1];
      // A part that continues the previous one in the same buffer joins it.
      if (last && last.buffer === part.buffer && last.byteOffset + last.length === part.byteOffset) {
        batch.parts[batch.parts.length - 1] = new Uint8Array(last.buffer, last.byteOffset, last.length + part.length);
      } else {
        batch.parts.push(part);
      }
    }
    batch.bytes += length;
    if (batch.bytes >= WRITE_BATCH_BYTES || batch.parts.length >= WRITE_BATCH_PARTS) this.writeBatch(pack, batch);
    return batch.written;
  }

  /** Writes a pack's batch (once; later calls for it do nothing). */
  private writeBatch(pack: OpenPack, batch: WriteBatch): void {
    if (pack.batch !== batch) return;
    pack.batch = undefined;
    pack.handle.writev(batch.parts, batch.offset).then(
      ({ bytesWritten }) => batch.settle(bytesWritten === batch.bytes ? undefined : new Error(`a short write to pack ${pack.id} (${bytesWritten} of ${batch.bytes} bytes)`)),
      (e: unknown) => batch.settle(e),
    );
  }

  /** Ends a pack: waits for its writes, appends the index, renames it into place, publishes its chunks. */
  private seal(pack: OpenPack): Promise<void> {
    if (pack.sealed) return this.sealing.then(() => undefined);
    pack.sealed = true;
    if (pack.batch) this.writeBatch(pack, pack.batch);
    if (this.currentPack === pack) {
      this.current = undefined;
      this.currentPack = undefined;
    }
    const done = this.sealing.then(async () => {
      try {
        await Promise.all(pack.writes);
        const trailer = packTrailer(pack.entries);
        await pack.handle.write(trailer, 0, trailer.length, pack.size);
        if (this.syncChunks) await pack.handle.sync();
        await pack.handle.close();
        await this.ensureDir(join(this.location, 'packs', pack.id.slice(0, 2)));
        await rename(pack.tmp, this.packPath(pack.id));
        this.addPack({ id: pack.id, entries: pack.entries, modifiedMs: Date.now() });
      } catch (e) {
        this.lastFailure = e;
        await pack.handle.close().catch(() => undefined);
        await rm(pack.tmp, { force: true });
        throw e;
      } finally {
        for (const e of pack.entries) this.pending.delete(e.id);
      }
    });
    this.sealing = done.catch(() => undefined);
    return done;
  }

  /** Rewrites pack `packId` without the chunks in `dead` (or deletes it when none are left); resolves to the bytes freed. */
  private async dropFromPack(packId: string, dead: Set<string>): Promise<number> {
    const pack = this.packs.get(packId);
    if (!pack) return 0;
    const live = pack.entries.filter((e) => !dead.has(e.id) && this.index.get(e.id)?.pack === packId);
    const freed = pack.entries.filter((e) => dead.has(e.id)).reduce((n, e) => n + e.length, 0);
    if (live.length) {
      const bytes = await readFile(this.packPath(packId));
      const id = randomBytes(16).toString('hex');
      const entries: PackEntry[] = [];
      const parts: Buffer[] = [];
      let offset = 0;
      for (const e of live) {
        parts.push(bytes.subarray(e.offset, e.offset + e.length));
        entries.push({ id: e.id, offset, length: e.length });
        offset += e.length;
      }
      parts.push(packTrailer(entries));
      const tmp = join(this.location, 'tmp', `pack-${id}`);
      await this.ensureDir(join(this.location, 'tmp'));
      const handle = await open(tmp, 'wx', 0o600);
      try {
        await handle.writeFile(Buffer.concat(parts));
        if (this.syncChunks) await handle.sync();
      } finally {
        await handle.close();
      }
      await this.ensureDir(join(this.location, 'packs', id.slice(0, 2)));
      await rename(tmp, this.packPath(id));
      this.addPack({ id, entries, modifiedMs: pack.modifiedMs });
    }
    this.forgetPack(packId);
    await unlink(this.packPath(packId)).catch((e: unknown) => {
      if (!isMissing(e)) throw e;
    });
    return freed;
  }

  private packPath(packId: string): string {
    return join(this.location, 'packs', packId.slice(0, 2), `${packId}.pack`);
  }

  private async ensureDir(dir: string): Promise<void> {
    if (this.made.has(dir)) return;
    await mkdir(dir, { recursive: true });
    this.made.add(dir);
  }
}

function checkChunkId(id: string): void {
  if (!CHUNK_ID.test(id)) throw new BadInputError(`"${id}" is not a chunk id (64 lowercase hex digits)`, { id });
}

/** The index written at the end of a pack. */
function packTrailer(entries: PackEntry[]): Buffer {
  const out = Buffer.alloc(entries.length * ENTRY_BYTES + TRAILER_BYTES);
  entries.forEach((e, i) => {
    const at = i * ENTRY_BYTES;
    out.write(e.id, at, 32, 'hex');
    out.writeBigUInt64BE(BigInt(e.offset), at + 32);
    out.writeUInt32BE(e.length, at + 40);
  });
  const end = entries.length * ENTRY_BYTES;
  createHash('sha256').update(out.subarray(0, end)).digest().copy(out, end);
  out.writeUInt32BE(entries.length, end + 32);
  MAGIC.copy(out, end + 36);
  return out;
}

/** Reads a pack's index from its trailer; rejects when the trailer is damaged. */
async function readPackIndex(path: string, packId: string): Promise<SealedPack> {
  const handle = await open(path, 'r');
  try {
    const { size, mtimeMs } = await handle.stat();
    const tail = Buffer.alloc(TRAILER_BYTES);
    if (size < TRAILER_BYTES) throw new Error(`pack ${packId} is too short`);
    await handle.read(tail, 0, TRAILER_BYTES, size - TRAILER_BYTES);
    if (!tail.subarray(36).equals(MAGIC)) throw new Error(`pack ${packId} has no index`);
    const count = tail.readUInt32BE(32);
    const table = Buffer.alloc(count * ENTRY_BYTES);
    await handle.read(table, 0, table.length, size - TRAILER_BYTES - table.length);
    if (!createHash('sha256').update(table).digest().equals(tail.subarray(0, 32))) throw new Error(`the index of pack ${packId} is damaged`);
    const entries: PackEntry[] = [];
    for (let i = 0; i < count; i += 1) {
      const at = i * ENTRY_BYTES;
      entries.push({ id: table.toString('hex', at, at + 32), offset: Number(table.readBigUInt64BE(at + 32)), length: table.readUInt32BE(at + 40) });
    }
    return { id: packId, entries, modifiedMs: mtimeMs };
  } finally {
    await handle.close();
  }
}

async function readRange(path: string, offset: number, length: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const out = Buffer.allocUnsafe(length);
    const { bytesRead } = await handle.read(out, 0, length, offset);
    return bytesRead === length ? out : out.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}
