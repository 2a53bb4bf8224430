import { createHash, webcrypto } from 'node:crypto';
import { Readable } from 'node:stream';
import pino from 'pino';
import { ArtifactKeyError, BadInputError, IntegrityError, NotFoundError, isCategory } from '../errors';
import type { Logger } from '../logging/logger';
import type { ChunkBackend } from './chunk-backend';
import { keyedCodec, keyIdOf, plainCodec } from './chunk-codec';
import type { ChunkCodec } from './chunk-codec';
import { ChunkGuard } from './chunk-guard';
import { ChunkHasher } from './chunk-hasher';
import { ChunkLedger } from './chunk-ledger';
import { CHUNKING_ALGORITHM, Chunker, chunkingOptions } from './chunker';
import type { ChunkingOptions } from './chunker';
import { DirectoryBackend } from './directory-backend';
import type { DirectoryBackendOptions } from './directory-backend';
import { FilePerChunkBackend } from './file-per-chunk-backend';
import { openManifest, sealManifest } from './manifest';
import type { ArtifactManifest, ManifestChunk } from './manifest';
import { pacerFor } from './read-pacer';
import type { ScrubPace } from './read-pacer';

/** Bytes a put lets run ahead of its writes (and of its hashing thread) before it stops reading. */
const PUT_AHEAD_BYTES = 8 * 1024 * 1024;

export type { ArtifactManifest } from './manifest';
export type { ChunkBackend } from './chunk-backend';
export type { ChunkingOptions } from './chunker';

/** Counts of a put so far: plaintext bytes and chunks read, and those the store did not have yet. */
export interface StoreProgress {
  bytes: number;
  chunks: number;
  newChunks: number;
  newBytes: number;
}

/** What a put stored: the manifest (its `id` names the artifact) and the final counts. */
export interface PutResult {
  manifest: ArtifactManifest;
  stats: StoreProgress;
}

/** One thing wrong found by `verify`: the chunk (null for the manifest itself), its position, why. */
export interface VerifyProblem {
  chunk: string | null;
  index: number | null;
  reason: string;
}

/** The outcome of reading a whole artifact back. */
export interface VerifyReport {
  ok: boolean;
  manifestId: string;
  /** Plaintext bytes read and checked. */
  bytes: number;
  /** Chunks read and checked. */
  chunks: number;
  problems: VerifyProblem[];
}

/**
 * What a store knows of chunks it was asked about: absent, present but damaged (their bytes no
 * longer check out), or present but not checkable here (sealed bytes it never recorded a
 * checksum of); every other id is present and intact as far as the store knows.
 */
export interface ChunkCheck {
  missing: string[];
  damaged: string[];
  unverified: string[];
}

/** Options of `scrub`. */
export interface ScrubOptions {
  /** The group key of an encrypted artifact, for chunks whose stored checksum the store does not know. */
  key?: Buffer;
  /** How fast it reads (see `ScrubPace`): a fixed cap, adaptive above a floor, or as fast as the disk allows (neither given). */
  pace?: ScrubPace;
  signal?: AbortSignal;
}

/** Options of a store. */
export interface ArtifactStoreOptions {
  backend: ChunkBackend;
  chunking?: Partial<ChunkingOptions>;
  logger?: Logger;
  /** Chunks read ahead by open/verify and copied at once by copyTo (a put runs up to 8 MiB ahead of its writes). Default 8. */
  concurrency?: number;
  /** gc keeps chunks written less than this many ms before it started (for other processes sharing the backend). Default 0. */
  gcGraceMs?: number;
}

/** Options of a put. */
export interface PutOptions {
  /** A 32-byte group key: chunks are sealed with AES-256-GCM and named by HMAC-SHA256. */
  key?: Buffer;
  labels?: Record<string, string>;
  /** Called after each chunk is stored. */
  onProgress?(progress: StoreProgress): void;
  /** Aborting stops the put: no manifest is written (chunks already written are left to gc). */
  signal?: AbortSignal;
}

/**
 * The artifact store: streams cut into content-defined chunks, each stored once under its hash
 * (deduplicated across every artifact of the store), and a manifest per artifact listing its
 * chunks with a sha256 of the whole. Reading checks every chunk; `gc` removes chunks no manifest
 * references. Optionally encrypted at rest with a group key given by the caller.
 */
export class ArtifactStore {
  readonly backend: ChunkBackend;
  readonly chunking: ChunkingOptions;
  private readonly logger: Logger;
  private readonly concurrency: number;
  private readonly gcGraceMs: number;
  private readonly guard: ChunkGuard;
  /** What the store knows of its chunks' bytes (see `checkChunks`). */
  readonly ledger: ChunkLedger;

  constructor(options: ArtifactStoreOptions) {
    this.backend = options.backend;
    this.chunking = chunkingOptions(options.chunking);
    this.logger = options.logger ?? pino({ level: 'silent' });
    this.concurrency = Math.max(1, Math.floor(options.concurrency ?? 8));
    this.gcGraceMs = Math.max(0, options.gcGraceMs ?? 0);
    this.guard = ChunkGuard.of(this.backend.location);
    this.ledger = new ChunkLedger(this.backend.ledgerPath);
  }

  /** A store in a local directory (see `DirectoryBackend`). */
  static inDirectory(dir: string, options: Omit<ArtifactStoreOptions, 'backend'> & DirectoryBackendOptions = {}): ArtifactStore {
    return new ArtifactStore({ ...options, backend: new DirectoryBackend(dir, options) });
  }

  /**
   * Reads `source` to its end and stores it; resolves to the manifest once every chunk and the
   * manifest are written. Chunks the store has are not written again.
   */
  async put(source: Readable, options: PutOptions = {}): Promise<PutResult> {
    const { signal, onProgress } = options;
    signal?.throwIfAborted();
    const labels = checkLabels(options.labels ?? {});
    const codec = options.key ? keyedCodec(options.key) : plainCodec;
    const chunker = new Chunker(this.chunking);
    const entries: ManifestChunk[] = [];
    const stats: StoreProgress = { bytes: 0, chunks: 0, newChunks: 0, newBytes: 0 };
    const writes = new Map<string, Promise<boolean>>();
    const held: string[] = [];
    /** Chunks this put wrote (the others were stored already). */
    const fresh: string[] = [];
    const inflight = new Set<Promise<void>>();
    let inflightBytes = 0;
    let failure: { error: unknown } | undefined;

    const storeChunk = async (entry: ManifestChunk, data: Buffer[]): Promise<void> => {
      const id = entry.hash;
      let write = writes.get(id);
      if (!write) {
        write = this.writeChunk(id, data, codec, held);
        writes.set(id, write);
        if (await write) {
          fresh.push(id);
          stats.newChunks += 1;
          stats.newBytes += entry.size;
        }
      } else {
        await write;
      }
      stats.bytes += entry.size;
      stats.chunks += 1;
      onProgress?.({ ...stats });
    };
    // Chunks are cut here, hashed on the hashing thread, and written from its batches once back.
    const hasher = new ChunkHasher(codec.idKey, (data, id, release) => {
      let size = 0;
      for (const part of data) size += part.length;
      const entry: ManifestChunk = { hash: id, size };
      entries.push(entry);
      inflightBytes += size;
      const task: Promise<void> = storeChunk(entry, data).then(
        () => {
          inflight.delete(task);
          inflightBytes -= size;
          release();
        },
        (error: unknown) => {
          inflight.delete(task);
          inflightBytes -= size;
          release();
          failure ??= { error };
        },
      );
      inflight.add(task);
    });
    const full = (): boolean => failure !== undefined || hasher.failure !== undefined || inflightBytes >= PUT_AHEAD_BYTES || hasher.outstanding >= PUT_AHEAD_BYTES;
    const checkFailure = (): void => {
      if (failure) throw failure.error;
      if (hasher.failure) throw hasher.failure;
    };

    const onAbort = () => source.destroy(signal?.reason instanceof Error ? signal.reason : new Error('the put was cancelled'));
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const take = (buf: Buffer): void => {
        hasher.write(buf, chunker.push(buf));
      };
      await this.consume(source, take, async () => {
        while (full() && !failure && !hasher.failure) {
          if (hasher.outstanding >= PUT_AHEAD_BYTES) await hasher.caughtUp(PUT_AHEAD_BYTES / 2);
          else await Promise.race(inflight);
        }
        checkFailure();
      }, full);
      const sha256 = await hasher.end(chunker.finish());
      while (inflight.size && !failure) await Promise.race(inflight);
      checkFailure();
      signal?.throwIfAborted();
      await this.backend.flush?.(writes.keys());
      await this.settleStamps(fresh);
      const { manifest, bytes } = sealManifest({
        version: 1,
        chunks: entries,
        size: stats.bytes,
        sha256,
        encryption: codec.encryption,
        chunking: { ...this.chunking, algorithm: CHUNKING_ALGORITHM },
        createdAt: new Date().toISOString(),
        labels,
      });
      await this.backend.put('manifest', manifest.id, bytes);
      await this.ledger.flush();
      this.logger.debug({ manifestId: manifest.id, ...stats }, 'artifact stored');
      return { manifest, stats };
    } catch (e) {
      await Promise.allSettled([...inflight]);
      // Seal what was written, so nothing lingers half-packed; gc takes it back.
      await this.backend.flush?.([]).catch(() => undefined);
      throw signal?.aborted ? signal.reason : e;
    } finally {
      hasher.cancel();
      signal?.removeEventListener('abort', onAbort);
      this.guard.release(held);
    }
  }

  /**
   * The artifact's plaintext as a stream. Every chunk is checked against its id before its bytes
   * are passed on; the stream errors with `IntegrityError` (naming the artifact and the chunk) at
   * the first bad or missing one.
   */
  async open(manifestId: string, options: { key?: Buffer } = {}): Promise<Readable> {
    const manifest = await this.manifest(manifestId);
    const codec = this.codecFor(manifest, options.key);
    const store = this;
    async function* chunks(): AsyncGenerator<Buffer> {
      for await (const result of store.readChunks(manifest, codec)) {
        if ('problem' in result) throw new IntegrityError(manifest.id, result.chunk, result.problem, { index: result.index });
        yield result.data;
      }
    }
    return Readable.from(chunks(), { objectMode: false });
  }

  /**
   * Reads the whole artifact and checks every chunk, their sizes and the sha256 of the whole.
   * Damage is reported, never thrown; an absent manifest is NOT_FOUND and a missing or wrong key
   * is BAD_USER_INPUT.
   */
  async verify(manifestId: string, options: { key?: Buffer } = {}): Promise<VerifyReport> {
    const report: VerifyReport = { ok: false, manifestId, bytes: 0, chunks: 0, problems: [] };
    const manifest = await this.manifestForReport(manifestId, report);
    if (!manifest) return report;
    const codec = this.codecFor(manifest, options.key);
    const whole = createHash('sha256');
    for await (const result of this.readChunks(manifest, codec)) {
      if ('problem' in result) {
        report.problems.push({ chunk: result.chunk, index: result.index, reason: result.problem });
        continue;
      }
      whole.update(result.data);
      report.bytes += result.data.length;
      report.chunks += 1;
    }
    if (!report.problems.length && report.bytes !== manifest.size) {
      report.problems.push({ chunk: null, index: null, reason: `the chunks hold ${report.bytes} bytes, the manifest says ${manifest.size}` });
    }
    if (!report.problems.length) {
      const sha = whole.digest('hex');
      if (sha !== manifest.sha256) report.problems.push({ chunk: null, index: null, reason: `the whole stream's sha256 is ${sha}, the manifest says ${manifest.sha256}` });
    }
    report.ok = report.problems.length === 0;
    return report;
  }

  /**
   * The manifest for a verify or scrub report: a damaged manifest is recorded in `report` as a
   * problem (and undefined returned) instead of thrown; any other error (NOT_FOUND, bad id) is thrown.
   */
  private async manifestForReport(manifestId: string, report: VerifyReport): Promise<ArtifactManifest | undefined> {
    try {
      return await this.manifest(manifestId);
    } catch (e) {
      if (!(e instanceof IntegrityError)) throw e;
      report.problems.push({ chunk: null, index: null, reason: e.reason });
      return undefined;
    }
  }

  /** The manifest of an artifact, checked against its id. NOT_FOUND when absent, INTEGRITY_ERROR when damaged. */
  async manifest(manifestId: string): Promise<ArtifactManifest> {
    if (!/^[0-9a-f]{64}$/.test(manifestId)) throw new BadInputError(`"${manifestId}" is not an artifact id (64 hex digits)`, { manifestId });
    let bytes: Buffer;
    try {
      bytes = await this.backend.get('manifest', manifestId);
    } catch (e) {
      if (isCategory(e, 'NOT_FOUND')) throw new NotFoundError('Artifact', manifestId);
      throw e;
    }
    const { manifest, problem } = openManifest(manifestId, bytes);
    if (!manifest) throw new IntegrityError(manifestId, undefined, `its manifest does not check out: ${problem}`);
    return manifest;
  }

  /** True when the store has the manifest `manifestId`. */
  async has(manifestId: string): Promise<boolean> {
    return /^[0-9a-f]{64}$/.test(manifestId) && this.backend.has('manifest', manifestId);
  }

  /** Every readable manifest, newest first; with `labels`, only those carrying all of them. */
  async list(labels: Record<string, string> = {}): Promise<ArtifactManifest[]> {
    const out: ArtifactManifest[] = [];
    for await (const { id } of this.backend.list('manifest')) {
      const { manifest } = openManifest(id, await this.backend.get('manifest', id).catch(() => Buffer.alloc(0)));
      if (manifest && Object.entries(labels).every(([k, v]) => manifest.labels[k] === v)) out.push(manifest);
    }
    return out.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
  }

  /** Removes an artifact's manifest (its chunks go at the next `gc`). NOT_FOUND when absent. */
  async delete(manifestId: string): Promise<void> {
    if (!(await this.has(manifestId))) throw new NotFoundError('Artifact', manifestId);
    await this.backend.delete('manifest', manifestId);
  }

  /**
   * Mark and sweep: removes every chunk that no manifest references. Chunks that puts in progress
   * (in this process) use are kept, and so are chunks younger than `gcGraceMs`. A manifest that
   * cannot be parsed stops the collection (its chunks are unknown), with INTEGRITY_ERROR.
   */
  async gc(): Promise<{ removedChunks: number; freedBytes: number }> {
    const started = Date.now();
    const end = this.guard.beginCollection();
    try {
      if (this.backend instanceof DirectoryBackend || this.backend instanceof FilePerChunkBackend) await this.backend.sweepTemporary(60 * 60 * 1000);
      const live = new Set<string>();
      for await (const { id } of this.backend.list('manifest')) {
        let bytes: Buffer;
        try {
          bytes = await this.backend.get('manifest', id);
        } catch (e) {
          if (isCategory(e, 'NOT_FOUND')) continue;
          throw e;
        }
        const { manifest, problem } = openManifest(id, bytes);
        let chunks = manifest?.chunks;
        if (!chunks) {
          chunks = parseChunksLoosely(bytes);
          if (!chunks) throw new IntegrityError(id, undefined, `gc stopped: its manifest cannot be read (${problem}), so the chunks it needs are unknown`);
          this.logger.warn({ manifestId: id, problem }, 'gc: a damaged manifest keeps its chunks');
        }
        for (const c of chunks) live.add(c.hash);
      }
      const dead: string[] = [];
      for await (const chunk of this.backend.list('chunk')) {
        if (!live.has(chunk.id) && chunk.modifiedMs <= started - this.gcGraceMs) dead.push(chunk.id);
      }
      const backend = this.backend;
      const removing = backend.deleteMany
        ? async (ids: string[]) => backend.deleteMany!('chunk', ids)
        : async (ids: string[]) => {
            let n = 0;
            for (const id of ids) n += await backend.delete('chunk', id);
            return n;
          };
      const { removed, freed } = await this.guard.removeUnlessHeld(dead, removing);
      await this.ledger.forget(removed);
      await this.ledger.flush();
      const removedChunks = removed.length;
      const freedBytes = freed;
      this.logger.info({ location: this.backend.location, removedChunks, freedBytes, liveChunks: live.size }, 'artifact gc done');
      return { removedChunks, freedBytes };
    } finally {
      end();
    }
  }

  /**
   * Copies an artifact into `target` (another store, e.g. on another host): only the chunks the
   * target lacks are read and written, as stored (an encrypted artifact is copied without its
   * key), then the same manifest. Plaintext chunks — and encrypted ones when `key` is given — are
   * checked on the way; a damaged one stops the copy with `IntegrityError` and no manifest is
   * written. `stats.newBytes` is what moved.
   */
  async copyTo(
    target: ArtifactStore,
    manifestId: string,
    options: { key?: Buffer; onProgress?(progress: StoreProgress): void; signal?: AbortSignal } = {},
  ): Promise<PutResult> {
    const { signal, onProgress } = options;
    signal?.throwIfAborted();
    const manifest = await this.manifest(manifestId);
    const codec = manifest.encryption ? (options.key ? this.codecFor(manifest, options.key) : undefined) : plainCodec;
    const stats: StoreProgress = { bytes: 0, chunks: 0, newChunks: 0, newBytes: 0 };
    const held: string[] = [];
    const seen = new Set<string>();
    let next = 0;
    let failed = false;
    const copyNext = async (): Promise<void> => {
      while (next < manifest.chunks.length && !failed) {
        signal?.throwIfAborted();
        const index = next;
        next += 1;
        const { hash, size } = manifest.chunks[index]!;
        if (!seen.has(hash)) {
          seen.add(hash);
          held.push(hash);
          await target.guard.hold(hash);
          if (!(await target.backend.has('chunk', hash))) {
            let stored: Buffer;
            try {
              stored = await this.backend.get('chunk', hash);
            } catch (e) {
              if (isCategory(e, 'NOT_FOUND')) throw new IntegrityError(manifest.id, hash, 'it is missing', { index });
              throw e;
            }
            try {
              codec?.unseal(stored, hash);
            } catch (reason) {
              if (typeof reason === 'string') throw new IntegrityError(manifest.id, hash, reason, { index });
              throw reason;
            }
            await target.backend.put('chunk', hash, stored);
            stats.newChunks += 1;
            stats.newBytes += size;
          }
        }
        stats.chunks += 1;
        stats.bytes += size;
        onProgress?.({ ...stats });
      }
    };
    try {
      const copies = await Promise.allSettled(
        Array.from({ length: this.concurrency }, () =>
          copyNext().catch((e: unknown) => {
            failed = true;
            throw e;
          }),
        ),
      );
      const failure = copies.find((c): c is PromiseRejectedResult => c.status === 'rejected');
      if (failure) throw failure.reason;
      await target.backend.flush?.(seen);
      signal?.throwIfAborted();
      const { id: _id, ...content } = manifest;
      const sealed = sealManifest(content);
      if (sealed.manifest.id !== manifest.id) throw new IntegrityError(manifest.id, undefined, `its manifest re-encodes to ${sealed.manifest.id}`);
      await target.backend.put('manifest', manifest.id, sealed.bytes);
      return { manifest, stats };
    } catch (e) {
      await target.backend.flush?.([]).catch(() => undefined);
      throw signal?.aborted ? signal.reason : e;
    } finally {
      target.guard.release(held);
    }
  }

  /**
   * Feeds every buffer of `source` to `take` ('data' events: measured cheaper per buffer than an
   * async iterator), pausing while `full()` says so until `room()` resolves. Rejects with the
   * source's error, with `room()`'s, or when the source closes before its end (and destroys it).
   */
  private consume(source: Readable, take: (buf: Buffer) => void, room: () => Promise<void>, full: () => boolean): Promise<void> {
    if (source.readableEnded) return Promise.resolve();
    if (source.destroyed) return Promise.reject(source.errored ?? new Error('the source was destroyed before it was read'));
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (error?: unknown): void => {
        if (settled) return;
        settled = true;
        source.off('data', onData);
        source.off('end', onEnd);
        source.off('error', finish);
        source.off('close', onClose);
        if (error === undefined) resolve();
        else {
          if (!source.destroyed) source.destroy();
          reject(error);
        }
      };
      const onData = (input: Buffer | string): void => {
        try {
          take(typeof input === 'string' ? Buffer.from(input) : input);
        } catch (e) {
          finish(e);
          return;
        }
        if (full()) {
          source.pause();
          room().then(
            () => {
              if (!settled) source.resume();
            },
            (e: unknown) => finish(e),
          );
        }
      };
      const onEnd = (): void => finish();
      const onClose = (): void => finish(new Error('the source closed before its end'));
      source.on('data', onData);
      source.once('end', onEnd);
      source.once('error', finish);
      source.once('close', onClose);
    });
  }

  /** Writes a chunk unless the store has it intact; resolves to true when it was written. */
  private async writeChunk(id: string, data: Buffer[], codec: ChunkCodec, held: string[]): Promise<boolean> {
    held.push(id);
    await this.guard.hold(id);
    if (await this.backend.has('chunk', id)) {
      // Reused only when intact as far as the store knows; a damaged (or unvouched-for) one is written again.
      const state = await this.inspect(id);
      if (state === 'intact') return false;
      if (state !== 'missing') await this.backend.delete('chunk', id);
    }
    const sealed = codec.seal(data);
    await this.backend.put('chunk', id, sealed);
    let size = 0;
    for (const part of sealed) size += part.length;
    const sha256 = codec.encryption ? sealed.reduce((h, part) => h.update(part), createHash('sha256')).digest('hex') : null;
    await this.ledger.note(id, { size, plain: !codec.encryption, sha256, stamp: null, verifiedAt: Date.now() });
    return true;
  }

  /**
   * Which of `ids` the store lacks, holds damaged, or cannot vouch for. A chunk is trusted without
   * reading it while the backend's stamp of its bytes is the one recorded when they were last
   * written or found intact; otherwise its bytes are read once and checked against its id or the
   * checksum recorded for them (a mismatch is recorded as damage).
   */
  async checkChunks(ids: string[]): Promise<ChunkCheck> {
    const out: ChunkCheck = { missing: [], damaged: [], unverified: [] };
    for (const id of ids) {
      const state = await this.inspect(id);
      if (state !== 'intact') out[state].push(id);
    }
    await this.ledger.flush();
    return out;
  }

  /**
   * Stores a chunk's bytes as stored elsewhere (a copy, a repair): written when absent; when
   * present and different (damaged), the old bytes are removed and these written instead.
   * Resolves to what happened.
   */
  async storeChunk(id: string, data: Buffer): Promise<'written' | 'kept' | 'replaced'> {
    const sha256 = createHash('sha256').update(data).digest('hex');
    let outcome: 'written' | 'kept' | 'replaced' = 'written';
    if (await this.backend.has('chunk', id)) {
      const stored = await this.backend.get('chunk', id).catch((e: unknown) => {
        if (isCategory(e, 'NOT_FOUND')) return undefined;
        throw e;
      });
      if (stored?.equals(data)) {
        await this.ledger.note(id, { size: data.length, plain: sha256 === id, sha256: sha256 === id ? null : sha256, stamp: (await this.backend.stamp?.(id)) ?? null, verifiedAt: Date.now() });
        return 'kept';
      }
      await this.backend.delete('chunk', id);
      outcome = 'replaced';
    }
    await this.backend.put('chunk', id, data);
    await this.ledger.note(id, { size: data.length, plain: sha256 === id, sha256: sha256 === id ? null : sha256, stamp: null, verifiedAt: Date.now() });
    return outcome;
  }

  /**
   * The verify job: re-reads every distinct chunk of an artifact and checks its stored bytes (the
   * sha256 of plaintext chunks is their id; sealed ones against the checksum recorded when they
   * were written, or with `key`), at the pace `pace` sets (see read-pacer.ts). Each hash is computed once per chunk
   * (no second pass over the whole stream), and the ledger learns the outcome: damaged chunks are
   * recorded so the next copy writes them again. Damage is reported, never thrown.
   */
  async scrub(manifestId: string, options: ScrubOptions = {}): Promise<VerifyReport> {
    const report: VerifyReport = { ok: false, manifestId, bytes: 0, chunks: 0, problems: [] };
    const manifest = await this.manifestForReport(manifestId, report);
    if (!manifest) return report;
    const codec = manifest.encryption && options.key ? this.codecFor(manifest, options.key) : undefined;
    const firstIndex = new Map<string, number>();
    manifest.chunks.forEach((c, i) => firstIndex.has(c.hash) || firstIndex.set(c.hash, i));
    const ids = [...firstIndex.keys()];
    const pacer = pacerFor(options.pace);
    const read = async (id: string): Promise<Buffer | undefined> => {
      try {
        return await this.backend.get('chunk', id);
      } catch (e) {
        if (isCategory(e, 'NOT_FOUND')) return undefined;
        throw e;
      }
    };
    // `concurrency` chunks at once, each read then hashed off the main thread (WebCrypto's digest
    // runs in the thread pool): reading and hashing overlap, and hashing uses every core.
    let next = 0;
    const work = async () => {
      while (next < ids.length) {
        options.signal?.throwIfAborted();
        const id = ids[next]!;
        next += 1;
        const began = performance.now();
        const stored = await read(id);
        const took = performance.now() - began;
        const index = firstIndex.get(id)!;
        if (!stored) {
          report.problems.push({ chunk: id, index, reason: 'it is missing' });
          await this.ledger.markDamaged(id, 'it is missing');
          continue;
        }
        report.bytes += stored.length;
        report.chunks += 1;
        const problem = await this.checkStored(id, stored, manifest.encryption ? 'sealed' : 'plain', codec, await sha256Off(stored));
        if (problem) report.problems.push({ chunk: id, index, reason: problem });
        const wait = pacer.afterRead(stored.length, took);
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(this.concurrency, ids.length)) }, work));
    report.problems.sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
    await this.ledger.flush();
    report.ok = report.problems.length === 0;
    return report;
  }

  /**
   * Records where chunks just written landed (their backend stamps), once they are in place
   * (after `flush`): from then on a change of their bytes shows as a change of stamp.
   */
  async settleStamps(ids: Iterable<string>): Promise<void> {
    if (!this.backend.stamp) return;
    for (const id of ids) {
      const record = await this.ledger.get(id);
      if (!record || record.stamp !== null || record.damaged) continue;
      const stamp = await this.backend.stamp(id);
      if (stamp !== undefined) await this.ledger.note(id, { ...record, stamp });
    }
    await this.ledger.flush();
  }

  /** Whether a chunk is intact as far as the store knows, reading it only when its stamp changed. */
  private async inspect(id: string): Promise<'intact' | keyof ChunkCheck> {
    if (!(await this.backend.has('chunk', id))) return 'missing';
    const record = await this.ledger.get(id);
    if (record?.damaged) return 'damaged';
    if (record && !this.backend.stamp) return 'intact';
    const stamp = await this.backend.stamp?.(id);
    if (record && stamp !== undefined && record.stamp === stamp) return 'intact';
    if (record && record.stamp === null) {
      // Written and not yet in place (no stamp), or first met in place: its stamp is taken now.
      if (stamp !== undefined) await this.ledger.note(id, { ...record, stamp });
      return 'intact';
    }
    let stored: Buffer;
    try {
      stored = await this.backend.get('chunk', id);
    } catch (e) {
      if (isCategory(e, 'NOT_FOUND')) return 'missing';
      throw e;
    }
    const kind = record ? (record.plain ? 'plain' : 'sealed') : 'unknown';
    const problem = await this.checkStored(id, stored, kind);
    if (problem === undefined) return 'intact';
    return problem === UNCHECKABLE ? 'unverified' : 'damaged';
  }

  /**
   * Checks a chunk's stored bytes and records the outcome in the ledger: undefined when intact,
   * else why not (`UNCHECKABLE` when sealed bytes have no recorded checksum and no key is given).
   */
  private async checkStored(id: string, stored: Buffer, kind: 'plain' | 'sealed' | 'unknown', codec?: ChunkCodec, hashed?: string): Promise<string | undefined> {
    const sha = hashed ?? createHash('sha256').update(stored).digest('hex');
    const record = await this.ledger.get(id);
    const stamp = (await this.backend.stamp?.(id)) ?? null;
    const intact = async (plain: boolean) => {
      await this.ledger.note(id, { size: stored.length, plain, sha256: plain ? null : sha, stamp, verifiedAt: Date.now() });
      return undefined;
    };
    const damaged = async (reason: string) => {
      await this.ledger.markDamaged(id, reason);
      return reason;
    };
    if (sha === id) return intact(true);
    if (kind === 'plain') return damaged(`its sha256 is ${sha}`);
    if (record?.sha256) return sha === record.sha256 ? intact(false) : damaged(`its stored bytes' sha256 is ${sha}, ${record.sha256} when written`);
    if (codec) {
      try {
        codec.unseal(stored, id);
        return intact(false);
      } catch (reason) {
        if (typeof reason === 'string') return damaged(reason);
        throw reason;
      }
    }
    return UNCHECKABLE;
  }

  /** The codec that opens `manifest`'s chunks with `key`; ArtifactKeyError when the key is missing or another. */
  private codecFor(manifest: ArtifactManifest, key: Buffer | undefined): ChunkCodec {
    if (!manifest.encryption) return plainCodec;
    if (!key) throw new ArtifactKeyError(manifest.id, 'it is encrypted: give the group key it was stored with', { keyId: manifest.encryption.keyId });
    const given = keyIdOf(key);
    if (given !== manifest.encryption.keyId) {
      throw new ArtifactKeyError(manifest.id, `the key given (id ${given}) is not the key it was encrypted with (id ${manifest.encryption.keyId})`, {
        keyId: manifest.encryption.keyId,
        givenKeyId: given,
      });
    }
    return keyedCodec(key);
  }

  /** Reads and checks the chunks of `manifest` in order, `concurrency` at a time ahead. */
  private async *readChunks(
    manifest: ArtifactManifest,
    codec: ChunkCodec,
  ): AsyncGenerator<{ data: Buffer } | { chunk: string; index: number; problem: string }> {
    const read = async (index: number): Promise<{ data: Buffer } | { chunk: string; index: number; problem: string }> => {
      const { hash, size } = manifest.chunks[index]!;
      let stored: Buffer;
      try {
        stored = await this.backend.get('chunk', hash);
      } catch (e) {
        if (isCategory(e, 'NOT_FOUND')) return { chunk: hash, index, problem: 'it is missing' };
        throw e;
      }
      try {
        const data = codec.unseal(stored, hash);
        if (data.length !== size) return { chunk: hash, index, problem: `it holds ${data.length} bytes, the manifest says ${size}` };
        return { data };
      } catch (reason) {
        if (typeof reason === 'string') return { chunk: hash, index, problem: reason };
        throw reason;
      }
    };
    const ahead: Array<Promise<{ data: Buffer } | { chunk: string; index: number; problem: string }>> = [];
    let next = 0;
    const fill = () => {
      while (next < manifest.chunks.length && ahead.length < this.concurrency) {
        const p = read(next);
        p.catch(() => undefined);
        ahead.push(p);
        next += 1;
      }
    };
    fill();
    while (ahead.length) {
      const result = await ahead.shift()!;
      fill();
      yield result;
    }
  }
}

/** Why sealed bytes could not be checked: no checksum was recorded and no key given. */
const UNCHECKABLE = 'its sealed bytes have no recorded checksum and no key was given to open them';

function checkLabels(labels: Record<string, string>): Record<string, string> {
  for (const [k, v] of Object.entries(labels)) {
    if (typeof v !== 'string') throw new BadInputError(`Artifact label ${k} must be a string`, { label: k });
  }
  return { ...labels };
}

/** The chunk list of manifest bytes whose checksum failed but whose JSON still parses (gc keeps those chunks). */
function parseChunksLoosely(bytes: Buffer): ManifestChunk[] | undefined {
  try {
    const parsed = JSON.parse(bytes.toString('utf8')) as { chunks?: unknown };
    return Array.isArray(parsed.chunks) && parsed.chunks.every((c) => typeof (c as ManifestChunk)?.hash === 'string') ? (parsed.chunks as ManifestChunk[]) : undefined;
  } catch {
    return undefined;
  }
}

/** The sha256 (hex) of `bytes`, computed in the thread pool (WebCrypto), not on the main thread. */
async function sha256Off(bytes: Buffer): Promise<string> {
  return Buffer.from(await webcrypto.subtle.digest('SHA-256', bytes)).toString('hex');
}
