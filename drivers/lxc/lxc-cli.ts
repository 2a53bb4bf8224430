import { spawn } from 'node:child_process';
import type { InteractiveProcess } from '../contract';
import { UnavailableError } from '../errors';
import { spawnOnTerminal } from '../host/pty';
import type { RunToolOptions, ToolResult } from '../host/run-tool';
import { lastLines, runTool } from '../host/run-tool';
import { CONSOLE_ESCAPE } from './console';
import type { ResolvedLxcOptions } from './options';

/**
 * The `lxc-*` command-line tools, each run with an argument array and `-P <lxcPath>`.
 * Only what the driver needs; every method names the container by its LXC name.
 */
export class LxcCli {
  constructor(private readonly options: ResolvedLxcOptions) {}

  private run(tool: Parameters<ResolvedLxcOptions['tool']>[0], name: string, args: string[], run: RunToolOptions = {}): Promise<ToolResult> {
    return runTool(this.options.tool(tool), ['-P', this.options.lxcPath, '-n', name, ...args], run);
  }

  private async ok(tool: Parameters<ResolvedLxcOptions['tool']>[0], name: string, args: string[], what: string, run: RunToolOptions = {}): Promise<ToolResult> {
    const result = await this.run(tool, name, args, run);
    if (result.exitCode !== 0) {
      throw new UnavailableError(`${what} of LXC container ${name} failed (${tool} exited ${result.exitCode}): ${lastLines(result.stderr || result.stdout)}`, {
        container: name,
        tool,
        exitCode: result.exitCode,
      });
    }
    return result;
  }

  /** State and init PID; `undefined` when LXC does not know the container. */
  async info(name: string, signal?: AbortSignal): Promise<{ state: string; pid?: number } | undefined> {
    const result = await this.run('lxc-info', name, ['-s', '-p', '-H'], { signal });
    if (result.exitCode !== 0) return undefined;
    const state = /^State:\s*(\S+)/m.exec(result.stdout)?.[1] ?? 'UNKNOWN';
    const pid = /^PID:\s*(\d+)/m.exec(result.stdout)?.[1];
    return { state, pid: pid ? Number(pid) : undefined };
  }

  async start(name: string, signal?: AbortSignal): Promise<void> {
    await this.ok('lxc-start', name, [], 'start', { signal });
  }

  /** Clean stop within `graceSeconds`, then kill. */
  async stop(name: string, graceSeconds: number, signal?: AbortSignal): Promise<void> {
    await this.ok('lxc-stop', name, ['-t', String(graceSeconds)], 'stop', { signal });
  }

  async kill(name: string, signal?: AbortSignal): Promise<void> {
    await this.ok('lxc-stop', name, ['-k'], 'kill', { signal });
  }

  /** Removes the container and its snapshots. */
  async destroy(name: string, signal?: AbortSignal): Promise<void> {
    await this.ok('lxc-destroy', name, ['-s'], 'destroy', { signal });
  }

  /** Runs a command inside, with a clean environment made of `env`. */
  attach(name: string, command: string[], env: Record<string, string>, run: RunToolOptions): Promise<ToolResult> {
    const vars = Object.entries(env).flatMap(([k, v]) => ['--set-var', `${k}=${v}`]);
    return this.run('lxc-attach', name, ['--clear-env', ...vars, '--', ...command], run);
  }

  /**
   * Starts a command inside; its exit code is `lxc-attach`'s, the command's. Without `tty` its
   * standard streams are pipes; with one, `lxc-attach` runs on a pseudo-terminal of that size (see
   * host/pty.ts), and — its own input being a terminal — gives the command a terminal of the
   * container's (`/dev/pts/N` inside), following the size of its own.
   */
  attachInteractive(name: string, command: string[], env: Record<string, string>, tty?: { columns?: number; rows?: number }): InteractiveProcess {
    const vars = Object.entries(env).flatMap(([k, v]) => ['--set-var', `${k}=${v}`]);
    const args = ['-P', this.options.lxcPath, '-n', name, '--clear-env', ...vars, '--', ...command];
    if (tty) return spawnOnTerminal(this.options.tool('lxc-attach'), args, { ...tty, raw: true });
    const child = spawn(this.options.tool('lxc-attach'), args, { stdio: 'pipe' });
    child.stdin.on('error', () => undefined);
    const exit = new Promise<number>((resolve) => {
      child.once('error', () => resolve(-1));
      child.once('close', (code, signal) => resolve(code ?? (signal ? 128 + (SIGNALS[signal] ?? 0) : -1)));
    });
    return { stdin: child.stdin, stdout: child.stdout, stderr: child.stderr, exit, resize: async () => undefined, kill: () => void child.kill('SIGKILL') };
  }

  /**
   * Attaches to the container's console (`lxc-console -t 0`: its /dev/console, where its init's
   * standard streams are) on a pseudo-terminal (host/pty.ts; `lxc-console` wants a terminal), with
   * the escape prefix `CONSOLE_ESCAPE` (console.ts doubles it in what is typed). Ending it leaves
   * the container running.
   */
  console(name: string): InteractiveProcess {
    return spawnOnTerminal(this.options.tool('lxc-console'), ['-P', this.options.lxcPath, '-n', name, '-t', '0', '-e', CONSOLE_ESCAPE], { raw: true });
  }

  /** Takes a snapshot with `commentFile` as its comment (LXC names it snapN). */
  async snapshot(name: string, commentFile: string, signal?: AbortSignal): Promise<void> {
    await this.ok('lxc-snapshot', name, ['-c', commentFile], 'snapshot', { signal });
  }

  /** The container's snapshots (`lxc-snapshot -L -C`): LXC's name (snapN) and the comment's lines. */
  async snapshots(name: string, signal?: AbortSignal): Promise<Array<{ snap: string; comment: string[] }>> {
    const { stdout } = await this.ok('lxc-snapshot', name, ['-L', '-C'], 'listing the snapshots', { signal });
    const found: Array<{ snap: string; comment: string[] }> = [];
    for (const line of stdout.split('\n')) {
      const head = /^(snap\d+)\s/.exec(line);
      if (head) found.push({ snap: head[1]!, comment: [] });
      else if (found.length && line.trim()) found[found.length - 1]!.comment.push(line.trim());
    }
    return found;
  }

  /** Restores snapshot `snap` in place (`lxc-snapshot -r`): LXC destroys the container (keeping its snapshots) and clones the snapshot under its name. */
  async restoreSnapshot(name: string, snap: string, signal?: AbortSignal): Promise<void> {
    await this.ok('lxc-snapshot', name, ['-r', snap, '-N', name], `restoring snapshot ${snap}`, { signal });
  }

  /** Destroys snapshot `snap` (`lxc-snapshot -d`). */
  async destroySnapshot(name: string, snap: string, signal?: AbortSignal): Promise<void> {
    await this.ok('lxc-snapshot', name, ['-d', snap], `destroying snapshot ${snap}`, { signal });
  }
}

/** Numbers of the signals an attached process may end by, for the shell's 128+N exit code. */
const SIGNALS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15, SIGPIPE: 13 };
