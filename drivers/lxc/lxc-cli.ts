import { UnavailableError } from '../errors';
import type { RunToolOptions, ToolResult } from '../host/run-tool';
import { lastLines, runTool } from '../host/run-tool';
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

  /** Takes a snapshot with `commentFile` as its comment (LXC names it snapN). */
  async snapshot(name: string, commentFile: string, signal?: AbortSignal): Promise<void> {
    await this.ok('lxc-snapshot', name, ['-c', commentFile], 'snapshot', { signal });
  }
}
