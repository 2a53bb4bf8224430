import { createHash } from 'node:crypto';
import type { ChunkingOptions } from './chunker';

/** One chunk of an artifact, in stream order: its id and its plaintext size. */
export interface ManifestChunk {
  /** sha256 of the plaintext (hex), or HMAC-SHA256(group key, plaintext) when encrypted. */
  hash: string;
  size: number;
}

/** How the chunks of an encrypted artifact are sealed. */
export interface ManifestEncryption {
  /** Each chunk file is a 12-byte nonce, the ciphertext and the 16-byte tag. */
  algorithm: 'AES-256-GCM';
  /** How chunk ids are made: keyed, so equal plaintexts under different keys get different ids. */
  chunkIds: 'HMAC-SHA256';
  /** A fingerprint of the key (HMAC of a fixed label), to tell a wrong key from a corrupt chunk. */
  keyId: string;
}

/**
 * What an artifact is: its chunks in order and checksums of the whole. The id of a manifest is
 * the sha256 of its canonical JSON (without the id), so a manifest checks itself.
 */
export interface ArtifactManifest {
  /** sha256 (hex) of the canonical JSON of every other field. */
  id: string;
  version: 1;
  chunks: ManifestChunk[];
  /** Plaintext bytes of the whole stream. */
  size: number;
  /** sha256 (hex) of the whole plaintext stream. */
  sha256: string;
  /** Present when the chunks are encrypted at rest. */
  encryption: ManifestEncryption | null;
  chunking: ChunkingOptions & { algorithm: string };
  /** ISO 8601 time of the put. */
  createdAt: string;
  /** Free-form labels given by the caller (environment, layer, policy…). */
  labels: Record<string, string>;
}

/** A manifest before it has its id. */
export type ManifestContent = Omit<ArtifactManifest, 'id'>;

/** JSON with object keys sorted at every level and no whitespace: one text for one value. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** The bytes stored for a manifest and its id (their sha256). */
export function sealManifest(content: ManifestContent): { manifest: ArtifactManifest; bytes: Buffer } {
  const bytes = Buffer.from(canonicalJson(content), 'utf8');
  const id = createHash('sha256').update(bytes).digest('hex');
  return { manifest: { id, ...content }, bytes };
}

/**
 * Reads stored manifest bytes: undefined unless their sha256 is `id` and they hold a well-formed
 * manifest (the caller turns that into an integrity error naming the manifest).
 */
export function openManifest(id: string, bytes: Buffer): { manifest?: ArtifactManifest; problem?: string } {
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== id) return { problem: `its sha256 is ${actual}` };
  let content: ManifestContent;
  try {
    content = JSON.parse(bytes.toString('utf8')) as ManifestContent;
  } catch (e) {
    return { problem: `it is not JSON: ${(e as Error).message}` };
  }
  if (content?.version !== 1 || !Array.isArray(content.chunks) || typeof content.sha256 !== 'string') {
    return { problem: 'it is not a version 1 manifest' };
  }
  return { manifest: { id, ...content } };
}
