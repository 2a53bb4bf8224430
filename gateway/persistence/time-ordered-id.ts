import { randomUUID } from 'node:crypto';

let prefixMs = -1;
let prefix = '';

/**
 * A UUID version 7 (RFC 9562): the current Unix time in milliseconds in its first 48 bits, then
 * 74 random bits (those of a `randomUUID`, whose variant bits it keeps). Rows keyed by it are
 * inserted at the right end of their primary-key index (and of any index on a column holding such
 * ids) instead of at a random leaf: the placement tables take thousands of rows per second, and a
 * random key makes each insert touch a page of its own (a cache miss, and a whole page written to
 * the WAL after each checkpoint).
 */
export function timeOrderedId(now = Date.now()): string {
  if (now !== prefixMs) {
    const hex = now.toString(16).padStart(12, '0').slice(-12);
    prefix = `${hex.slice(0, 8)}-${hex.slice(8)}-7`;
    prefixMs = now;
  }
  return prefix + randomUUID().slice(15);
}
