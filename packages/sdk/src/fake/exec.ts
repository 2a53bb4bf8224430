import type { ExecResult } from '../contract';
import { FakeFilesystem, FakeFsError } from './filesystem';

/** What a command of a fake environment can see and change. */
export interface CommandContext {
  fs: FakeFilesystem;
  hostname: string;
  env: Record<string, string>;
  stdin: string;
  /** Counts bytes read from and written to the filesystem, for stats. */
  onIo(read: number, written: number): void;
}

type Command = (args: string[], ctx: CommandContext) => Promise<ExecResult>;

const ok = (stdout = ''): ExecResult => ({ exitCode: 0, stdout, stderr: '' });
const fail = (exitCode: number, stderr: string): ExecResult => ({ exitCode, stdout: '', stderr: stderr.endsWith('\n') ? stderr : `${stderr}\n` });

/**
 * The commands a fake environment runs, over its own filesystem: `hostname`, `echo`, `cat`,
 * `ls`, `tee [-a]` (stdin to a file), `rm`, `env`, `true`, `false`. Anything else exits 127.
 */
export const COMMANDS: Record<string, Command> = {
  async hostname(_args, ctx) {
    return ok(`${ctx.hostname}\n`);
  },
  async echo(args) {
    const newline = args[0] !== '-n';
    return ok(`${(newline ? args : args.slice(1)).join(' ')}${newline ? '\n' : ''}`);
  },
  async cat(args, ctx) {
    if (!args.length) return ok(ctx.stdin);
    let stdout = '';
    for (const path of args) {
      try {
        const data = await ctx.fs.read(path);
        ctx.onIo(data.length, 0);
        stdout += data.toString('utf8');
      } catch (e) {
        return { exitCode: 1, stdout, stderr: `cat: ${fsMessage(e)}\n` };
      }
    }
    return ok(stdout);
  },
  async ls(args, ctx) {
    const paths = args.filter((a) => !a.startsWith('-'));
    let stdout = '';
    for (const path of paths.length ? paths : ['/']) {
      try {
        stdout += (await ctx.fs.list(path)).map((n) => `${n}\n`).join('');
      } catch (e) {
        return { exitCode: 2, stdout, stderr: `ls: cannot access '${path}': ${fsMessage(e).replace(/^.*?: /, '')}\n` };
      }
    }
    return ok(stdout);
  },
  async tee(args, ctx) {
    const append = args[0] === '-a';
    const data = Buffer.from(ctx.stdin);
    for (const path of append ? args.slice(1) : args) {
      try {
        await ctx.fs.write(path, data, append);
        ctx.onIo(0, data.length);
      } catch (e) {
        return { exitCode: 1, stdout: ctx.stdin, stderr: `tee: ${fsMessage(e)}\n` };
      }
    }
    return ok(ctx.stdin);
  },
  async rm(args, ctx) {
    for (const path of args.filter((a) => !a.startsWith('-'))) {
      try {
        await ctx.fs.remove(path);
      } catch (e) {
        if (!args.includes('-f')) return fail(1, `rm: cannot remove '${path}': ${fsMessage(e).replace(/^.*?: /, '')}`);
      }
    }
    return ok();
  },
  async env(_args, ctx) {
    return ok(Object.entries({ ...ctx.env, HOSTNAME: ctx.hostname }).map(([k, v]) => `${k}=${v}\n`).join(''));
  },
  async true() {
    return ok();
  },
  async false() {
    return fail(1, '');
  },
};

/** Runs one command (argv, no shell) in a fake environment. */
export async function runCommand(argv: string[], ctx: CommandContext): Promise<ExecResult> {
  const [name, ...args] = argv;
  const command = name === undefined ? undefined : COMMANDS[name.replace(/^\/(usr\/)?s?bin\//, '')];
  if (!command) return fail(127, `${name ?? ''}: command not found`);
  return command(args, ctx);
}

function fsMessage(e: unknown): string {
  if (e instanceof FakeFsError) return e.message;
  return e instanceof Error ? e.message : String(e);
}
