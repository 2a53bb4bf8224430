import { createCipheriv, createHash } from 'node:crypto';
import { Chunker, DEFAULT_CHUNKING } from '../../../gateway/artifacts/chunker';
import { BadInputError } from '../../../gateway/errors';

/** Cuts `data` fed in pieces of the given sizes (cycled); returns the chunks. */
function chunk(data: Buffer, pieceSizes: number[] = [65_536], options = {}): Buffer[] {
  const chunker = new Chunker(options);
  const chunks: Buffer[] = [];
  let start = 0;
  let offset = 0;
  for (let k = 0; offset < data.length; k += 1) {
    const piece = data.subarray(offset, offset + pieceSizes[k % pieceSizes.length]!);
    for (const cut of chunker.push(piece)) {
      chunks.push(data.subarray(start, offset + cut));
      start = offset + cut;
    }
    offset += piece.length;
  }
  if (chunker.finish()) chunks.push(data.subarray(start));
  return chunks;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** `size` pseudo-random bytes, the same on every run (AES-CTR of zeros under a fixed key), so the cuts are too. */
function fixedRandom(size: number, seed: number): Buffer {
  const key = createHash('sha256').update(`chunker test ${seed}`).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size));
}

describe('content-defined chunker', () => {
  const data = fixedRandom(16 * 1024 * 1024, 1);

  test('chunks cover the stream exactly, within min and max, averaging near the normal size', () => {
    const chunks = chunk(data);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    for (const c of chunks.slice(0, -1)) {
      expect(c.length).toBeGreaterThanOrEqual(DEFAULT_CHUNKING.min);
      expect(c.length).toBeLessThanOrEqual(DEFAULT_CHUNKING.max);
    }
    const mean = data.length / chunks.length;
    expect(mean).toBeGreaterThan(DEFAULT_CHUNKING.avg * 0.75);
    expect(mean).toBeLessThan(DEFAULT_CHUNKING.avg * 1.5);
  });

  test('the cuts do not depend on how the stream is split into buffers', () => {
    const whole = chunk(data, [data.length]).map(sha);
    expect(chunk(data, [1000, 65_536, 7, 300_000, 4096, 1_500_000, 3_000_001]).map(sha)).toEqual(whole);
    expect(chunk(data, [16_384]).map(sha)).toEqual(whole);
  });

  test('an insertion changes only the chunks near it', () => {
    const at = 8 * 1024 * 1024 + 12_345;
    const edited = Buffer.concat([data.subarray(0, at), fixedRandom(100, 2), data.subarray(at)]);
    const before = chunk(data).map(sha);
    const after = chunk(edited).map(sha);
    const kept = new Set(before);
    const changed = after.filter((h) => !kept.has(h));
    expect(changed.length).toBeGreaterThanOrEqual(1);
    expect(changed.length).toBeLessThanOrEqual(2);
    expect(after.length - changed.length).toBeGreaterThanOrEqual(before.length - 3);
  });

  test('a deletion changes only the chunks near it', () => {
    const edited = Buffer.concat([data.subarray(0, 3_000_000), data.subarray(3_000_500)]);
    const kept = new Set(chunk(data).map(sha));
    expect(chunk(edited).map(sha).filter((h) => !kept.has(h)).length).toBeLessThanOrEqual(2);
  });

  test('a stream without any cut point is cut at max', () => {
    const zeros = Buffer.alloc(1024 * 1024);
    for (const c of chunk(zeros)) expect(c.length).toBeLessThanOrEqual(DEFAULT_CHUNKING.max);
  });

  test('known cuts: the gear table and masks never change, or stored chunks would stop deduplicating', () => {
    expect(new Chunker().push(fixedRandom(1024 * 1024, 7))).toEqual([79275, 154668, 227270, 304985, 409978, 496518, 596536, 636642, 738940, 813986, 880368, 947438, 992595]);
  });

  test('sizes are configurable and checked', () => {
    const small = chunk(data.subarray(0, 1024 * 1024), [65_536], { min: 1024, avg: 4096, max: 16_384 });
    expect(data.length / 16 / small.length).toBeGreaterThan(2048);
    for (const c of small) expect(c.length).toBeLessThanOrEqual(16_384);
    expect(() => new Chunker({ min: 8192, avg: 4096 })).toThrow(BadInputError);
    expect(() => new Chunker({ max: 1.5 })).toThrow(/integer/);
  });
});
