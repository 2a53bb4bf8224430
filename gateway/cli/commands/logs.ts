import type { Command } from 'commander';
import { EnvLogFollowDocument, EnvLogsDocument } from '../../../client/generated/graphql';
import { CliError, ExitCode } from '../exit-codes';
import { contextOf, intOption } from './context';

/** Options of `rsp env logs` (and `rsp logs`). */
interface LogsOptions {
  follow?: boolean;
  tail?: string;
  since?: string;
}

/** `rsp env logs <id>` and its short form `rsp logs <id>`: an environment's console/stdout log, followed with -f. */
export function registerLogs(program: Command, env: Command): void {
  for (const parent of [env, program]) {
    parent
      .command('logs <id>')
      .description("an environment's console/stdout log (Docker's log, LXC's console, a VM's serial console); -f follows it (Ctrl-C to stop)")
      .option('-f, --follow', 'keep printing new text as it is written')
      .option('--tail <n>', 'only the last n lines (with -f, default 100)')
      .option('--since <time>', 'only lines written since an ISO 8601 time or a duration ago (30s, 10m, 2h); not with -f, not for console logs (LXC, libvirt)')
      .action(async (id: string, opts: LogsOptions, cmd: Command) => printLogs(cmd, id, opts));
  }
}

async function printLogs(cmd: Command, id: string, opts: LogsOptions): Promise<void> {
  const ctx = contextOf(cmd);
  const tail = intOption('--tail', opts.tail);
  const since = opts.since === undefined ? undefined : sinceOf(opts.since);
  if (!opts.follow) {
    const { environmentLogs: log } = await ctx.client.request(EnvLogsDocument, { id, tail, since });
    if (ctx.json) process.stdout.write(`${JSON.stringify(log, null, 2)}\n`);
    else process.stdout.write(log.text);
    return;
  }
  // Following starts from the read of `--since` when asked, else from the last `--tail` lines.
  const cursor = since ? (await ctx.client.request(EnvLogsDocument, { id, since })).environmentLogs : undefined;
  if (cursor) process.stdout.write(ctx.json ? `${JSON.stringify(cursor)}\n` : cursor.text);
  const sub = ctx.client.subscribe(EnvLogFollowDocument, { id, tail, cursor: cursor?.cursor }, ({ environmentLog: part }) => {
    process.stdout.write(ctx.json ? `${JSON.stringify(part)}\n` : part.text);
  });
  const interrupted = new Promise<void>((r) => {
    process.once('SIGINT', r);
    process.once('SIGTERM', r);
  });
  try {
    await Promise.race([sub.ended, interrupted]);
  } finally {
    await sub.stop();
  }
}

/** An ISO 8601 time, or a duration ago (`90s`, `10m`, `2h`, `1d`); a usage error otherwise. */
export function sinceOf(text: string, now = Date.now()): string {
  const m = /^(\d+)(s|m|h|d)$/.exec(text.trim());
  if (m) return new Date(now - Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd']).toISOString();
  const at = new Date(text);
  if (!/^\d{4}-\d\d-\d\d/.test(text) || Number.isNaN(at.getTime())) throw new CliError(`--since ${text}: expected an ISO 8601 time (2026-12-03T14:00:00Z) or a duration ago (30s, 10m, 2h, 1d)`, 'BAD_USAGE', ExitCode.BAD_USAGE);
  return at.toISOString();
}
