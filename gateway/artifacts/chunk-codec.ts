import { createHmac, randomBytes, webcrypto } from 'node:crypto';
import { BadInputError } from '../errors';
import type { ManifestEncryption } from './manifest';

const { subtle } = webcrypto;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/**
 * How plaintext chunks become stored objects and back, and how their ids are made. Hashing,
 * HMAC and AES-GCM run through WebCrypto, whose work Node does on its thread pool, so the
 * chunker's loop is not blocked while chunks are hashed or sealed.
 */
export interface ChunkCodec {
  /** Null for plaintext storage. */
  readonly encryption: ManifestEncryption | null;
  /** The chunk's id (lowercase hex). */
  id(plain: Uint8Array): Promise<string>;
  /** The bytes to store for a chunk. */
  seal(plain: Uint8Array): Promise<Uint8Array>;
  /** The plaintext of stored bytes; rejects with a reason (a string) when they do not check out against `id`. */
  unseal(stored: Buffer, id: string): Promise<Buffer>;
}

/** Plaintext chunks named by their sha256. */
export const plainCodec: ChunkCodec = {
  encryption: null,
  async id(plain) {
    return hex(await subtle.digest('SHA-256', plain));
  },
  async seal(plain) {
    return plain;
  },
  async unseal(stored, id) {
    const actual = hex(await subtle.digest('SHA-256', stored));
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
export async function keyedCodec(key: Buffer): Promise<ChunkCodec> {
  if (!Buffer.isBuffer(key) || key.length !== 32) {
    throw new BadInputError('An artifact key must be 32 bytes (AES-256)', { length: Buffer.isBuffer(key) ? key.length : null });
  }
  const mac = await subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const aes = await subtle.importKey('raw', key, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
  const id = async (plain: Uint8Array) => hex(await subtle.sign('HMAC', mac, plain));
  return {
    encryption: { algorithm: 'AES-256-GCM', chunkIds: 'HMAC-SHA256', keyId: keyIdOf(key) },
    id,
    async seal(plain) {
      const nonce = randomBytes(NONCE_BYTES);
      const sealed = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv: nonce, tagLength: TAG_BYTES * 8 }, aes, plain));
      const out = Buffer.allocUnsafe(NONCE_BYTES + sealed.length);
      nonce.copy(out, 0);
      out.set(sealed, NONCE_BYTES);
      return out;
    },
    async unseal(stored, expected) {
      if (stored.length < NONCE_BYTES + TAG_BYTES) throw `it is ${stored.length} bytes, too short to be a sealed chunk`;
      let plain: Buffer;
      try {
        plain = Buffer.from(await subtle.decrypt({ name: 'AES-GCM', iv: stored.subarray(0, NONCE_BYTES), tagLength: TAG_BYTES * 8 }, aes, stored.subarray(NONCE_BYTES)));
      } catch {
        throw 'it does not decrypt (authentication tag mismatch)';
      }
      const actual = await id(plain);
      if (actual !== expected) throw `its keyed hash is ${actual}`;
      return plain;
    },
  };
}

function hex(digest: ArrayBuffer): string {
  return Buffer.from(digest).toString('hex');
}
