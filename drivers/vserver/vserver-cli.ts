import { UnavailableError } from '../errors';
import type { RunToolOptions, ToolResult } from '../host/run-tool';
import { lastLines, runTool } from '../host/run-tool';
import type { ResolvedVserverOptions } from './options';

/** One line of `vserver-stat`. */
export interface VserverStatLine {
  context: number;
  processes: number;
  vszBytes: number;
  rssBytes: number;
  userSeconds: number;
  systemSeconds: number;
  name: string;
}

/**
 * util-vserver's command-line tools, run with argument arrays: `vserver NAME build|start|stop|
 * status|exec|delete` and `vserver-stat`.
 */
export class VserverCli {
  constructor(private readonly options: ResolvedVserverOptions) {}

  private env(): NodeJS.ProcessEnv {
    return { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...this.options.toolEnv };
  }

  run(name: string, command: string, args: string[] = [], run: RunToolOptions = {}): Promise<ToolResult> {
    return runTool(this.options.vserverTool, [name, command, ...args], { ...run, env: this.env() });
  }

  async ok(name: string, command: string, args: string[] = [], run: RunToolOptions = {}): Promise<ToolResult> {
    const result = await this.run(name, command, args, run);
    if (result.exitCode !== 0) {
      throw new UnavailableError(`vserver ${name} ${command} failed (exit ${result.exitCode}): ${lastLines(result.stderr || result.stdout)}`, {
        vserver: name,
        command,
        exitCode: result.exitCode,
      });
    }
    return result;
  }

  /** `vserver NAME status`: exit 0 running, 3 stopped; anything else (unknown guest) → undefined. */
  async status(name: string, signal?: AbortSignal): Promise<'running' | 'stopped' | undefined> {
    const result = await this.run(name, 'status', [], { signal });
    if (result.exitCode === 0) return 'running';
    if (result.exitCode === 3) return 'stopped';
    return undefined;
  }

  /** `vserver-stat`: the running guests. */
  async stat(signal?: AbortSignal): Promise<VserverStatLine[]> {
    const result = await runTool(this.options.statTool, [], { signal, env: this.env() });
    if (result.exitCode !== 0) throw new UnavailableError(`vserver-stat failed (exit ${result.exitCode}): ${lastLines(result.stderr)}`);
    return parseVserverStat(result.stdout);
  }
}

/** Parses `vserver-stat` output (sizes like 356K/153.4M/1.4G, times like 0m00s45/1h02m03/2d06h27). */
export function parseVserverStat(text: string): VserverStatLine[] {
  return text
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length >= 8)
    .map((f) => ({
      context: Number(f[0]),
      processes: Number(f[1]),
      vszBytes: parseSize(f[2]!),
      rssBytes: parseSize(f[3]!),
      userSeconds: parseDuration(f[4]!),
      systemSeconds: parseDuration(f[5]!),
      name: f.slice(7).join(' '),
    }));
}

function parseSize(text: string): number {
  const m = /^([\d.]+)([KMG]?)$/.exec(text);
  if (!m) return 0;
  return Math.round(Number(m[1]) * ({ '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 } as Record<string, number>)[m[2]!]!);
}

function parseDuration(text: string): number {
  let m = /^(\d+)m(\d+)s(\d+)$/.exec(text);
  if (m) return Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) / 100;
  m = /^(\d+)h(\d+)m(\d+)$/.exec(text);
  if (m) return Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
  m = /^(\d+)d(\d+)h(\d+)$/.exec(text);
  if (m) return Number(m[1]) * 86400 + Number(m[2]) * 3600 + Number(m[3]) * 60;
  return 0;
}
