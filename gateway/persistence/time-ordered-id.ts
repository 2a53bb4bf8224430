import { randomFillSync } from 'node:crypto';

/** An id as the database keeps them: a UUID (any version, hex digits in either case). */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The hexadecimal digits, as bytes. */
const HEX = Buffer.from('0123456789abcdef', 'latin1');
/** Random bytes (a CSPRNG's, as `randomUUID`'s are), refilled when used up: 10 per id. */
const pool = Buffer.allocUnsafe(4000);
let pooled = pool.length;
/** The id being written: its time prefix stays until the millisecond changes. */
const text = Buffer.from('00000000-0000-7000-8000-000000000000', 'latin1');
let prefixMs = -1;

/**
 * A UUID version 7 (RFC 9562): the current Unix time in milliseconds in its first 48 bits, then
 * 74 random bits and the version and variant bits. Rows keyed by it are
 * inserted at the right end of their primary-key index (and of any index on a column holding such
 * ids) instead of at a random leaf: the placement tables take thousands of rows per second, and a
 * random key makes each insert touch a page of its own (a cache miss, and a whole page written to
 * the WAL after each checkpoint).
 *
 * Its text is written byte by byte into one buffer from a pool of random bytes and read out as one
 * string: a group commit makes two ids per placement, and `randomUUID` (a text built from about
 * twenty string pieces) plus a slice and a join took twice as long and left ten times the garbage.
 */
export function timeOrderedId(now = Date.now()): string {
  if (now !== prefixMs) {
    const hex = now.toString(16).padStart(12, '0').slice(-12);
    text.write(`${hex.slice(0, 8)}-${hex.slice(8)}`, 0, 'latin1');
    prefixMs = now;
  }
  if (pooled + 10 > pool.length) {
    randomFillSync(pool);
    pooled = 0;
  }
  const r = pooled;
  pooled += 10;
  // 12 random bits after the version digit (14), the variant's 2 bits (19: 8-b) and 62 more random bits.
  text[15] = HEX[pool[r]! & 15]!;
  text[16] = HEX[pool[r]! >> 4]!;
  text[17] = HEX[pool[r + 1]! & 15]!;
  text[19] = HEX[8 | ((pool[r + 1]! >> 4) & 3)]!;
  text[20] = HEX[pool[r + 2]! & 15]!;
  text[21] = HEX[pool[r + 2]! >> 4]!;
  text[22] = HEX[pool[r + 3]! & 15]!;
  for (let i = 0; i < 6; i++) {
    const b = pool[r + 4 + i]!;
    text[24 + 2 * i] = HEX[b >> 4]!;
    text[25 + 2 * i] = HEX[b & 15]!;
  }
  return text.toString('latin1', 0, 36);
}
