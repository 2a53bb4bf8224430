import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UnavailableError } from '../errors';

/** The file in an embedded database's directory naming the process that has it open. */
export const EMBEDDED_LOCK_FILE = 'rsp-open.pid';

/**
 * Who holds the mark: a pid, and where the system tells them, the boot it ran in and the
 * process's start time (clock ticks since boot). Together they survive what a pid alone does
 * not: after a reboot, or once the pid is reused, the holder is known to be gone.
 */
interface Holder {
  pid: number;
  boot?: string;
  start?: string;
}

/**
 * Marks the embedded (PGlite) database in `dataDir` as open by this process, so that a second
 * process (an `rsp admin backup` or `rsp migrate` while `rsp serve` runs) is refused instead of
 * opening it too, which would corrupt it: PGlite is one process's database. A mark left by a
 * process that is gone (exited, from an earlier boot, or whose pid now names another process)
 * is taken over; one of this process is shared. Returns the release.
 */
export function lockEmbeddedDatabase(dataDir: string): () => void {
  const file = join(dataDir, EMBEDDED_LOCK_FILE);
  const me = holderLine(process.pid);
  for (;;) {
    try {
      writeFileSync(file, me, { flag: 'wx' });
      return () => {
        try {
          if (readMark(file) === me) unlinkSync(file);
        } catch {
          // already gone
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const mark = readMark(file);
    const holder = mark === undefined ? undefined : parseHolder(mark);
    if (holder?.pid === process.pid) return () => undefined;
    if (holder !== undefined && alive(holder)) {
      throw new UnavailableError(`The embedded database at ${dataDir} is open in process ${holder.pid} (a running rsp serve?): PGlite is one process's database. Stop that process first, or back up through the gateway: rsp admin backup --online <file>`, { dataDir, pid: holder.pid });
    }
    try {
      // Remove the stale mark only if it is still the one judged: another process may have
      // taken it over meanwhile.
      if (readMark(file) === mark) unlinkSync(file);
    } catch {
      // another process took it over first: try again
    }
  }
}

/** The mark's text for `pid`: "pid boot start", the last two where /proc tells them. */
function holderLine(pid: number): string {
  return `${[pid, bootId(), startTimeOf(pid)].filter((p) => p !== undefined).join(' ')}\n`;
}

function readMark(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function parseHolder(mark: string): Holder | undefined {
  const [pidText, boot, start] = mark.trim().split(/\s+/);
  const pid = Number.parseInt(pidText ?? '', 10);
  return Number.isInteger(pid) && pid > 0 ? { pid, boot, start } : undefined;
}

function alive(holder: Holder): boolean {
  const boot = bootId();
  if (holder.boot !== undefined && boot !== undefined && holder.boot !== boot) return false;
  const start = startTimeOf(holder.pid);
  if (holder.start !== undefined && start !== undefined && holder.start !== start) return false;
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** This boot's id (Linux), or undefined where the system does not tell it. */
function bootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** A process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat), or undefined. */
function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count from its end.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}
