import type { LogRead, LogReadOptions } from '../contract';
import { BadInputError } from '../errors';
import { tailLines } from '../host/log-read';

/**
 * Reading a container's log (the engine's log driver, stdout and stderr) with timestamps, so that
 * a cursor is the time of the last line read: `<seconds>.<nanoseconds>` since the epoch, as the
 * engine's `since` takes it. The engine's `since` keeps lines at that very time, so the line(s)
 * at the cursor are dropped here.
 */

/** The query `container.logs` gets for `options`. */
export function logQuery(options: LogReadOptions | undefined, id: string): { timestamps: true; since?: string; tail?: number } {
  const since = options?.cursor !== undefined ? parseDockerCursor(options.cursor, id) : options?.since ? nanosOf(options.since) : undefined;
  return {
    timestamps: true,
    ...(since !== undefined && since > 0n ? { since: cursorOf(since) } : {}),
    // The engine cuts its tail before it drops the line(s) at the cursor: with a cursor, the tail is cut here.
    ...(options?.tail !== undefined && options.cursor === undefined ? { tail: options.tail } : {}),
  };
}

/** The text without its timestamps and the cursor after it, from the engine's demultiplexed answer. */
export function logReadOf(stamped: string, options: LogReadOptions | undefined, id: string): LogRead {
  const after = options?.cursor !== undefined ? parseDockerCursor(options.cursor, id) : -1n;
  let last = after < 0n ? (options?.since ? nanosOf(options.since) - 1n : 0n) : after;
  const out: string[] = [];
  for (const line of stamped.split(/(?<=\n)/)) {
    const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z ([\s\S]*)$/.exec(line);
    if (!m) continue;
    const at = BigInt(Date.parse(`${m[1]}Z`)) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
    if (at <= after) continue;
    out.push(m[3]!);
    if (at > last) last = at;
  }
  const text = out.join('');
  return { text: options?.tail !== undefined ? tailLines(text, options.tail) : text, cursor: cursorOf(last < 0n ? 0n : last) };
}

function nanosOf(date: Date): bigint {
  return BigInt(date.getTime()) * 1_000_000n;
}

function cursorOf(nanos: bigint): string {
  return `${nanos / 1_000_000_000n}.${(nanos % 1_000_000_000n).toString().padStart(9, '0')}`;
}

function parseDockerCursor(cursor: string, id: string): bigint {
  const m = /^(\d{1,12})\.(\d{9})$/.exec(cursor);
  if (!m) throw new BadInputError(`"${cursor}" is not a cursor of this log`, { id, cursor });
  return BigInt(m[1]!) * 1_000_000_000n + BigInt(m[2]!);
}
