import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { BadInputError } from '../errors';

/** What a failed mkdir's code means for the one who chose the directory. */
const DATA_DIR_PROBLEMS: Record<string, string> = {
  ENOTDIR: 'a part of its path is a file, not a directory',
  EEXIST: 'a file of that name is in the way',
  EACCES: 'this user may not write there',
  EPERM: 'this user may not write there',
  EROFS: 'it is on a read-only filesystem',
  ENOSPC: 'its filesystem is full',
  ENOENT: 'its parent cannot hold directories (a system filesystem such as /proc or /sys)',
};

/**
 * Makes a directory of the data directory (`what`: the embedded database's, by default, or the
 * data directory itself); one that cannot be made is the operator's to fix (BAD_USER_INPUT,
 * exit 2), said on one line with the setting that chose it (`chosenBy`) and why.
 */
export function makeDataDir(dir: string, what = "the embedded database's directory", chosenBy = 'RSP_DATA_DIR or --data-dir'): void {
  try {
    makeDirectories(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'ERROR';
    const why = DATA_DIR_PROBLEMS[code] ?? (e as Error).message;
    throw new BadInputError(`Cannot make ${what} ${dir}: ${why} (${code}); give a directory this user may write with ${chosenBy}`, { dataDir: dir, code });
  }
}

/**
 * `mkdir -p`, one level at a time from the deepest that exists: Node's recursive mkdir never
 * returns where a directory cannot be made in a parent that exists (under /proc it answers
 * ENOENT, and Node makes the parent again, and again), so `--data-dir /proc/1/rsp` hung
 * `rsp serve`. Here that ENOENT is the error.
 */
function makeDirectories(dir: string): void {
  const target = resolve(dir);
  const missing: string[] = [];
  for (let at = target; statSync(at, { throwIfNoEntry: false }) === undefined && dirname(at) !== at; at = dirname(at)) missing.push(at);
  for (const at of missing.reverse()) {
    try {
      mkdirSync(at);
    } catch (e) {
      // Made meanwhile by another process: as good.
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(at).isDirectory()) throw e;
    }
  }
  // A file in the way (or one in its path: ENOTDIR) fails here as mkdir says it.
  if (!statSync(target, { throwIfNoEntry: false })?.isDirectory()) mkdirSync(target);
}
