import { hkdfSync, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

const SECRET_BYTES = 32;

/**
 * Encryption keys of groups for replicas at rest. One gateway secret (32 random bytes) lives in
 * the data directory, created with mode 0600 on first use; each group's key is derived from it
 * with HKDF-SHA256 (salt `rsp-replica-group-key`, info = the group id). Keys are never stored in
 * the database: losing the secret file makes encrypted replicas unreadable.
 */
export class GroupKeys {
  private secret: Promise<Buffer> | undefined;

  constructor(private readonly secretFile: string) {}

  /** The 32-byte key of `groupId`. */
  async keyFor(groupId: string): Promise<Buffer> {
    const secret = await (this.secret ??= this.loadSecret());
    return Buffer.from(hkdfSync('sha256', secret, 'rsp-replica-group-key', groupId, 32));
  }

  private async loadSecret(): Promise<Buffer> {
    try {
      const existing = await readFile(this.secretFile);
      if (existing.length !== SECRET_BYTES) throw new Error(`${this.secretFile} holds ${existing.length} bytes, expected ${SECRET_BYTES}`);
      return existing;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    await mkdir(dirname(this.secretFile), { recursive: true, mode: 0o700 });
    const secret = randomBytes(SECRET_BYTES);
    try {
      await writeFile(this.secretFile, secret, { mode: 0o600, flag: 'wx' });
    } catch (e) {
      // Another process created it first: use theirs.
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return readFile(this.secretFile);
      throw e;
    }
    await chmod(this.secretFile, 0o600);
    return secret;
  }
}
