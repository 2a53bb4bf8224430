import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';

/** Bytes gathered before one write to the file. */
const WRITE_BYTES = 1024 * 1024;

/**
 * Writes `lines` to `file` atomically and readable by its owner only (0600): into a temporary file
 * beside it, synced, then renamed over `file`. A failure leaves no partial file. Resolves to the bytes written.
 */
export async function writeBackupFile(file: string, lines: AsyncIterable<string>): Promise<number> {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const handle = await open(tmp, 'wx', 0o600);
  let bytes = 0;
  try {
    await handle.chmod(0o600);
    let pending: string[] = [];
    let pendingLength = 0;
    const flush = async () => {
      const buffer = Buffer.from(pending.join(''));
      pending = [];
      pendingLength = 0;
      await handle.write(buffer);
      bytes += buffer.length;
    };
    for await (const line of lines) {
      pending.push(line);
      pendingLength += line.length;
      if (pendingLength >= WRITE_BYTES) await flush();
    }
    await flush();
    await handle.sync();
    await handle.close();
    await rename(tmp, file);
    return bytes;
  } catch (e) {
    await handle.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}

/** The lines of a backup file, one JSON text each (empty lines skipped). */
export async function* readBackupFile(file: string): AsyncGenerator<string> {
  const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  try {
    for await (const line of lines) if (line.trim()) yield line;
  } finally {
    lines.close();
  }
}
