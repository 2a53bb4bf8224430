import { UnavailableError } from '../errors';

/** WASI errno numbers of the errors PGlite's file system raises (Emscripten's `ErrnoError`), by their names and texts. */
const WASI_ERRNO: Record<number, { code: string; text: string }> = {
  2: { code: 'EACCES', text: 'permission denied' },
  19: { code: 'EDQUOT', text: 'disk quota exceeded' },
  29: { code: 'EIO', text: 'input/output error' },
  44: { code: 'ENOENT', text: 'no such file or directory' },
  51: { code: 'ENOSPC', text: 'no space left on device' },
  54: { code: 'ENOTDIR', text: 'not a directory' },
  63: { code: 'EPERM', text: 'operation not permitted' },
  69: { code: 'EROFS', text: 'read-only file system' },
};

/** The system error code and text of a failure to open the embedded database: Node's (`code`), PGlite's file system's (`errno`), else none. */
function systemProblem(error: unknown): { code: string; text: string } | undefined {
  const e = error as { name?: unknown; errno?: unknown; code?: unknown; message?: unknown } | null | undefined;
  if (e?.name === 'ErrnoError' && typeof e.errno === 'number') return WASI_ERRNO[e.errno] ?? { code: `errno ${e.errno}`, text: 'file system error' };
  if (typeof e?.code === 'string' && typeof e.message === 'string' && /^E[A-Z]+$/.test(e.code)) return { code: e.code, text: e.message };
  return undefined;
}

/**
 * The error of an embedded database that could not be opened in `dataDir`, saying why in words
 * (`no space left on device (ENOSPC)`, not PGlite's `[object Object]`) and what to do: a full
 * disk is `UNAVAILABLE` with `reason: DISK_FULL`, as at run time; a folder that cannot be
 * written names RSP_DATA_DIR.
 */
export function embeddedOpenError(dataDir: string, error: unknown): UnavailableError {
  const problem = systemProblem(error);
  const prefix = `Cannot open the embedded database at ${dataDir}`;
  if (problem?.code === 'ENOSPC' || problem?.code === 'EDQUOT') {
    return new UnavailableError(`${prefix}: ${problem.text} (${problem.code}): free space on its disk (RSP_DATA_DIR), then start again`, { dataDir, reason: 'DISK_FULL', code: problem.code }, { cause: error });
  }
  if (problem) {
    const text = problem.text.startsWith(`${problem.code}:`) ? problem.text : `${problem.text} (${problem.code})`;
    return new UnavailableError(`${prefix}: ${text}: check that RSP_DATA_DIR (or --data-dir) names a folder this user can write`, { dataDir, code: problem.code }, { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new UnavailableError(`${prefix}: ${message}`, { dataDir }, { cause: error });
}
