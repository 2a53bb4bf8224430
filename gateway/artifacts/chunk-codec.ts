import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { BadInputError } from '../errors';
import type { ManifestEncryption } from './manifest';

const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/**
 * How plaintext chunks become stored objects and back, and how their ids are made. The work is
 * done with node:crypto's one-shot calls (SHA-NI and AES-NI where the CPU has them): measured
 * faster than WebCrypto's thread-pool jobs, whose per-call overhead outweighs hashing 64 KiB.
 */
export interface ChunkCodec {
  /** Null for plaintext storage. */
  readonly encryption: ManifestEncryption | null;
  /** The HMAC-SHA256 key of chunk ids; null when ids are plain sha256 (for hashing elsewhere than `id`). */
  readonly idKey: Buffer | null;
  /** The chunk's id (lowercase hex); the chunk may come in several buffers. */
  id(plain: readonly Uint8Array[]): string;
  /** The bytes to store for a chunk, as buffers to write one after the other. */
  seal(plain: readonly Uint8Array[]): readonly Uint8Array[];
  /** The plaintext of stored bytes; throws a reason (a string) when they do not check out against `id`. */
  unseal(stored: Buffer, id: string): Buffer;
}

/** Plaintext chunks named by their sha256. */
export const plainCodec: ChunkCodec = {
  encryption: null,
  idKey: null,
  id(plain) {
    const hash = createHash('sha256');
    for (const part of plain) hash.update(part);
    return hash.digest('hex');
  },
  seal(plain) {
    return plain;
  },
  unseal(stored, id) {
    const actual = createHash('sha256').update(stored).digest('hex');
    if (actual !== id) throw `its sha256 is ${actual}`;
    return stored;
  },
};

/** The fingerprint of a group key recorded in manifests (HMAC of a fixed label, first 16 bytes). */
export function keyIdOf(key: Buffer): string {
  return createHmac('sha256', key).update('rsp artifact key id').digest('hex').slice(0, 32);
}

/**
 * Chunks sealed with AES-256-GCM under a 32-byte group key (a fresh random nonce per chunk) and
 * named by HMAC-SHA256(key, plaintext): equal chunks under one key share one object, and ids
 * under one key say nothing about contents under another. No plaintext is written.
 */
export function keyedCodec(key: Buffer): ChunkCodec {
  if (!Buffer.isBuffer(key) || key.length !== 32) {
    throw new BadInputError('An artifact key must be 32 bytes (AES-256)', { length: Buffer.isBuffer(key) ? key.length : null });
  }
  const id = (plain: readonly Uint8Array[]) => {
    const mac = createHmac('sha256', key);
    for (const part of plain) mac.update(part);
    return mac.digest('hex');
  };
  return {
    encryption: { algorithm: 'AES-256-GCM', chunkIds: 'HMAC-SHA256', keyId: keyIdOf(key) },
    idKey: key,
    id,
    seal(plain) {
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
      const out: Buffer[] = [nonce];
      for (const part of plain) out.push(cipher.update(part));
      out.push(cipher.final(), cipher.getAuthTag());
      return out;
    },
    unseal(stored, expected) {
      if (stored.length < NONCE_BYTES + TAG_BYTES) throw `it is ${stored.length} bytes, too short to be a sealed chunk`;
      let plain: Buffer;
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, stored.subarray(0, NONCE_BYTES), { authTagLength: TAG_BYTES });
        decipher.setAuthTag(stored.subarray(stored.length - TAG_BYTES));
        plain = Buffer.concat([decipher.update(stored.subarray(NONCE_BYTES, stored.length - TAG_BYTES)), decipher.final()]);
      } catch {
        throw 'it does not decrypt (authentication tag mismatch)';
      }
      const actual = id([plain]);
      if (actual !== expected) throw `its keyed hash is ${actual}`;
      return plain;
    },
  };
}
