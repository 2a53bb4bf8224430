import { QueryFailedError } from 'typeorm';
import type { Logger } from '../../../gateway/logging/logger';
import { PeriodicTask } from '../../../gateway/scheduling/periodic-task';

/** A logger that keeps what was logged, level and message. */
function recordingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (_fields: unknown, msg?: string) => lines.push(`${level} ${msg ?? String(_fields)}`);
  return { logger: { warn: at('warn'), info: at('info'), error: at('error'), debug: at('debug') } as unknown as Logger, lines };
}

test('an outage (or a full disk) is logged once when it starts and once when the work works again; other failures every time', async () => {
  const { logger, lines } = recordingLogger();
  const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
  const full = () => new QueryFailedError('INSERT', [], Object.assign(new Error('could not extend file "base/5/16765": No space left on device'), { code: '53100' }));
  const outcomes: Array<Error | undefined> = [refused(), refused(), refused(), undefined, undefined, new Error('a bug'), new Error('a bug'), refused(), undefined, full(), full(), undefined];
  const task = new PeriodicTask('heartbeat round', async () => {
    const next = outcomes.shift();
    if (next) throw next;
  }, logger);
  while (outcomes.length) await task.runNow();
  expect(lines).toEqual([
    'warn heartbeat round failed: the database is unreachable (not logged again until it works)',
    'info heartbeat round works again',
    'warn heartbeat round failed',
    'warn heartbeat round failed',
    'warn heartbeat round failed: the database is unreachable (not logged again until it works)',
    'info heartbeat round works again',
    'warn heartbeat round failed: The database is out of disk space (could not extend file "base/5/16765": No space left on device): its operators must free space on its disk (not logged again until it works)',
    'info heartbeat round works again',
  ]);
});
