import type { Command } from 'commander';
import { LoginDocument } from '../../../client/generated/graphql';
import { GatewayClient } from '../client';
import { configPath, normalizeUrl, readStoredConfig, writeStoredConfig } from '../config';
import { CliError, ExitCode } from '../exit-codes';
import { emit } from '../output';
import type { GlobalOptions } from './context';

/** What `rsp login --help` adds: the gateway and token are given with rsp's own options. */
const LOGIN_HELP = `
The gateway and the token are rsp's own options (see rsp --help), given here:
  rsp login --url http://127.0.0.1:4000 --token rsp_…
  rsp login --token rsp_…        later, for the same gateway: its URL is remembered
(or RSP_URL and RSP_TOKEN). The file is ~/.config/rsp/config.json, or RSP_CLI_CONFIG.`;

/** `rsp login`: checks the token against the gateway and stores URL and token (mode 0600). */
export function registerLogin(program: Command): void {
  program
    .command('login')
    .description('check a token against a gateway and remember both (config file, mode 0600)')
    // --url and --token are rsp's own options, which a command's help does not list.
    .addHelpText('after', LOGIN_HELP)
    .action(async (_opts: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<GlobalOptions>();
      const path = configPath();
      const stored = readStoredConfig(path);
      const url = opts.url || process.env.RSP_URL || stored.url;
      const token = opts.token || process.env.RSP_TOKEN;
      if (!url || !token) throw new CliError('rsp login needs --url URL and --token TOKEN (or RSP_URL and RSP_TOKEN)', 'BAD_USAGE', ExitCode.BAD_USAGE);
      const client = new GatewayClient({ url: normalizeUrl(url), token, groupId: undefined });
      const { viewer } = await client.request(LoginDocument);
      if (!viewer.authenticated) throw new CliError('the gateway does not know this token', 'UNAUTHENTICATED');
      writeStoredConfig({ url: client.connection.url, token, groupId: viewer.groupId }, path);
      emit(!!opts.json, { url: client.connection.url, configPath: path, viewer }, () => `Logged in to ${client.connection.url} as "${viewer.name ?? '?'}" (${viewer.siteAdmin ? 'site admin' : `${viewer.role ?? 'no role'} of group ${viewer.groupId ?? '-'}`}); saved to ${path}\n`);
    });
}
