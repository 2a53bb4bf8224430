import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConflictError } from '../errors';

const PREFIX = 'rspseal1:';
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Bound into every sealed token: a value sealed for another purpose does not open as one. */
const AAD = Buffer.from('rsp-peer-token');

/**
 * Tokens other sites issued, which this site must send again (a replication policy's peer): kept
 * at rest sealed with AES-256-GCM (`rspseal1:` + base64url of nonce, ciphertext and tag) under a
 * 32-byte key kept outside the database, in a file (`RSP_PEER_TOKEN_KEY_FILE`, default
 * `<RSP_DATA_DIR>/secrets/peer-tokens.key`, made on first use, readable by its owner only). A copy
 * of the database alone gives no token; gateway replicas on one database share the key file.
 */
export class PeerTokenSeal {
  private key: Buffer | undefined;

  constructor(
    /** The key file; undefined: a key of this process only (tests that never restart). */
    private readonly keyFile: string | undefined,
  ) {}

  /** True when `value` is a sealed token (a legacy row holds it in plain text). */
  static isSealed(value: string): boolean {
    return value.startsWith(PREFIX);
  }

  /** `token` sealed, as stored. */
  seal(token: string): string {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keyNow(), nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(AAD);
    const body = Buffer.concat([cipher.update(token, 'utf8'), cipher.final()]);
    return PREFIX + Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64url');
  }

  /** The token of a stored value (a legacy plain one as it is); CONFLICT `PEER_TOKEN_UNREADABLE` when this key cannot open it. */
  open(stored: string): string {
    if (!PeerTokenSeal.isSealed(stored)) return stored;
    const raw = Buffer.from(stored.slice(PREFIX.length), 'base64url');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.keyNow(), raw.subarray(0, NONCE_BYTES), { authTagLength: TAG_BYTES });
      decipher.setAAD(AAD);
      decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
      return Buffer.concat([decipher.update(raw.subarray(NONCE_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new ConflictError(`A stored peer token cannot be opened with this site's key (${this.keyFile ?? 'in memory'}): the key file changed; give the policy's peer again`, { reason: 'PEER_TOKEN_UNREADABLE' });
    }
  }

  /** The key: read from the file, made there (owner-only) when there is none. */
  private keyNow(): Buffer {
    if (this.key) return this.key;
    if (!this.keyFile) return (this.key = randomBytes(KEY_BYTES));
    let key: Buffer;
    try {
      key = readFileSync(this.keyFile);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      mkdirSync(dirname(this.keyFile), { recursive: true, mode: 0o700 });
      try {
        writeFileSync(this.keyFile, randomBytes(KEY_BYTES), { mode: 0o600, flag: 'wx' });
      } catch (made) {
        // Another gateway on this data directory made it first: its key is the one.
        if ((made as NodeJS.ErrnoException).code !== 'EEXIST') throw made;
      }
      key = readFileSync(this.keyFile);
    }
    if (key.length !== KEY_BYTES) throw new Error(`${this.keyFile} holds ${key.length} bytes, expected ${KEY_BYTES}`);
    return (this.key = key);
  }
}
