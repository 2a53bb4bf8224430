import { createHash, randomBytes } from 'node:crypto';
import { keyedCodec, plainCodec } from '../../../gateway/artifacts/chunk-codec';
import type { ChunkCodec } from '../../../gateway/artifacts/chunk-codec';
import { ChunkHasher, hashingThreadsUp } from '../../../gateway/artifacts/chunk-hasher';
import { Chunker } from '../../../gateway/artifacts/chunker';
import { until } from '../../helpers/until';

/** Feeds `data` in pieces of the given sizes (cycled) through a chunker and a hasher; resolves to the chunks seen and the digest. */
async function hashThrough(data: Buffer, pieceSizes: number[], codec: ChunkCodec, releaseLate = false) {
  const chunker = new Chunker();
  const seen: Array<{ id: string; bytes: Buffer; expected: string }> = [];
  const releases: Array<() => void> = [];
  /** For chunks released late: whether their bytes were still theirs when released. */
  const intact: boolean[] = [];
  const hasher = new ChunkHasher(codec.idKey, (parts, id, release) => {
    // What the codec computes from the bytes handed over (before they are released and reused).
    seen.push({ id, bytes: Buffer.concat(parts), expected: codec.id(parts) });
    if (!releaseLate) return release();
    releases.push(() => {
      intact.push(codec.id(parts) === id);
      release();
    });
  });
  try {
    let offset = 0;
    for (let k = 0; offset < data.length; k += 1) {
      const piece = data.subarray(offset, offset + pieceSizes[k % pieceSizes.length]!);
      hasher.write(piece, chunker.push(piece));
      offset += piece.length;
      if (releaseLate) {
        // Let batches come back, and release all but the last few chunks (their buffers get reused).
        await new Promise((resolve) => setImmediate(resolve));
        if (releases.length > 4) releases.splice(0, releases.length - 4).forEach((release) => release());
      }
    }
    const digest = await hasher.end(chunker.finish());
    releases.splice(0).forEach((release) => release());
    return { seen, digest, intact };
  } finally {
    hasher.cancel();
  }
}

describe('chunk hasher (hashing thread)', () => {
  const data = randomBytes(6 * 1024 * 1024 + 12_345);
  const sha = createHash('sha256').update(data).digest('hex');

  test('plain ids are the sha256 of each chunk, the digest that of the whole, whatever the pieces', async () => {
    for (const sizes of [[65_536], [1000, 3_000_000, 7, 65_536]]) {
      const { seen, digest } = await hashThrough(data, sizes, plainCodec);
      expect(digest).toBe(sha);
      expect(Buffer.concat(seen.map((c) => c.bytes)).equals(data)).toBe(true);
      for (const c of seen) expect(c.id).toBe(c.expected);
    }
  });

  test('keyed ids are HMAC-SHA256 under the key; buffers released late are not reused early', async () => {
    const codec = keyedCodec(randomBytes(32));
    const { seen, digest, intact } = await hashThrough(data, [65_536, 100_000], codec, true);
    expect(digest).toBe(sha);
    expect(seen.length).toBeGreaterThan(10);
    expect(intact).toHaveLength(seen.length);
    expect(intact.every(Boolean)).toBe(true);
    for (const c of seen) expect(c.id).toBe(c.expected);
  });

  test('an empty stream has no chunk and the sha256 of nothing', async () => {
    const { seen, digest } = await hashThrough(Buffer.alloc(0), [65_536], plainCodec);
    expect(seen).toEqual([]);
    expect(digest).toBe(createHash('sha256').digest('hex'));
  });

  test('a receiver that throws fails the hashing: end rejects with its error, later writes throw', async () => {
    const chunker = new Chunker();
    const hasher = new ChunkHasher(null, () => {
      throw new Error('the receiver broke');
    });
    try {
      const piece = data.subarray(0, 2 * 1024 * 1024);
      hasher.write(piece, chunker.push(piece));
      await hasher.caughtUp(0);
      expect(hasher.failure?.message).toBe('the receiver broke');
      expect(() => hasher.write(piece, [])).toThrow('the receiver broke');
      await expect(hasher.end(false)).rejects.toThrow('the receiver broke');
    } finally {
      hasher.cancel();
    }
  });

  test('the hashing thread ends once idle, and a later stream gets a new one', async () => {
    await hashThrough(data, [65_536], plainCodec);
    // No job left: the thread exits after its idle time (its exit event, not a timer of the test's, says so).
    await until('the idle hashing thread to exit', () => hashingThreadsUp() === 0, 60_000);
    const { digest } = await hashThrough(data, [1_000_000], plainCodec);
    expect(digest).toBe(sha);
    await until('the second hashing thread to exit', () => hashingThreadsUp() === 0, 60_000);
  });
});
