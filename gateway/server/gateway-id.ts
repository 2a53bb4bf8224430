import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * This gateway's id, kept in `<dataDir>/gateway-id` (made at the first start): the same across
 * restarts of one gateway, distinct between replicas (each has its own data directory). Operations
 * record it, so a gateway restarted after a crash knows which RUNNING operations were its own.
 */
export function gatewayId(dataDir: string): string {
  const file = join(dataDir, 'gateway-id');
  try {
    const id = readFileSync(file, 'utf8').trim();
    if (id) return id;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const id = randomUUID();
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, `${id}\n`, { mode: 0o644 });
  return id;
}
