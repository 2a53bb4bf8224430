import type { Command } from 'commander';
import { EventFieldsFragment, EventsDocument } from '../../../client/generated/graphql';
import { CliError, ExitCode } from '../exit-codes';
import { humanAmount, printable } from '../output';
import { contextOf, intOption } from './context';

const KINDS = ['OPERATION', 'ENVIRONMENT', 'ALERT', 'EXCHANGE'];

/** One line for a person: time, kind, then what happened. */
export function eventLine(e: EventFieldsFragment): string {
  const what = (() => {
    if (e.operation) {
      const o = e.operation;
      return `${o.kind} ${o.state} ${Math.round(o.progress * 100)}%${o.targetId ? ` ${o.targetType ?? ''} ${o.targetId}` : ''}${o.message ? ` — ${o.message}` : ''}${o.error ? ` — ${o.error.message} [${o.error.code}]` : ''} (operation ${o.id})`;
    }
    if (e.environment) return `${e.environment.name} ${e.environment.status} on host ${e.environment.hostId} (environment ${e.environment.id})`;
    if (e.alert) return `${e.alert.state} ${e.alert.metric} ${e.alert.targetType} ${e.alert.targetId}: ${e.alert.message}`;
    if (e.exchange) {
      const x = e.exchange;
      return `${x.change} ${x.resourceType} ${humanAmount(x.amount, x.unit)} on host ${x.hostId}: group ${x.fromGroupId} → group ${x.toGroupId} (share ${x.shareId})`;
    }
    return '';
  })();
  return printable(`${e.at} ${e.kind.padEnd(11)} ${what}`.trimEnd());
}

/** `rsp events`: follows the event stream, one line per event (`--json`: JSON lines). */
export function registerEvents(program: Command): void {
  program
    .command('events')
    .description('follow operations, environment changes, alerts and exchanges of capacity as they happen (Ctrl-C to stop)')
    .option('--kind <list>', 'only these kinds, comma-separated: OPERATION, ENVIRONMENT, ALERT, EXCHANGE')
    .option('--group <id>', "only this group's events")
    .option('--count <n>', 'exit after this many events')
    .action(async (opts: { kind?: string; group?: string; count?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const kinds = opts.kind?.toUpperCase().split(',');
      const unknown = kinds?.filter((k) => !KINDS.includes(k));
      if (unknown?.length) throw new CliError(`--kind: unknown ${unknown.join(', ')} (use ${KINDS.join(', ')})`, 'BAD_USAGE', ExitCode.BAD_USAGE);
      const count = intOption('--count', opts.count);
      let seen = 0;
      let dropped = 0;
      let enough: () => void = () => undefined;
      const done = new Promise<void>((r) => (enough = r));
      const sub = ctx.client.subscribe(
        EventsDocument,
        {},
        ({ events: e }) => {
          if (e.dropped > dropped) {
            process.stderr.write(`rsp: the gateway dropped ${e.dropped - dropped} event(s): this terminal read too slowly\n`);
            dropped = e.dropped;
          }
          if ((kinds && !kinds.includes(e.kind)) || (opts.group && e.groupId !== opts.group)) return;
          if (count !== undefined && seen >= count) return;
          seen += 1;
          process.stdout.write(`${ctx.json ? JSON.stringify(e) : eventLine(e)}\n`);
          if (count !== undefined && seen >= count) enough();
        },
        () => process.stderr.write('rsp: following events (Ctrl-C to stop)\n'),
      );
      const interrupted = new Promise<void>((r) => {
        process.once('SIGINT', r);
        process.once('SIGTERM', r);
      });
      try {
        await Promise.race([sub.ended, done, interrupted]);
      } finally {
        await sub.stop();
      }
    });
}
