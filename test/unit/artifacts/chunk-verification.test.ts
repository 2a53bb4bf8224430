import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ArtifactStore } from '../../../gateway/artifacts/artifact-store';
import { copyArtifact } from '../../../gateway/artifacts/chunk-copy';
import { DirectoryBackend } from '../../../gateway/artifacts/directory-backend';
import { FilePerChunkBackend } from '../../../gateway/artifacts/file-per-chunk-backend';
import { StoreChunkTransport } from '../../../gateway/artifacts/store-chunk-transport';
import { flipByte } from '../../helpers/artifacts';

/** Counts the chunk bytes a store reads from its backend. */
function counting(store: ArtifactStore): { read: () => number } {
  let bytes = 0;
  const get = store.backend.get.bind(store.backend);
  store.backend.get = async (kind, id) => {
    const out = await get(kind, id);
    if (kind === 'chunk') bytes += out.length;
    return out;
  };
  return { read: () => bytes };
}

describe('what a store knows of its chunks: reuse only intact ones, repair damaged ones, verify jobs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rsp-chunk-verify-'));
  let n = 0;
  const chunking = { min: 4096, avg: 16_384, max: 65_536 };
  const store = (backend: 'packs' | 'files' = 'packs') => {
    const at = join(dir, `store-${++n}`);
    return new ArtifactStore({ backend: backend === 'packs' ? new DirectoryBackend(at) : new FilePerChunkBackend(at), chunking });
  };
  const put = async (s: ArtifactStore, data: Buffer, key?: Buffer) => (await s.put(Readable.from([data]), { key })).manifest;
  afterAll(() => rm(dir, { recursive: true, force: true }));

  for (const backend of ['packs', 'files'] as const) {
    test(`${backend}: a copy reuses intact chunks without reading them, and writes a flipped one again from the source`, async () => {
      const source = store(backend);
      const target = store(backend);
      const data = randomBytes(512 * 1024);
      const m = await put(source, data);
      const first = await copyArtifact(new StoreChunkTransport(source), new StoreChunkTransport(target), m.id);
      const distinct = new Set(m.chunks.map((c) => c.hash)).size;
      expect(first.counts).toEqual({ reusedChunks: 0, writtenChunks: distinct, repairedChunks: 0 });

      // Unchanged: every chunk reused, none read from the target's backend.
      const reads = counting(target);
      const again = await copyArtifact(new StoreChunkTransport(source), new StoreChunkTransport(target), m.id);
      expect(again.counts).toEqual({ reusedChunks: distinct, writtenChunks: 0, repairedChunks: 0 });
      expect(reads.read()).toBe(0);

      const victim = m.chunks[Math.floor(m.chunks.length / 2)]!.hash;
      await flipByte(target, victim);
      expect((await target.verify(m.id)).ok).toBe(false);
      const repaired = await copyArtifact(new StoreChunkTransport(source), new StoreChunkTransport(target), m.id);
      expect(repaired.counts.repairedChunks).toBe(1);
      expect(repaired.counts.reusedChunks).toBe(distinct - 1);
      expect((await target.verify(m.id)).ok).toBe(true);
      // A store opened afresh on the directory sees the same: the ledger is on disk.
      await target.ledger.flush();
      const reopened = new ArtifactStore({ backend: backend === 'packs' ? new DirectoryBackend(target.backend.location) : new FilePerChunkBackend(target.backend.location), chunking });
      expect(await reopened.checkChunks(m.chunks.map((c) => c.hash))).toEqual({ missing: [], damaged: [], unverified: [] });
    });
  }

  test('encrypted chunks: checked against the checksum of their sealed bytes, without the key', async () => {
    const key = randomBytes(32);
    const source = store();
    const target = store();
    const m = await put(source, randomBytes(256 * 1024), key);
    await copyArtifact(new StoreChunkTransport(source), new StoreChunkTransport(target), m.id, { key });
    const victim = m.chunks[0]!.hash;
    await flipByte(target, victim);
    const check = await target.checkChunks(m.chunks.map((c) => c.hash));
    expect(check.damaged).toEqual([victim]);
    const scrub = await target.scrub(m.id);
    expect(scrub.problems.map((p) => p.chunk)).toEqual([victim]);
    const copy = await copyArtifact(new StoreChunkTransport(source), new StoreChunkTransport(target), m.id, { key });
    expect(copy.counts.repairedChunks).toBe(1);
    expect((await target.scrub(m.id)).ok).toBe(true);
    expect((await target.verify(m.id, { key })).ok).toBe(true);
  });

  test('scrub names a missing chunk, a truncated pack and a damaged manifest', async () => {
    const s = store();
    const data = randomBytes(256 * 1024);
    const m = await put(s, data);
    const ok = await s.scrub(m.id);
    expect(ok).toMatchObject({ ok: true, chunks: new Set(m.chunks.map((c) => c.hash)).size });
    expect(ok.bytes).toBe(data.length);

    const gone = m.chunks[1]!.hash;
    await s.backend.delete('chunk', gone);
    const missing = await s.scrub(m.id);
    expect(missing.problems).toEqual([{ chunk: gone, index: 1, reason: 'it is missing' }]);

    const other = store();
    const m2 = await put(other, randomBytes(256 * 1024));
    const where = (await (other.backend as DirectoryBackend).whereIs(m2.chunks[0]!.hash))!;
    await truncate(where.path, Math.floor((await stat(where.path)).size / 2));
    // The store that wrote the pack reads short chunks; one opened afresh finds no index: every chunk of the pack is missing.
    const cut = await other.scrub(m2.id);
    expect(cut.ok).toBe(false);
    expect(cut.problems.length).toBeGreaterThan(0);
    const fresh = await ArtifactStore.inDirectory(other.backend.location).scrub(m2.id);
    expect(fresh.problems.length).toBe(new Set(m2.chunks.map((c) => c.hash)).size);
    expect(fresh.problems.every((p) => p.reason === 'it is missing')).toBe(true);

    const third = store('files');
    const m3 = await put(third, randomBytes(64 * 1024));
    await third.backend.put('manifest', m3.id, Buffer.from('{"not":"it"}'));
    expect((await third.scrub(m3.id)).problems).toEqual([{ chunk: null, index: null, reason: expect.stringMatching(/does not check out/) }]);
  });

  test('a rate limit slows the verify job down', async () => {
    const s = store();
    const m = await put(s, randomBytes(256 * 1024));
    const started = Date.now();
    expect((await s.scrub(m.id, { pace: { bytesPerSecond: 1024 * 1024 } })).ok).toBe(true);
    // 256 KiB at 1 MiB/s: at least about a quarter of a second (a lower bound, never an upper one).
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
  });

  test('the default, adaptive pace checks every chunk and finds damage like any other', async () => {
    const s = store();
    const m = await put(s, randomBytes(512 * 1024));
    const adaptive = { floorBytesPerSecond: 1024 * 1024 };
    expect(await s.scrub(m.id, { pace: adaptive })).toMatchObject({ ok: true, bytes: 512 * 1024, chunks: new Set(m.chunks.map((c) => c.hash)).size });
    const victim = m.chunks[1]!.hash;
    await s.backend.delete('chunk', victim);
    expect((await s.scrub(m.id, { pace: adaptive })).problems).toEqual([{ chunk: victim, index: 1, reason: 'it is missing' }]);
  });
});
