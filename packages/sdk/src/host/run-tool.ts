import { spawn } from 'node:child_process';
import { UnavailableError } from '../errors';

/** What one run of an external tool produced. */
export interface ToolResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Options of `runTool`. */
export interface RunToolOptions {
  signal?: AbortSignal;
  /** Written to the tool's standard input, which is closed afterwards. */
  stdin?: string;
  env?: NodeJS.ProcessEnv;
  /** Output kept per stream, in bytes (the rest is dropped). */
  maxOutputBytes?: number;
}

/**
 * Runs `file` with an argument array (never through a shell) and resolves with its exit code and
 * output, whatever the exit code. A tool that cannot be started at all is UNAVAILABLE.
 */
export function runTool(file: string, args: readonly string[], options: RunToolOptions = {}): Promise<ToolResult> {
  const max = options.maxOutputBytes ?? 4 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], env: options.env ?? process.env, signal: options.signal });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    child.stdout.on('data', (b: Buffer) => { if (outLen < max) { out.push(b); outLen += b.length; } });
    child.stderr.on('data', (b: Buffer) => { if (errLen < max) { err.push(b); errLen += b.length; } });
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (e.name === 'AbortError') reject(options.signal?.reason ?? e);
      else reject(new UnavailableError(`cannot run ${file}: ${e.message}`, { tool: file }, { cause: e }));
    });
    child.on('close', (code, signal) => {
      resolve({ exitCode: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.stdin ?? '');
  });
}

/** Runs the tool and throws `makeError(result)` unless it exits 0. Returns stdout. */
export async function runToolOk(file: string, args: readonly string[], options: RunToolOptions & { describe: string }): Promise<string> {
  const result = await runTool(file, args, options);
  if (result.exitCode !== 0) {
    throw new UnavailableError(`${options.describe} failed (${file} exited ${result.exitCode}): ${lastLines(result.stderr || result.stdout)}`, {
      tool: file,
      args: [...args],
      exitCode: result.exitCode,
    });
  }
  return result.stdout;
}

/** The last few lines of a tool's output, for error messages. */
export function lastLines(text: string, count = 5): string {
  return text.trim().split('\n').slice(-count).join(' | ') || '(no output)';
}
