import type { Command } from 'commander';
import { addFederationGroup, FederationConfig, joinSite, leaveSite, readFederationConfig, writeFederationConfig } from '../../federation/config';

const DEFAULT_CONFIG = 'federation.json';

/** `rsp federate` (the federation gateway) and `rsp federation group add|join|leave` (its configuration). */
export function registerFederation(program: Command): void {
  program
    .command('federate')
    .description('start a federation gateway: one GraphQL endpoint over several RSP sites, each answering as the group it linked')
    .option('-c, --config <file>', 'the federation configuration (sites, groups, links)', DEFAULT_CONFIG)
    .option('-p, --port <port>', 'port to listen on (default: the config\'s, else 4100)')
    .option('--host <host>', 'address to listen on (default: the config\'s, else 127.0.0.1)')
    .action(async (opts: { config: string; port?: string; host?: string }) => {
      const config = readFederationConfig(opts.config);
      const { startFederationGateway } = await import('../../federation/server.js');
      const gateway = await startFederationGateway(config, { ...(opts.port !== undefined ? { port: Number(opts.port) } : {}), ...(opts.host !== undefined ? { host: opts.host } : {}) });
      process.stdout.write(
        [
          '',
          `  RSP federation over ${config.sites.length} site(s): ${config.sites.map((s) => s.name).join(', ') || '(none yet: rsp federation join)'}`,
          `  Federation endpoint: ${gateway.graphqlUrl}`,
          '  Callers send "Authorization: Bearer <federation group key>".',
          '',
        ].join('\n') + '\n',
      );
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
