import { open, stat } from 'node:fs/promises';
import type { LogRead, LogReadOptions } from '../contract';
import { BadInputError, UnsupportedOperationError } from '../errors';

/** Most bytes one read returns; a follower catches up on a larger backlog over several reads. */
export const MAX_LOG_READ_BYTES = 4 * 1024 * 1024;

/** The last `count` lines of `text` (a final newline ends the last line, it does not start an empty one). */
export function tailLines(text: string, count: number): string {
  const lines = text.split('\n');
  const trailing = lines[lines.length - 1] === '';
  if (trailing) lines.pop();
  const kept = lines.slice(lines.length - Math.min(lines.length, count));
  return kept.length ? `${kept.join('\n')}${trailing ? '\n' : ''}` : '';
}

/** Refuses options no driver can honour: a negative or fractional tail, an invalid date. */
export function checkLogReadOptions(options: LogReadOptions | undefined, id: string): void {
  if (options?.tail !== undefined && (!Number.isInteger(options.tail) || options.tail < 0)) throw new BadInputError(`tail must be a whole number of lines ≥ 0, not ${options.tail}`, { id, tail: options.tail });
  if (options?.since !== undefined && Number.isNaN(options.since.getTime())) throw new BadInputError('since is not a valid time', { id });
}

/**
 * Reads a console log file the engine appends to (LXC's console log, libvirt's serial log) from a
 * cursor `<inode>:<offset>`. A file replaced or cut shorter since the cursor is read from its
 * start. A missing file is an empty log. Such a file keeps no times: `since` without a cursor is
 * UNSUPPORTED_OPERATION.
 */
export async function readFileLog(path: string | undefined, options: LogReadOptions | undefined, id: string, by: string): Promise<LogRead> {
  checkLogReadOptions(options, id);
  const from = options?.cursor !== undefined ? parseFileCursor(options.cursor, id) : undefined;
  if (!from && options?.since) throw new UnsupportedOperationError('reading a log since a time', by, 'its console log file keeps no times; read it with tail, then follow it with the cursor');
  const info = path ? await stat(path).catch(() => undefined) : undefined;
  if (!path || !info) return { text: '', cursor: '0:0' };
  const continues = from && from.inode === info.ino && from.offset <= info.size;
  const start = continues ? from.offset : from ? 0 : Math.max(0, info.size - MAX_LOG_READ_BYTES);
  const end = Math.min(info.size, start + MAX_LOG_READ_BYTES);
  const buffer = Buffer.alloc(end - start);
  const file = await open(path, 'r');
  let read = 0;
  try {
    while (read < buffer.length) {
      const { bytesRead } = await file.read(buffer, read, buffer.length - read, start + read);
      if (bytesRead === 0) break;
      read += bytesRead;
    }
  } finally {
    await file.close();
  }
  const text = buffer.subarray(0, read).toString('utf8');
  return { text: options?.tail !== undefined ? tailLines(text, options.tail) : text, cursor: `${info.ino}:${start + read}` };
}

/** The inode and offset of a file-log cursor; BAD_INPUT for anything else. */
function parseFileCursor(cursor: string, id: string): { inode: number; offset: number } {
  const m = /^(\d{1,20}):(\d{1,15})$/.exec(cursor);
  if (!m) throw new BadInputError(`"${cursor}" is not a cursor of this log`, { id, cursor });
  return { inode: Number(m[1]), offset: Number(m[2]) };
}
