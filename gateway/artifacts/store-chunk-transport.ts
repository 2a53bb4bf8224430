import { BadInputError, IntegrityError } from '../errors';
import type { ArtifactStore, ChunkCheck, VerifyReport } from './artifact-store';
import { ChunkGuard } from './chunk-guard';
import type { ArtifactPlace, ChunkData } from './chunk-transport';
import { sealManifest } from './manifest';
import type { ArtifactManifest } from './manifest';
import type { ScrubPace } from './read-pacer';

const CHUNK_ID = /^[0-9a-f]{64}$/;

/** How long chunks a copy asked about or wrote are kept from collection while its manifest has not come. */
const TRANSFER_LEASE_MS = 15 * 60_000;

/**
 * The chunk transport of an artifact store in this process. Chunks a copy asks about
 * (`missingChunks`) or writes are held from collection until a manifest naming them is written,
 * or for `TRANSFER_LEASE_MS`, so a collection between two calls of a copy cannot take them.
 */
export class StoreChunkTransport implements ArtifactPlace {
  readonly location: string;
  private readonly guard: ChunkGuard;
  private readonly leases = new Map<string, NodeJS.Timeout>();

  constructor(readonly store: ArtifactStore) {
    this.location = store.backend.location;
    this.guard = ChunkGuard.of(this.location);
  }

  hasManifest(manifestId: string): Promise<boolean> {
    return this.store.has(manifestId);
  }

  getManifest(manifestId: string): Promise<ArtifactManifest> {
    return this.store.manifest(manifestId);
  }

  async putManifest(manifest: ArtifactManifest): Promise<void> {
    const { id, ...content } = manifest;
    const sealed = sealManifest(content);
    if (sealed.manifest.id !== id) throw new IntegrityError(id, undefined, `its manifest re-encodes to ${sealed.manifest.id}`);
    const ids = [...new Set(manifest.chunks.map((c) => c.hash))];
    const backend = this.store.backend;
    for (const chunk of ids) {
      if (!(await backend.has('chunk', chunk))) throw new IntegrityError(id, chunk, 'it is missing from the target store: copy the chunks before the manifest');
    }
    await backend.flush?.(ids);
    await this.store.settleStamps(ids);
    await backend.put('manifest', id, sealed.bytes);
    this.release(ids);
  }

  async missingChunks(ids: string[]): Promise<string[]> {
    const missing: string[] = [];
    for (const id of ids) {
      checkId(id);
      await this.lease(id);
      if (!(await this.store.backend.has('chunk', id))) missing.push(id);
    }
    return missing;
  }

  async checkChunks(ids: string[]): Promise<ChunkCheck> {
    for (const id of ids) {
      checkId(id);
      await this.lease(id);
    }
    return this.store.checkChunks(ids);
  }

  async getChunks(ids: string[]): Promise<ChunkData[]> {
    const out: ChunkData[] = [];
    for (const id of ids) {
      checkId(id);
      out.push({ id, data: (await this.store.backend.get('chunk', id)).toString('base64') });
    }
    return out;
  }

  async putChunks(chunks: ChunkData[]): Promise<void> {
    for (const { id, data } of chunks) {
      checkId(id);
      if (typeof data !== 'string') throw new BadInputError(`Chunk ${id} came without its bytes (base64)`, { chunk: id });
      await this.lease(id);
      await this.store.storeChunk(id, Buffer.from(data, 'base64'));
    }
    await this.store.ledger.flush();
  }

  async deleteManifest(manifestId: string): Promise<void> {
    if (await this.store.has(manifestId)) await this.store.delete(manifestId);
  }

  gc(): Promise<{ removedChunks: number; freedBytes: number }> {
    return this.store.gc();
  }

  verify(manifestId: string, key?: Buffer): Promise<VerifyReport> {
    return this.store.verify(manifestId, { key });
  }

  scrub(manifestId: string, key?: Buffer, pace?: ScrubPace): Promise<VerifyReport> {
    return this.store.scrub(manifestId, { key, pace });
  }

  /** Holds a chunk from collection until a manifest names it or the lease runs out. */
  private async lease(id: string): Promise<void> {
    const current = this.leases.get(id);
    if (current) {
      current.refresh();
      return;
    }
    const timer = setTimeout(() => this.release([id]), TRANSFER_LEASE_MS);
    timer.unref();
    this.leases.set(id, timer);
    await this.guard.hold(id);
  }

  private release(ids: string[]): void {
    const held = ids.filter((id) => this.leases.has(id));
    for (const id of held) {
      clearTimeout(this.leases.get(id));
      this.leases.delete(id);
    }
    this.guard.release(held);
  }
}

function checkId(id: string): void {
  if (typeof id !== 'string' || !CHUNK_ID.test(id)) throw new BadInputError(`"${String(id)}" is not a chunk id (64 hex digits)`, { chunk: id });
}
