import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ArtifactStore } from '../../../gateway/artifacts/artifact-store';
import { copyArtifact } from '../../../gateway/artifacts/chunk-copy';
import { StoreChunkTransport } from '../../../gateway/artifacts/store-chunk-transport';
import { IntegrityError } from '../../../gateway/errors';
import { corruptChunk } from '../../helpers/artifacts';

describe('copying artifacts between stores through their chunk transports', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rsp-chunk-copy-'));
  let n = 0;
  const store = () => ArtifactStore.inDirectory(join(dir, `store-${++n}`), { chunking: { min: 4096, avg: 16_384, max: 65_536 } });
  const put = async (s: ArtifactStore, data: Buffer, key?: Buffer) => (await s.put(Readable.from([data]), { key })).manifest;
  const read = async (s: ArtifactStore, id: string, key?: Buffer) => {
    const parts: Buffer[] = [];
    for await (const part of await s.open(id, { key })) parts.push(part as Buffer);
    return Buffer.concat(parts);
  };
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test('only the chunks the target lacks move; the copy reads back the same bytes', async () => {
    const source = store();
    const target = store();
    const data = randomBytes(1024 * 1024);
    const first = await put(source, data);
    const moved = await copyArtifact(new StoreChunkTransport(source), new StoreChunkTransport(target), first.id);
    expect(moved.stats).toMatchObject({ bytes: data.length, chunks: first.chunks.length, newBytes: data.length });
    expect((await read(target, first.id)).equals(data)).toBe(true);
    // A small change: the second copy moves a small fraction.
    const changed = Buffer.concat([data.subarray(0, 500_000), Buffer.from('a change'), data.subarray(500_000)]);
    const second = await put(source, changed);
    const progress: number[] = [];
    const again = await copyArtifact(new StoreChunkTransport(source), new StoreChunkTransport(target), second.id, { onProgress: (p) => progress.push(p.bytes) });
    expect(again.stats.newBytes / changed.length).toBeLessThan(0.2);
    expect(progress[progress.length - 1]).toBe(changed.length);
    expect((await read(target, second.id)).equals(changed)).toBe(true);
  });

  test('an encrypted artifact moves sealed, without its key, and opens with it on the other side', async () => {
    const source = store();
    const target = store();
    const key = randomBytes(32);
    const data = randomBytes(200_000);
    const manifest = await put(source, data, key);
    await copyArtifact(new StoreChunkTransport(source), new StoreChunkTransport(target), manifest.id);
    expect((await read(target, manifest.id, key)).equals(data)).toBe(true);
    expect((await target.verify(manifest.id, { key })).ok).toBe(true);
  });

  test('a damaged chunk stops the copy with an integrity error naming it, before any manifest is written', async () => {
    const source = store();
    const target = store();
    const manifest = await put(source, randomBytes(300_000));
    const victim = manifest.chunks[1]!.hash;
    await corruptChunk(source, victim);
    const failed = await copyArtifact(new StoreChunkTransport(source), new StoreChunkTransport(target), manifest.id).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(IntegrityError);
    expect(failed).toMatchObject({ category: 'INTEGRITY_ERROR', chunk: victim });
    expect(await target.has(manifest.id)).toBe(false);
  });

  test('a manifest whose chunks are not all in the target is refused', async () => {
    const source = store();
    const target = store();
    const manifest = await put(source, randomBytes(100_000));
    await expect(new StoreChunkTransport(target).putManifest(manifest)).rejects.toMatchObject({ category: 'INTEGRITY_ERROR', chunk: manifest.chunks[0]!.hash });
    expect(await target.has(manifest.id)).toBe(false);
  });

  test('chunks a copy asked about or wrote are kept from collection until their manifest comes', async () => {
    const source = store();
    const target = store();
    const manifest = await put(source, randomBytes(100_000));
    const from = new StoreChunkTransport(source);
    const to = new StoreChunkTransport(target);
    const ids = manifest.chunks.map((c) => c.hash);
    expect(await to.missingChunks(ids)).toEqual(ids);
    await to.putChunks(await from.getChunks(ids));
    // Written and sealed, and no manifest names them yet: a collection now would take them but for the lease.
    await target.backend.flush?.(ids);
    expect(await target.gc()).toEqual({ removedChunks: 0, freedBytes: 0 });
    await to.putManifest(manifest);
    expect((await target.verify(manifest.id)).ok).toBe(true);
  });
});
