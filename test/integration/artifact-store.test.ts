import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { ArtifactStore } from '../../gateway/artifacts/artifact-store';
import { DirectoryBackend } from '../../gateway/artifacts/directory-backend';
import { FilePerChunkBackend } from '../../gateway/artifacts/file-per-chunk-backend';
import { ArtifactKeyError, IntegrityError } from '../../gateway/errors';

const MiB = 1024 * 1024;
const SMALL_CHUNKS = { min: 4096, avg: 16_384, max: 65_536 };

/** A stream of `data` in pieces of `piece` bytes. */
function streamOf(data: Buffer, piece = 65_536): Readable {
  return Readable.from((function* () {
    for (let o = 0; o < data.length; o += piece) yield data.subarray(o, o + piece);
  })(), { objectMode: false });
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

/** Text-like, compressible bytes (repeated lines with counters). */
function compressible(size: number): Buffer {
  const lines: string[] = [];
  let length = 0;
  for (let i = 0; length < size; i += 1) {
    const line = `${new Date(1_700_000_000_000 + i * 1000).toISOString()} host-${i % 7} service[${i % 13}]: request ${i} served in ${i % 97} ms\n`;
    lines.push(line);
    length += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, size);
}

/** Every file under `dir`, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path)));
    else out.push(path);
  }
  return out;
}

const backends = [
  ['packs (DirectoryBackend, the default)', (dir: string) => new DirectoryBackend(dir, { packBytes: MiB })],
  ['a file per chunk (FilePerChunkBackend)', (dir: string) => new FilePerChunkBackend(dir)],
] as const;

/** `tar -cf - -C dir .` as a stream (argument array, no shell). */
function tarOf(dir: string): Readable {
  const tar = spawn('tar', ['--sort=name', '-cf', '-', '-C', dir, '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
  return tar.stdout;
}

describe.each(backends)('artifact store on %s', (_name, makeBackend) => {
  let root: string;
  let dir: string;
  let backend: DirectoryBackend | FilePerChunkBackend;
  let store: ArtifactStore;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'rsp-artifacts-'));
    dir = join(root, 'store');
    backend = makeBackend(dir);
    store = new ArtifactStore({ backend });
  });

  /** Flips bits of the stored byte `at` of chunk `id`, in its file. */
  async function corrupt(id: string, at: number, mask: number): Promise<void> {
    const where = await backend.whereIs(id);
    if (!where) throw new Error(`chunk ${id} is not stored`);
    const bytes = await readFile(where.path);
    bytes[where.offset + (at < 0 ? where.length + at : at)] ^= mask;
    await writeFile(where.path, bytes);
  }

  async function storedChunks(): Promise<string[]> {
    const ids: string[] = [];
    for await (const c of backend.list('chunk')) ids.push(c.id);
    return ids;
  }
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test('round trip of random and compressible data, with checksums of the whole', async () => {
    const data = Buffer.concat([randomBytes(12 * MiB), compressible(12 * MiB), randomBytes(333)]);
    const { manifest, stats } = await store.put(streamOf(data, 100_000), { labels: { environment: 'web' } });
    expect(manifest.size).toBe(data.length);
    expect(manifest.sha256).toBe(createHash('sha256').update(data).digest('hex'));
    expect(manifest.chunks.reduce((n, c) => n + c.size, 0)).toBe(data.length);
    expect(stats).toMatchObject({ bytes: data.length, chunks: manifest.chunks.length });
    expect((await readAll(await store.open(manifest.id))).equals(data)).toBe(true);
    expect(await store.verify(manifest.id)).toMatchObject({ ok: true, bytes: data.length, chunks: manifest.chunks.length, problems: [] });
    expect(await store.manifest(manifest.id)).toEqual(manifest);
    expect((await store.list({ environment: 'web' })).map((m) => m.id)).toEqual([manifest.id]);
    expect(await filesUnder(join(dir, 'tmp'))).toEqual([]);
  });

  test('the compressible part repeats, so it is stored once', async () => {
    const block = compressible(MiB);
    const data = Buffer.concat([block, block, block, block]);
    const { stats } = await store.put(streamOf(data));
    expect(stats.newBytes).toBeLessThan(data.length / 2);
    expect((await readAll(await store.open((await store.list())[0]!.id))).equals(data)).toBe(true);
  });

  test('a second put of a tar stream after a 1% change stores a small fraction of new bytes', async () => {
    const tree = join(root, 'tree');
    await mkdir(join(tree, 'etc'), { recursive: true });
    await mkdir(join(tree, 'var'), { recursive: true });
    const files: string[] = [];
    for (let i = 0; i < 40; i += 1) {
      const path = join(tree, i % 2 ? 'etc' : 'var', `file-${i}`);
      await writeFile(path, i % 3 ? randomBytes(300_000 + i * 1000) : compressible(400_000));
      files.push(path);
    }
    store = new ArtifactStore({ backend, chunking: SMALL_CHUNKS });
    const first = await store.put(tarOf(tree), { labels: { run: '1' } });
    let changed = 0;
    for (const path of [files[3]!, files[17]!, files[30]!]) {
      const content = await readFile(path);
      const patch = randomBytes(Math.floor(first.manifest.size * 0.0033));
      patch.copy(content, 50_000);
      changed += patch.length;
      await writeFile(path, content);
    }
    const second = await store.put(tarOf(tree), { labels: { run: '2' } });
    expect(changed / first.stats.bytes).toBeGreaterThan(0.009);
    expect(second.stats.newBytes / first.stats.newBytes).toBeLessThan(0.05);
    expect(second.manifest.id).not.toBe(first.manifest.id);
    expect((await store.verify(second.manifest.id)).ok).toBe(true);
  });

  test('a flipped byte in a chunk file: open fails with IntegrityError naming the chunk, verify reports it', async () => {
    const data = randomBytes(3 * MiB);
    const { manifest } = await store.put(streamOf(data));
    const bad = manifest.chunks[5]!.hash;
    await corrupt(bad, 1000, 0x01);

    const error = await readAll(await store.open(manifest.id)).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(IntegrityError);
    expect((error as IntegrityError).category).toBe('INTEGRITY_ERROR');
    expect((error as IntegrityError).message).toContain(manifest.id);
    expect((error as IntegrityError).message).toContain(bad);
    expect((error as IntegrityError).details).toMatchObject({ manifestId: manifest.id, chunk: bad, index: 5 });

    const report = await store.verify(manifest.id);
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([{ chunk: bad, index: 5, reason: expect.stringMatching(/sha256/) }]);
    expect(report.chunks).toBe(manifest.chunks.length - 1);
  });

  test('a missing chunk and a damaged manifest are reported', async () => {
    const { manifest } = await store.put(streamOf(randomBytes(2 * MiB)));
    await backend.delete('chunk', manifest.chunks[0]!.hash);
    expect((await store.verify(manifest.id)).problems).toEqual([{ chunk: manifest.chunks[0]!.hash, index: 0, reason: 'it is missing' }]);

    const manifestFile = join(dir, 'manifests', `${manifest.id}.json`);
    await writeFile(manifestFile, (await readFile(manifestFile, 'utf8')).replace('"labels":{}', '"labels":{"x":"y"}'));
    await expect(store.manifest(manifest.id)).rejects.toThrow(IntegrityError);
    await expect(store.open(manifest.id)).rejects.toThrow(/manifest does not check out/);
    expect(await store.verify(manifest.id)).toMatchObject({ ok: false, problems: [{ chunk: null, reason: expect.stringMatching(/sha256/) }] });
    await expect(store.verify('0'.repeat(64))).rejects.toMatchObject({ category: 'NOT_FOUND' });
  });

  test('gc removes only chunks no manifest references', async () => {
    const shared = randomBytes(2 * MiB);
    const a = await store.put(streamOf(Buffer.concat([shared, randomBytes(MiB)])));
    const b = await store.put(streamOf(Buffer.concat([shared, randomBytes(MiB)])));
    const aOnly = new Set(a.manifest.chunks.map((c) => c.hash));
    for (const c of b.manifest.chunks) aOnly.delete(c.hash);
    expect(aOnly.size).toBeGreaterThan(5);

    expect(await store.gc()).toEqual({ removedChunks: 0, freedBytes: 0 });
    await store.delete(a.manifest.id);
    const before = (await storedChunks()).length;
    const result = await store.gc();
    expect(result.removedChunks).toBe(aOnly.size);
    expect(result.freedBytes).toBe(a.manifest.chunks.filter((c) => aOnly.has(c.hash)).reduce((n, c) => n + c.size, 0));
    expect((await storedChunks()).length).toBe(before - aOnly.size);
    for (const id of aOnly) expect(await backend.whereIs(id)).toBeUndefined();
    const fresh = makeBackend(dir);
    for (const id of aOnly) expect(await fresh.has('chunk', id)).toBe(false);
    expect(await fresh.has('chunk', b.manifest.chunks[0]!.hash)).toBe(true);
    expect((await store.verify(b.manifest.id)).ok).toBe(true);
    await expect(store.delete(a.manifest.id)).rejects.toMatchObject({ category: 'NOT_FOUND' });
  });

  test('gc while a put runs keeps the chunks that put writes or reuses', async () => {
    const old = randomBytes(2 * MiB);
    const first = await store.put(streamOf(old));
    await store.delete(first.manifest.id);
    const source = new PassThrough();
    const fresh = randomBytes(2 * MiB);
    const put = store.put(source);
    source.write(old);
    source.write(fresh.subarray(0, MiB));
    await new Promise((r) => setTimeout(r, 200));
    const collected = await store.gc();
    source.end(fresh.subarray(MiB));
    const { manifest } = await put;
    expect(collected.removedChunks).toBeLessThanOrEqual(2);
    expect((await store.verify(manifest.id)).ok).toBe(true);
    expect((await readAll(await store.open(manifest.id))).equals(Buffer.concat([old, fresh]))).toBe(true);
  });

  test('concurrent puts of the same content each give a whole artifact and store the chunks once', async () => {
    const data = Buffer.concat([randomBytes(4 * MiB), compressible(2 * MiB)]);
    const results = await Promise.all([1, 2, 3].map((n) => store.put(streamOf(data, 10_000 * n), { labels: { n: String(n) } })));
    const unique = new Set(results[0]!.manifest.chunks.map((c) => c.hash));
    for (const r of results) {
      expect(r.manifest.chunks.map((c) => c.hash)).toEqual(results[0]!.manifest.chunks.map((c) => c.hash));
      expect((await readAll(await store.open(r.manifest.id))).equals(data)).toBe(true);
    }
    expect((await storedChunks()).length).toBe(unique.size);
    expect(await filesUnder(join(dir, 'tmp'))).toEqual([]);
  });

  test('an aborted put leaves no manifest, and gc takes its chunks back', async () => {
    const controller = new AbortController();
    const source = new PassThrough();
    let seen = 0;
    const put = store.put(source, {
      signal: controller.signal,
      onProgress: (p) => {
        seen = p.chunks;
      },
    });
    source.write(randomBytes(2 * MiB));
    while (seen === 0) await new Promise((r) => setTimeout(r, 10));
    controller.abort(new Error('stop here'));
    await expect(put).rejects.toThrow('stop here');
    expect(source.destroyed).toBe(true);
    expect(await store.list()).toEqual([]);
    expect((await store.gc()).removedChunks).toBeGreaterThan(0);
    expect(await storedChunks()).toEqual([]);
  });

  test('a source that fails mid-way fails the put with its error and leaves no manifest', async () => {
    const source = new PassThrough();
    const put = store.put(source);
    source.write(randomBytes(MiB));
    setTimeout(() => source.destroy(new Error('disk read error')), 20);
    await expect(put).rejects.toThrow('disk read error');
    expect(await store.list()).toEqual([]);
    const ended = new PassThrough();
    ended.destroy();
    await expect(store.put(ended)).rejects.toThrow(/destroyed before it was read/);
  });

  describe('encrypted at rest', () => {
    const key = randomBytes(32);
    const marker = Buffer.from('PLAINTEXT-MARKER-that-must-never-reach-the-disk;');
    const secret = Buffer.concat([...Array.from({ length: 40_000 }, () => marker), randomBytes(MiB)]);

    test('round trip; no plaintext on disk; dedup within a key only', async () => {
      const { manifest, stats } = await store.put(streamOf(secret), { key });
      expect(manifest.encryption).toMatchObject({ algorithm: 'AES-256-GCM', chunkIds: 'HMAC-SHA256' });
      expect((await readAll(await store.open(manifest.id, { key }))).equals(secret)).toBe(true);
      expect(await store.verify(manifest.id, { key })).toMatchObject({ ok: true, bytes: secret.length });

      for (const file of await filesUnder(dir)) {
        const bytes = await readFile(file);
        expect(bytes.includes(marker.subarray(0, 24))).toBe(false);
        expect(bytes.includes(secret.subarray(secret.length - 4096, secret.length - 4000))).toBe(false);
      }
      const plainIds = new Set(manifest.chunks.map((c) => c.hash));
      const sha = createHash('sha256').update(secret.subarray(0, manifest.chunks[0]!.size)).digest('hex');
      expect(plainIds.has(sha)).toBe(false);

      expect((await store.put(streamOf(secret), { key })).stats.newBytes).toBe(0);
      const other = await store.put(streamOf(secret), { key: randomBytes(32) });
      expect(other.stats.newBytes).toBe(stats.newBytes);
      expect(other.manifest.chunks.some((c) => plainIds.has(c.hash))).toBe(false);
    });

    test('a wrong or missing key fails with a clear error; a tampered sealed chunk is an integrity error', async () => {
      const { manifest } = await store.put(streamOf(secret), { key });
      const wrong = await store.open(manifest.id, { key: randomBytes(32) }).then(() => undefined, (e: unknown) => e);
      expect(wrong).toBeInstanceOf(ArtifactKeyError);
      expect((wrong as ArtifactKeyError).category).toBe('BAD_USER_INPUT');
      expect((wrong as Error).message).toMatch(/not the key it was encrypted with/);
      await expect(store.verify(manifest.id)).rejects.toThrow(/encrypted: give the group key/);
      await expect(store.put(streamOf(secret), { key: randomBytes(16) })).rejects.toThrow(/32 bytes/);

      const bad = manifest.chunks[1]!.hash;
      await corrupt(bad, -1, 0x80);
      const report = await store.verify(manifest.id, { key });
      const uses = manifest.chunks.flatMap((c, index) => (c.hash === bad ? [index] : []));
      expect(report.problems).toEqual(uses.map((index) => ({ chunk: bad, index, reason: expect.stringMatching(/does not decrypt/) })));
      await expect(readAll(await store.open(manifest.id, { key }))).rejects.toThrow(IntegrityError);
    });
  });
});

describe('pack files of the directory backend', () => {
  let root: string;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'rsp-packs-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test('a store opened afresh on the directory finds every artifact through the pack indexes', async () => {
    const data = Buffer.concat([randomBytes(5 * MiB), compressible(3 * MiB)]);
    const { manifest } = await ArtifactStore.inDirectory(root, { packBytes: 2 * MiB }).put(streamOf(data));
    const packs = (await filesUnder(join(root, 'packs'))).filter((f) => f.endsWith('.pack'));
    expect(packs.length).toBeGreaterThanOrEqual(3);
    expect(packs.length).toBeLessThan(manifest.chunks.length / 4);
    expect(await filesUnder(join(root, 'tmp'))).toEqual([]);

    const again = ArtifactStore.inDirectory(root);
    expect((await readAll(await again.open(manifest.id))).equals(data)).toBe(true);
    expect((await again.put(streamOf(data))).stats.newBytes).toBe(0);
  });

  test('a pack whose index is damaged is set aside; its chunks are reported missing', async () => {
    const { manifest } = await ArtifactStore.inDirectory(root, { packBytes: MiB }).put(streamOf(randomBytes(4 * MiB)));
    const backend = new DirectoryBackend(root);
    const where = (await backend.whereIs(manifest.chunks[0]!.hash))!;
    const bytes = await readFile(where.path);
    bytes[bytes.length - 50] ^= 0xff;
    await writeFile(where.path, bytes);

    const fresh = new DirectoryBackend(root);
    const report = await new ArtifactStore({ backend: fresh }).verify(manifest.id);
    expect(report.ok).toBe(false);
    expect(report.problems[0]).toEqual({ chunk: manifest.chunks[0]!.hash, index: 0, reason: 'it is missing' });
    expect([...fresh.damagedPacks.entries()]).toEqual([[where.pack, expect.stringMatching(/index .* is damaged/)]]);
  });

  test('gc rewrites packs while an artifact is being read, and the reader gets every byte', async () => {
    const store = ArtifactStore.inDirectory(root, { packBytes: MiB, concurrency: 1 });
    const keep = randomBytes(4 * MiB);
    const source = new PassThrough();
    const both = store.put(source);
    const dropped = store.put(streamOf(randomBytes(4 * MiB)));
    for (let o = 0; o < keep.length; o += 65_536) source.write(keep.subarray(o, o + 65_536));
    source.end();
    const [kept, gone] = await Promise.all([both, dropped]);
    await store.delete(gone.manifest.id);

    const reading = await store.open(kept.manifest.id);
    const parts: Buffer[] = [];
    let collected: { removedChunks: number } | undefined;
    for await (const part of reading) {
      parts.push(part as Buffer);
      collected ??= await store.gc();
    }
    expect(collected!.removedChunks).toBe(gone.manifest.chunks.length);
    expect(Buffer.concat(parts).equals(keep)).toBe(true);
    expect((await store.verify(kept.manifest.id)).ok).toBe(true);
  });
});

describe('copying artifacts between stores', () => {
  let root: string;
  let source: ArtifactStore;
  let target: ArtifactStore;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'rsp-copy-'));
    source = ArtifactStore.inDirectory(join(root, 'a'), { packBytes: MiB });
    target = ArtifactStore.inDirectory(join(root, 'b'), { packBytes: MiB });
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test('only the chunks the target lacks move; the target holds the same artifact', async () => {
    const data = Buffer.concat([randomBytes(6 * MiB), compressible(2 * MiB)]);
    const first = await source.put(streamOf(data));
    const moved = await source.copyTo(target, first.manifest.id);
    expect(moved.stats.newBytes).toBe(first.stats.newBytes);
    expect(moved.manifest.id).toBe(first.manifest.id);
    expect((await readAll(await target.open(first.manifest.id))).equals(data)).toBe(true);
    expect((await target.verify(first.manifest.id)).ok).toBe(true);

    randomBytes(80_000).copy(data, 3 * MiB);
    const second = await source.put(streamOf(data));
    const again = await source.copyTo(target, second.manifest.id);
    expect(again.stats.bytes).toBe(data.length);
    expect(again.stats.newBytes / data.length).toBeLessThan(0.1);
    expect((await readAll(await target.open(second.manifest.id))).equals(data)).toBe(true);
  });

  test('an encrypted artifact is copied without its key and opens with it on the other side', async () => {
    const key = randomBytes(32);
    const data = randomBytes(3 * MiB);
    const { manifest } = await source.put(streamOf(data), { key });
    await source.copyTo(target, manifest.id);
    expect((await readAll(await target.open(manifest.id, { key }))).equals(data)).toBe(true);
  });

  test('a damaged chunk stops the copy with IntegrityError and leaves no manifest on the target', async () => {
    const { manifest } = await source.put(streamOf(randomBytes(3 * MiB)));
    const backend = source.backend as DirectoryBackend;
    const where = (await backend.whereIs(manifest.chunks[2]!.hash))!;
    const bytes = await readFile(where.path);
    bytes[where.offset + 10] ^= 0x04;
    await writeFile(where.path, bytes);
    await expect(source.copyTo(target, manifest.id)).rejects.toMatchObject({ category: 'INTEGRITY_ERROR', details: { chunk: manifest.chunks[2]!.hash } });
    expect(await target.has(manifest.id)).toBe(false);
    expect(await target.list()).toEqual([]);
  });
});
