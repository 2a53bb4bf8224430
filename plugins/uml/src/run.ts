import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { UnavailableError } from '@rsp/sdk';

/** What a finished command printed. */
export interface RunResult {
  stdout: string;
  stderr: string;
}

/**
 * Runs a host command with an argument array (never a shell). A failure is UNAVAILABLE naming the
 * command and carrying its stderr; a missing program says which package gives it.
 */
export function run(file: string, args: string[], options: { signal?: AbortSignal; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { signal: options.signal, env: options.env, timeout: options.timeoutMs ?? 120_000, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (!error) return resolve({ stdout, stderr });
      const code = (error as NodeJS.ErrnoException).code;
      const reason = code === 'ENOENT' ? `${file} is not installed` : (stderr.trim() || error.message).slice(0, 2000);
      reject(new UnavailableError(`${file} ${args.join(' ')} failed: ${reason}`, { command: file, args }, { cause: error }));
    });
  });
}

/** True when `program` is an executable file in one of PATH's directories. */
export async function onPath(program: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
    if (await access(join(dir, program), constants.X_OK).then(() => true, () => false)) return true;
  }
  return false;
}
