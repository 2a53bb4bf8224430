import { hkdfSync, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { DataSource } from 'typeorm';
import type { Logger } from '../logging/logger';

const SECRET_BYTES = 32;

/** Options of `GroupKeys`. */
export interface GroupKeysOptions {
  /** Where gateways before the secret moved to the database kept it: adopted when the database has none. */
  legacyFile?: string;
  logger?: Logger;
}

/**
 * Encryption keys of groups for replicas at rest. One installation secret (32 random bytes) is kept
 * in the database with the installation (`installation.replicaKeySecret`), so every gateway replica
 * derives the same keys; each group's key is derived from it with HKDF-SHA256 (salt
 * `rsp-replica-group-key`, info = the group id). The secret is made on first use by whichever
 * gateway needs it first: a conditional UPDATE sets it only while none is set, and every gateway
 * reads back the one that won, so two replicas creating it at once agree. A secret file left by an
 * older gateway (`legacyFile`) is what the first one stores, so its encrypted replicas stay readable.
 * The keys themselves are never stored.
 */
export class GroupKeys {
  private secret: Promise<Buffer> | undefined;

  constructor(
    private readonly dataSource: DataSource,
    private readonly options: GroupKeysOptions = {},
  ) {}

  /** The 32-byte key of `groupId`. */
  async keyFor(groupId: string): Promise<Buffer> {
    this.secret ??= this.loadSecret().catch((e: unknown) => {
      this.secret = undefined;
      throw e;
    });
    return Buffer.from(hkdfSync('sha256', await this.secret, 'rsp-replica-group-key', groupId, 32));
  }

  private async loadSecret(): Promise<Buffer> {
    const legacy = await this.legacySecret();
    await this.dataSource.query(`UPDATE "installation" SET "replicaKeySecret" = $1 WHERE "replicaKeySecret" IS NULL AND "id" = (SELECT "id" FROM "installation" ORDER BY "createdAt" LIMIT 1)`, [legacy ?? randomBytes(SECRET_BYTES)]);
    const rows = (await this.dataSource.query(`SELECT "replicaKeySecret" AS "secret" FROM "installation" ORDER BY "createdAt" LIMIT 1`)) as Array<{ secret: Uint8Array | null }>;
    const stored = rows[0]?.secret;
    if (!stored) throw new Error('The database has no installation row to keep the replica key secret in: run the migrations');
    const secret = Buffer.from(stored);
    if (secret.length !== SECRET_BYTES) throw new Error(`The installation's replica key secret holds ${secret.length} bytes, expected ${SECRET_BYTES}`);
    if (legacy && !legacy.equals(secret)) this.options.logger?.warn({ file: this.options.legacyFile }, 'this gateway\'s old replica key secret file differs from the installation\'s: replicas it encrypted before cannot be read with the installation\'s keys');
    return secret;
  }

  /** The secret of the legacy file, when there is one. */
  private async legacySecret(): Promise<Buffer | undefined> {
    if (!this.options.legacyFile) return undefined;
    let existing: Buffer;
    try {
      existing = await readFile(this.options.legacyFile);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    if (existing.length !== SECRET_BYTES) throw new Error(`${this.options.legacyFile} holds ${existing.length} bytes, expected ${SECRET_BYTES}`);
    return existing;
  }
}
