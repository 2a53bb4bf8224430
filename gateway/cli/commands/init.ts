import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { loadConfig } from '../../config/config';
import { setupRefusal, SetupNames } from '../../setup/setup-record';
import { CliError, ExitCode } from '../exit-codes';
import { withLocalDatabase } from './local-database';

/** Options of `rsp init`. */
interface InitOptions {
  yes?: boolean;
  site?: string;
  group?: string;
  host?: string;
  image: boolean;
  dataDir?: string;
}

/**
 * `rsp init`: sets this machine up on an empty database, as the first start of `rsp serve` does
 * (an admin group, a site, this machine as a host of the in-process agent with its probed drivers
 * and resources, a busybox image), with names asked for (or given as flags with `--yes`), then
 * prints the first site-admin token and exits. Run it before serving with `RSP_BOOTSTRAP=off`.
 */
export function registerInit(program: Command): void {
  program
    .command('init')
    .description('set this machine up on an empty database (group, site, this host, busybox image) and print the site-admin token; asks unless --yes')
    .option('-y, --yes', 'ask nothing: take the flags and the defaults')
    .option('--site <name>', 'the site (default: RSP_SITE_NAME, this machine\'s name)')
    .option('--group <name>', 'the admin group that owns the site and host (default: admin)')
    .option('--host <name>', 'this machine\'s host record (default: RSP_LOCAL_HOST, this machine\'s name)')
    .option('--no-image', 'prepare no busybox image')
    .option('--data-dir <dir>', 'where the embedded database and artifacts live (env RSP_DATA_DIR)')
    .action(async (opts: InitOptions) => {
      const config = loadConfig(process.env, { port: 0, host: '127.0.0.1', bootstrap: false, ...(process.env.LOG_LEVEL ? {} : { logLevel: 'warn' }), ...(opts.dataDir !== undefined ? { dataDir: opts.dataDir } : {}) });
      const defaults: SetupNames = { group: opts.group ?? 'admin', site: opts.site ?? config.siteName, host: opts.host ?? config.localHost, image: opts.image && config.bootstrapImage };
      if (!opts.yes) {
        // Say so before asking for names that would not be used.
        const refusal = await withLocalDatabase(opts, ({ dataSource }) => setupRefusal(dataSource));
        if (refusal?.done) {
          process.stdout.write(`  Nothing to do: ${refusal.reason}.\n`);
          return;
        }
        if (refusal) throw new CliError(`rsp init: ${refusal.reason}; nothing was changed (rsp init sets up an empty database)`, 'CONFLICT', ExitCode.FAILURE);
      }
      const names = opts.yes ? defaults : await ask(defaults, opts);
      const [{ createLogger }, { startGateway }, { setupLines, imagesLine }] = await Promise.all([import('../../logging/logger.js'), import('../../server/gateway.js'), import('../../setup/setup-report.js')]);
      const gateway = await startGateway(config, { logger: createLogger(config), setup: names });
      try {
        const setup = gateway.setup!;
        const out: string[] = [];
        if (gateway.bootstrapToken) out.push('', '  The first site-admin token. It is shown ONCE — keep it safe:', `    ${gateway.bootstrapToken}`);
        out.push('', ...setupLines(setup, 'This machine is set up:'));
        process.stdout.write(`${out.join('\n')}\n`);
        if (!setup.ran) {
          if (setup.record?.state === 'DONE') {
            process.stdout.write(`  Nothing to do: ${setup.reason}.\n`);
            return;
          }
          throw new CliError(`rsp init: ${setup.reason}; nothing was changed (rsp init sets up an empty database)`, 'CONFLICT', ExitCode.FAILURE);
        }
        process.stdout.write(`${imagesLine(await setup.images)}\n  Next: rsp serve (or npm start); the dashboard logs in with the site-admin token.\n`);
      } finally {
        await gateway.close();
      }
    });
}

/**
 * Asks for each name no flag gave (Enter, or the end of the input, keeps the default), on the
 * terminal or from piped lines (read one by one, so none is lost between two questions).
 */
async function ask(defaults: SetupNames, given: InitOptions): Promise<SetupNames> {
  const rl = createInterface({ input: process.stdin, terminal: false });
  const lines = rl[Symbol.asyncIterator]();
  const answer = async (question: string): Promise<string> => {
    process.stderr.write(question);
    const next = await lines.next();
    if (next.done) process.stderr.write('\n');
    return next.done ? '' : String(next.value).trim();
  };
  try {
    const text = async (question: string, fallback: string, flag: string | undefined) => (flag !== undefined ? flag : (await answer(`${question} [${fallback}]: `)) || fallback);
    const site = await text('Site name', defaults.site, given.site);
    const group = await text('Admin group (owns the site and this host)', defaults.group, given.group);
    const host = await text("This machine's host name", defaults.host, given.host);
    const image = given.image === false ? false : !/^n/i.test((await answer(`Prepare a busybox image for the usable drivers? [${defaults.image ? 'Y/n' : 'y/N'}]: `)) || (defaults.image ? 'y' : 'n'));
    return { site, group, host, image };
  } finally {
    rl.close();
  }
}
