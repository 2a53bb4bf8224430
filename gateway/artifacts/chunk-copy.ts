import { ArtifactKeyError, IntegrityError, isCategory } from '../errors';
import type { PutResult, StoreProgress } from './artifact-store';
import { keyedCodec, keyIdOf, plainCodec } from './chunk-codec';
import type { ChunkCodec } from './chunk-codec';
import type { ChunkTransport } from './chunk-transport';

/**
 * Plaintext bytes of chunks fetched and written at once by a copy (a batch may pass it by one
 * chunk): an agent's answer to `getChunks` carries one batch, within its bound (AGENT_ANSWER_BOUNDS).
 */
export const BATCH_BYTES = 4 * 1024 * 1024;
/** Chunk ids asked about at once. */
export const QUERY_IDS = 4096;

/**
 * `ids` in batches of at most `budget` bytes by `sizeOf` (each batch holds at least one chunk) and
 * at most QUERY_IDS ids, in order: what one `getChunks` may be asked for.
 */
export function chunkBatches(ids: readonly string[], sizeOf: (id: string) => number, budget = BATCH_BYTES): string[][] {
  const batches: string[][] = [];
  let batch: string[] = [];
  let bytes = 0;
  for (const id of ids) {
    const size = sizeOf(id);
    if (batch.length && (bytes + size > budget || batch.length >= QUERY_IDS)) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(id);
    bytes += size;
  }
  if (batch.length) batches.push(batch);
  return batches;
}

/** Options of `copyArtifact`. */
export interface CopyOptions {
  /** The group key of an encrypted artifact: its chunks are then checked on the way too. */
  key?: Buffer;
  onProgress?(progress: StoreProgress): void;
  signal?: AbortSignal;
}

/** Distinct chunks of a copy: reused from the target, written there (absent, or not checkable there), repaired (damaged there). */
export interface CopyCounts {
  reusedChunks: number;
  writtenChunks: number;
  repairedChunks: number;
}

/** What a copy did: the manifest, the counts of `copyArtifact` and what became of each distinct chunk. */
export interface CopyResult extends PutResult {
  counts: CopyCounts;
}

/**
 * Copies an artifact from one store to another through their chunk transports: only the chunks
 * the target lacks — or holds damaged, or cannot vouch for — are fetched and written (in batches, as stored: an encrypted artifact moves
 * without its key), then the manifest. Plaintext chunks — encrypted ones too when `key` is given —
 * are checked on the way; a damaged one stops the copy with `IntegrityError` before the manifest is
 * written. `stats.newBytes` is what moved. Copying within one store moves nothing.
 */
export async function copyArtifact(from: ChunkTransport, to: ChunkTransport, manifestId: string, options: CopyOptions = {}): Promise<CopyResult> {
  const { signal, onProgress } = options;
  signal?.throwIfAborted();
  const manifest = await from.getManifest(manifestId);
  const stats: StoreProgress = { bytes: 0, chunks: 0, newChunks: 0, newBytes: 0 };
  const total = { bytes: manifest.size, chunks: manifest.chunks.length };
  if (from.location === to.location) return { manifest, stats: { ...total, newChunks: 0, newBytes: 0 }, counts: { reusedChunks: new Set(manifest.chunks.map((c) => c.hash)).size, writtenChunks: 0, repairedChunks: 0 } };
  const codec = codecFor(manifest.id, manifest.encryption?.keyId ?? null, options.key);
  const sizes = new Map<string, number>();
  const indexOf = new Map<string, number>();
  manifest.chunks.forEach((c, index) => {
    sizes.set(c.hash, c.size);
    if (!indexOf.has(c.hash)) indexOf.set(c.hash, index);
  });
  const unique = [...sizes.keys()];
  const missing: string[] = [];
  let repairedChunks = 0;
  for (let i = 0; i < unique.length; i += QUERY_IDS) {
    const ids = unique.slice(i, i + QUERY_IDS);
    if (!to.checkChunks) {
      missing.push(...(await to.missingChunks(ids)));
      continue;
    }
    const check = await to.checkChunks(ids);
    missing.push(...check.missing, ...check.unverified, ...check.damaged);
    repairedChunks += check.damaged.length;
  }
  const counts: CopyCounts = { reusedChunks: unique.length - missing.length, writtenChunks: missing.length - repairedChunks, repairedChunks };
  const missingSet = new Set(missing);
  // Chunks the target has count as checked at once.
  for (const c of manifest.chunks) if (!missingSet.has(c.hash)) bump(stats, c.size);
  if (stats.chunks) onProgress?.({ ...stats });

  const moved = new Set<string>();
  let batch: string[] = [];
  let batchBytes = 0;
  const flushBatch = async (): Promise<void> => {
    if (!batch.length) return;
    signal?.throwIfAborted();
    const chunks = await fetchChunks(from, manifest.id, batch, indexOf);
    for (const chunk of chunks) {
      if (!codec) continue;
      try {
        codec.unseal(Buffer.from(chunk.data, 'base64'), chunk.id);
      } catch (reason) {
        if (typeof reason === 'string') throw new IntegrityError(manifest.id, chunk.id, reason, { index: indexOf.get(chunk.id) });
        throw reason;
      }
    }
    await to.putChunks(chunks);
    for (const id of batch) {
      moved.add(id);
      stats.newChunks += 1;
      stats.newBytes += sizes.get(id)!;
    }
    batch = [];
    batchBytes = 0;
  };
  for (const id of missing) {
    batch.push(id);
    batchBytes += sizes.get(id)!;
    if (batchBytes >= BATCH_BYTES) {
      await flushBatch();
      reportMoved(manifest.chunks, moved, missingSet, stats, onProgress);
    }
  }
  await flushBatch();
  reportMoved(manifest.chunks, moved, missingSet, stats, onProgress);
  signal?.throwIfAborted();
  await to.putManifest(manifest);
  return { manifest, stats: { ...total, newChunks: stats.newChunks, newBytes: stats.newBytes }, counts };
}

/** Fetches chunks, turning an absent one into an integrity error of the artifact. */
async function fetchChunks(from: ChunkTransport, manifestId: string, ids: string[], indexOf: Map<string, number>) {
  try {
    return await from.getChunks(ids);
  } catch (e) {
    if (!isCategory(e, 'NOT_FOUND')) throw e;
    const named = e.details.id;
    const chunk = typeof named === 'string' && ids.includes(named) ? named : ids[0]!;
    throw new IntegrityError(manifestId, chunk, 'it is missing', { index: indexOf.get(chunk) });
  }
}

/** Counts the chunks of the manifest moved so far (each entry of a moved chunk once reached). */
function reportMoved(entries: Array<{ hash: string; size: number }>, moved: Set<string>, missing: Set<string>, stats: StoreProgress, onProgress: CopyOptions['onProgress']): void {
  let bytes = 0;
  let chunks = 0;
  for (const c of entries) {
    if (!missing.has(c.hash) || moved.has(c.hash)) {
      bytes += c.size;
      chunks += 1;
    }
  }
  stats.bytes = bytes;
  stats.chunks = chunks;
  onProgress?.({ ...stats });
}

function bump(stats: StoreProgress, size: number): void {
  stats.bytes += size;
  stats.chunks += 1;
}

/** How the copy checks chunks: plaintext by sha256, encrypted ones with the key when given, else not at all. */
function codecFor(manifestId: string, keyId: string | null, key: Buffer | undefined): ChunkCodec | undefined {
  if (!keyId) return plainCodec;
  if (!key) return undefined;
  const given = keyIdOf(key);
  if (given !== keyId) throw new ArtifactKeyError(manifestId, `the key given (id ${given}) is not the key it was encrypted with (id ${keyId})`, { keyId, givenKeyId: given });
  return keyedCodec(key);
}
