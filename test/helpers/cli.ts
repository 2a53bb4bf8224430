import { ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The repository root, where the CLI tests run (this file runs from test/helpers, or compiled from dist/test/helpers by a bench). */
export const ROOT = basename(join(__dirname, '..', '..')) === 'dist' ? join(__dirname, '..', '..', '..') : join(__dirname, '..', '..');

/** The built `rsp` CLI (the jest global setup builds dist/). */
export const RSP = join(ROOT, 'dist', 'gateway', 'cli', 'rsp.js');

/** What a finished `rsp` run printed and its exit code. */
export interface RspResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The environment of an `rsp` run: this process's, without RSP_TOKEN/RSP_URL, plus `env`. */
export function rspEnv(env: Record<string, string | undefined>): Record<string, string> {
  const base: Record<string, string | undefined> = { ...process.env };
  delete base.RSP_TOKEN;
  delete base.RSP_URL;
  return Object.fromEntries(Object.entries({ ...base, ...env }).filter((e): e is [string, string] => e[1] !== undefined));
}

/** Runs the built CLI to its end; resolves with its exit code and output whatever the code. */
export async function runRsp(args: string[], env: Record<string, string | undefined>, cwd = ROOT): Promise<RspResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [RSP, ...args], { env: rspEnv(env), cwd, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** A running `rsp` process, its output so far, and its exit. */
export interface RspProcess {
  child: ChildProcessWithoutNullStreams;
  output(): { stdout: string; stderr: string };
  /** Resolves once `pattern` appears on stdout or stderr (rejects after `timeoutMs`). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  exited: Promise<RspResult>;
}

/**
 * Starts the built CLI and keeps it running (for `rsp serve`, `rsp events`, `rsp top`). `via`
 * prefixes the command, e.g. `['ip', 'netns', 'exec', ns]` to run it in a network namespace (that
 * command must exec the CLI in place, so the child's pid is the CLI's).
 */
export function spawnRsp(args: string[], env: Record<string, string | undefined>, cwd = ROOT, via: string[] = []): RspProcess {
  const [file, ...prefix] = [...via, process.execPath];
  return spawnCommand(file!, [...prefix, RSP, ...args], env, cwd);
}

/** Starts `file` (an installed `rsp`, say) with `args` and `rspEnv(env)`, and keeps it running as spawnRsp does. */
export function spawnCommand(file: string, args: string[], env: Record<string, string | undefined>, cwd = ROOT): RspProcess {
  const child = spawn(file, args, { env: rspEnv(env), cwd });
  let stdout = '';
  let stderr = '';
  const listeners = new Set<() => void>();
  const changed = () => listeners.forEach((l) => l());
  child.stdout.on('data', (d) => {
    stdout += d;
    changed();
  });
  child.stderr.on('data', (d) => {
    stderr += d;
    changed();
  });
  const exited = new Promise<RspResult>((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr })));
  return {
    child,
    output: () => ({ stdout, stderr }),
    waitFor(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = pattern.exec(stdout) ?? pattern.exec(stderr);
          if (m) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve(m);
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`${pattern} did not appear within ${timeoutMs} ms; stdout: ${stdout.slice(-2000)} stderr: ${stderr.slice(-2000)}`));
        }, timeoutMs);
        listeners.add(check);
        check();
        void exited.then(() => {
          if (listeners.has(check)) {
            listeners.delete(check);
            clearTimeout(timer);
            reject(new Error(`rsp exited before ${pattern} appeared; stdout: ${stdout.slice(-2000)} stderr: ${stderr.slice(-2000)}`));
          }
        });
      });
    },
    exited,
  };
}
