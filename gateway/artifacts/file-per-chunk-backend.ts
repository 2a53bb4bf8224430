import { randomBytes } from 'node:crypto';
import { open, opendir, mkdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { BadInputError, NotFoundError } from '../errors';
import type { ChunkBackend, StoredBytes, StoredKind, StoredObject } from './chunk-backend';
import { isMissing, subdirectories } from './directories';

const ID = /^[0-9a-f]{16,128}$/;

/** Options of a file-per-chunk backend. */
export interface FilePerChunkBackendOptions {
  /** fsync each chunk before it becomes visible (manifests are always synced). Default false. */
  syncChunks?: boolean;
}

/**
 * A backend in a local directory with one file per chunk:
 * `chunks/<ab>/<cd>/<id>` (fanned out by the first two bytes of the id),
 * `manifests/<id>.json`, and `tmp/` where every object is written before it is renamed into
 * place, so no partial object is ever visible under its name.
 *
 * Simple to inspect, but every chunk costs a file creation, which on many filesystems is slower
 * than hashing it; `DirectoryBackend` (the default) packs chunks and keeps manifests here.
 */
export class FilePerChunkBackend implements ChunkBackend {
  readonly location: string;
  private readonly made = new Set<string>();
  private readonly syncChunks: boolean;

  constructor(dir: string, options: FilePerChunkBackendOptions = {}) {
    this.location = resolve(dir);
    this.syncChunks = options.syncChunks ?? false;
  }

  async has(kind: StoredKind, id: string): Promise<boolean> {
    try {
      await stat(this.pathOf(kind, id));
      return true;
    } catch (e) {
      if (isMissing(e)) return false;
      throw e;
    }
  }

  async put(kind: StoredKind, id: string, data: StoredBytes): Promise<void> {
    const path = this.pathOf(kind, id);
    try {
      await this.writeAtomically(path, id, data, kind === 'manifest' || this.syncChunks);
    } catch (e) {
      if (!isMissing(e)) throw e;
      // A directory went away under us (removed by hand): forget what was made and try once more.
      this.made.clear();
      await this.writeAtomically(path, id, data, kind === 'manifest' || this.syncChunks);
    }
  }

  async get(kind: StoredKind, id: string): Promise<Buffer> {
    try {
      return await readFile(this.pathOf(kind, id));
    } catch (e) {
      if (isMissing(e)) throw new NotFoundError(kind === 'chunk' ? 'Chunk' : 'Manifest', id, { location: this.location });
      throw e;
    }
  }

  async delete(kind: StoredKind, id: string): Promise<number> {
    const path = this.pathOf(kind, id);
    try {
      const { size } = await stat(path);
      await unlink(path);
      return size;
    } catch (e) {
      if (isMissing(e)) return 0;
      throw e;
    }
  }

  async *list(kind: StoredKind): AsyncIterable<StoredObject> {
    if (kind === 'manifest') {
      yield* this.listFiles(join(this.location, 'manifests'), (name) => (name.endsWith('.json') ? name.slice(0, -5) : undefined));
      return;
    }
    for (const first of await subdirectories(join(this.location, 'chunks'))) {
      for (const second of await subdirectories(join(this.location, 'chunks', first))) {
        yield* this.listFiles(join(this.location, 'chunks', first, second), (name) => (ID.test(name) ? name : undefined));
      }
    }
  }

  /** Where the store keeps its chunk ledger. */
  get ledgerPath(): string {
    return join(this.location, 'chunk-ledger.jsonl');
  }

  /** The chunk file's size and modification time; undefined when absent. */
  async stamp(id: string): Promise<string | undefined> {
    try {
      const s = await stat(this.pathOf('chunk', id));
      return `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw e;
    }
  }

  /** Where a chunk's bytes are (for inspection and tests); undefined when absent. */
  async whereIs(id: string): Promise<{ path: string; offset: number; length: number } | undefined> {
    const path = this.pathOf('chunk', id);
    try {
      return { path, offset: 0, length: (await stat(path)).size };
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw e;
    }
  }

  /** Removes temporary files older than `olderThanMs` (left by a crash mid-write); resolves to how many. */
  async sweepTemporary(olderThanMs: number): Promise<number> {
    let removed = 0;
    const before = Date.now() - olderThanMs;
    for await (const entry of this.listFiles(join(this.location, 'tmp'), (name) => name)) {
      if (entry.modifiedMs < before) {
        await rm(join(this.location, 'tmp', entry.id), { force: true });
        removed += 1;
      }
    }
    return removed;
  }

  private async *listFiles(dir: string, idOf: (name: string) => string | undefined): AsyncIterable<StoredObject> {
    let handle;
    try {
      handle = await opendir(dir);
    } catch (e) {
      if (isMissing(e)) return;
      throw e;
    }
    for await (const entry of handle) {
      if (!entry.isFile()) continue;
      const id = idOf(entry.name);
      if (id === undefined) continue;
      try {
        const s = await stat(join(dir, entry.name));
        yield { id, size: s.size, modifiedMs: s.mtimeMs };
      } catch (e) {
        if (!isMissing(e)) throw e;
      }
    }
  }

  private async writeAtomically(path: string, id: string, data: StoredBytes, sync: boolean): Promise<void> {
    const tmp = join(this.location, 'tmp', `${id.slice(0, 16)}-${randomBytes(6).toString('hex')}`);
    await this.ensureDir(join(this.location, 'tmp'));
    await this.ensureDir(dirname(path));
    const file = await open(tmp, 'wx', 0o600);
    try {
      if (data instanceof Uint8Array) await file.writeFile(data);
      else await file.writev(data as Uint8Array[]);
      if (sync) await file.sync();
      await file.close();
      await rename(tmp, path);
    } catch (e) {
      await file.close().catch(() => undefined);
      await rm(tmp, { force: true });
      throw e;
    }
  }

  private pathOf(kind: StoredKind, id: string): string {
    if (!ID.test(id)) throw new BadInputError(`"${id}" is not a ${kind} id (lowercase hex)`, { id });
    return kind === 'manifest'
      ? join(this.location, 'manifests', `${id}.json`)
      : join(this.location, 'chunks', id.slice(0, 2), id.slice(2, 4), id);
  }

  private async ensureDir(dir: string): Promise<void> {
    if (this.made.has(dir)) return;
    await mkdir(dir, { recursive: true });
    this.made.add(dir);
  }
}
