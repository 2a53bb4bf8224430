import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { addFederationGroup, FederationConfig, joinSite, leaveSite, readFederationConfig, writeFederationConfig } from '../../federation/config';
import { CliError, ExitCode } from '../exit-codes';

const DEFAULT_CONFIG = 'federation.json';

/** `rsp federate` (the federation gateway) and `rsp federation group-add|join|leave` (its configuration). */
export function registerFederation(program: Command): void {
  program
    .command('federate')
    .description('start a federation gateway: one GraphQL endpoint over several RSP sites, each answering as the group it linked')
    .option('-c, --config <file>', 'the federation configuration (sites, groups, links)', DEFAULT_CONFIG)
    .option('-p, --port <port>', 'port to listen on (default: the config\'s, else 4100)')
    .option('--host <host>', 'address to listen on (default: the config\'s, else 127.0.0.1)')
    .action(async (opts: { config: string; port?: string; host?: string }) => {
      const port = opts.port === undefined ? undefined : Number(opts.port);
      if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) throw new CliError(`--port: "${opts.port}" is not a port number (0-65535; 0 picks a free one)`, 'BAD_USAGE', ExitCode.BAD_USAGE);
      // A misspelt --config (or a folder without federation.json) would serve a federation of nothing.
      if (!existsSync(opts.config)) throw new CliError(`no federation configuration at ${opts.config}: make it with "rsp federation group-add <name>" and "rsp federation join <site> …" (or name it with --config)`, 'BAD_USAGE', ExitCode.BAD_USAGE);
      const config = readFederationConfig(opts.config);
      const { startFederationGateway } = await import('../../federation/server.js');
      const gateway = await startFederationGateway(config, { ...(port !== undefined ? { port } : {}), ...(opts.host !== undefined ? { host: opts.host } : {}) }).catch((e: unknown) => {
        const code = (e as NodeJS.ErrnoException).code;
        if ((e as NodeJS.ErrnoException).syscall !== 'listen') throw e;
        throw new CliError(`cannot listen on ${opts.host ?? config.host ?? '127.0.0.1'}:${port ?? config.port ?? 4100}: ${code === 'EADDRINUSE' ? 'the port is in use (another process listens there; --port picks another)' : (e as Error).message}`, code ?? 'FAILURE', ExitCode.BAD_USAGE);
      });
      process.stdout.write(
        [
          '',
          `  RSP federation over ${config.sites.length} site(s): ${config.sites.map((s) => s.name).join(', ') || '(none yet: rsp federation join)'}`,
          `  Federation endpoint: ${gateway.graphqlUrl}`,
          '  Callers send "Authorization: Bearer <federation group key>".',
          '',
        ].join('\n') + '\n',
      );
      // Each site is asked once whether it answers and takes its groups' tokens: said, not enforced.
      void import('../../federation/site-check.js')
        .then(({ checkSites }) => checkSites(config))
        .then((lines) => process.stdout.write(lines.map((l) => `  ${l.replace(/\n/g, '\n  ')}\n`).join('')))
        .catch(() => undefined);
      const stop = () => void gateway.close().then(() => process.exit(0));
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });

  const federation = program.command('federation').description('configure a federation: its groups and their links to member sites');
  const update = (file: string, change: (c: FederationConfig) => FederationConfig) => writeFederationConfig(file, change(readFederationConfig(file)));

  federation
    .command('group-add <name>')
    .description('add a group to the federation; prints its key once (callers send it as Bearer)')
    .option('-c, --config <file>', 'the federation configuration', DEFAULT_CONFIG)
    .action((name: string, opts: { config: string }) => {
      let key = '';
      update(opts.config, (c) => {
        const added = addFederationGroup(c, name);
        key = added.key;
        return added.config;
      });
      process.stdout.write(`Added federation group ${name}. Its key, shown once:\n${key}\n`);
    });

  federation
    .command('join <site>')
    .description("link a federation group to a site with the token the site's admin issued for the local group (rsp token create … --group <local group> on the site)")
    .requiredOption('--site-url <graphql-url>', "the site's GraphQL endpoint, e.g. https://site-a.example/graphql")
    .requiredOption('--group <name>', 'the federation group')
    .requiredOption('--site-token <token>', 'the token the site issued (its consent: revoking it there ends the link)')
    .option('-c, --config <file>', 'the federation configuration', DEFAULT_CONFIG)
    .action((site: string, opts: { siteUrl: string; group: string; siteToken: string; config: string }) => {
      update(opts.config, (c) => joinSite(c, { site, url: opts.siteUrl, group: opts.group, token: opts.siteToken }));
      process.stdout.write(`Linked federation group ${opts.group} to site ${site} (${opts.siteUrl}); restart rsp federate to use it\n`);
    });

  federation
    .command('leave <site>')
    .description("remove a federation group's link to a site")
    .requiredOption('--group <name>', 'the federation group')
    .option('-c, --config <file>', 'the federation configuration', DEFAULT_CONFIG)
    .action((site: string, opts: { group: string; config: string }) => {
      update(opts.config, (c) => leaveSite(c, { site, group: opts.group }));
      process.stdout.write(`Removed the link of federation group ${opts.group} to site ${site}\n`);
    });
}
