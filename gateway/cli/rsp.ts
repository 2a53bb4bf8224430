#!/usr/bin/env node
// First: graphql-js decides its mode when it is first loaded.
import '../server/graphql-production';
import 'reflect-metadata';
import { Command, CommanderError } from 'commander';
import { ConfigError, loadConfig, unknownVariables } from '../config/config';
import { isRspError } from '../errors/rsp-error';
import { RSP_VERSION } from '../version';
import { registerAdmin } from './commands/admin';
import { registerAgent } from './commands/agent';
import { registerAlloc } from './commands/alloc';
import { registerCompletion } from './commands/completion';
import { registerConfig } from './commands/config-check';
import { registerDrivers } from './commands/drivers';
import { registerEnv } from './commands/env';
import { registerEvents } from './commands/events';
import { registerFederation } from './commands/federate';
import { registerGroup } from './commands/group';
import { registerHost } from './commands/host';
import { registerImage } from './commands/image';
import { registerInit } from './commands/init';
import { registerLayer } from './commands/layer';
import { registerLogin } from './commands/login';
import { registerMigrate } from './commands/migrate';
import { registerOffer } from './commands/offer';
import { registerReplica, registerReplicate, registerRestore } from './commands/replicate';
import { registerResource } from './commands/resource';
import { registerShare } from './commands/share';
import { registerSite } from './commands/site';
import { registerToken } from './commands/token';
import { registerTop } from './commands/top';
import { CliError, EXIT_CODES_HELP, ExitCode as CliExitCode, exitCodeFor } from './exit-codes';
import { unsupportedNode } from './node-support';
import { addServeOptions, ServeOptions, serveOverrides } from './serve-options';
import { testProtocolPin } from './commands/protocol-pin';
import { trustCaFile } from './tls-trust';
import { commandPath, unknownCommandMessage, unknownCommandOf, unknownOptionMessage, unknownOptionOf } from './unknown-command';
import { errorText } from './output';

/** Exit codes scripts can rely on (the full list, with 4, is in ./exit-codes). */
export const ExitCode = { OK: 0, FAILURE: 1, BAD_CONFIG: 2, UNAVAILABLE: 3, NOT_FOUND_OR_DENIED: CliExitCode.NOT_FOUND_OR_DENIED } as const;

const program = new Command()
  .name('rsp')
  .description('RSP — share servers between groups: a GraphQL federation gateway with virtualization drivers')
  .version(RSP_VERSION, '-V, --version')
  .option('--url <url>', 'the gateway, e.g. http://localhost:4000 (env RSP_URL)')
  .option('--token <token>', 'an API token rsp_… (env RSP_TOKEN)')
  .option('--json', 'print results as JSON, for scripts')
  .option('--ca <file>', "PEM file of CAs to trust for https:// and wss:// besides the system's (env RSP_CA_FILE)")
  .addHelpText('after', EXIT_CODES_HELP)
  // Usage errors (unknown command or option, missing argument) exit with 2, help with 0.
  .exitOverride()
  .hook('preAction', (_program, command) => {
    const ca = command.optsWithGlobals<{ ca?: string }>().ca ?? (process.env.RSP_CA_FILE || undefined);
    if (ca) trustCaFile(ca);
  });

addServeOptions(program.command('serve').description('start the gateway (GraphQL over HTTP and WebSocket on one port)'))
  .action(async (opts: ServeOptions) => {
    const config = loadConfig(process.env, serveOverrides(opts));
    // The server is loaded only to serve: the client commands start faster without it.
    const [{ createLogger }, { startGateway }, { setupLines, imagesLine }] = await Promise.all([import('../logging/logger.js'), import('../server/gateway.js'), import('../setup/setup-report.js')]);
    const logger = createLogger(config);
    for (const unknown of unknownVariables(process.env)) logger.warn({ variable: unknown.variable }, `${unknown.variable} ${unknown.problem}`);
    const pinned = testProtocolPin('RSP_TEST_GATEWAY_PROTOCOL');
    const gateway = await startGateway(config, { logger, ...(pinned ? { protocols: pinned } : {}) });
    const banner = [
      '',
      `  RSP ${RSP_VERSION} — site "${config.siteName}"`,
      `  Dashboard:         ${gateway.url}/ (log in with a token)`,
      `  GraphQL endpoint:  ${gateway.graphqlUrl}`,
      `  Subscriptions:     ${gateway.websocketUrl}`,
      `  GraphQL IDE:       ${gateway.graphqlUrl} (open in a browser)`,
      `  Health:            ${gateway.url}/healthz  ${gateway.url}/readyz`,
      ...(gateway.healthUrl ? [`  Health port:       ${gateway.healthUrl}/healthz  ${gateway.healthUrl}/readyz (RSP_HEALTH_PORT)`] : []),
      // rsp is `node dist/gateway/cli/rsp.js` in a clone (or on the PATH after npm link, or installed).
      `  CLI:               rsp login --url ${gateway.url} --token rsp_…   (then rsp --help)`,
      '',
      ...(gateway.bootstrapToken
        ? [
            '  First start: a site-admin token was created. It is shown ONCE — keep it safe:',
            `    ${gateway.bootstrapToken}`,
            '  Use it as "Authorization: Bearer <token>"; make more with rsp token create.',
            '',
            '  Next, in another terminal: log in with it (the CLI line above), then',
            '    rsp host list; rsp image list; rsp env create web --host <host-id> --image <image-id>',
            '',
          ]
        : []),
      ...(gateway.setup ? [...setupLines(gateway.setup), ''] : []),
    ];
    process.stdout.write(`${banner.join('\n')}\n`);
    if (gateway.setup?.ran) void gateway.setup.images.then((images) => process.stdout.write(`${imagesLine(images)}\n`));
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'stopping');
      gateway.close().then(
        () => process.exit(ExitCode.OK),
        (e: unknown) => {
          logger.error({ err: e }, 'error while stopping');
          process.exit(ExitCode.FAILURE);
        },
      );
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
    // A renewed certificate (certbot and the like) is taken without a restart.
    process.on('SIGHUP', () => {
      try {
        gateway.reloadCertificates();
      } catch (e) {
        logger.error({ err: e }, 'TLS certificate not reloaded; the previous one is still served');
      }
    });
  });

registerMigrate(program);
registerConfig(program);

program
  .command('version')
  .description('print the version (--json: {"version": …})')
  .action((_opts: unknown, cmd: Command) => {
    process.stdout.write(cmd.optsWithGlobals<{ json?: boolean }>().json ? `${JSON.stringify({ version: RSP_VERSION })}\n` : `${RSP_VERSION}\n`);
  });

registerInit(program);
registerLogin(program);
registerAgent(program);
registerGroup(program);
registerToken(program);
registerSite(program);
registerHost(program);
registerResource(program);
registerImage(program);
registerEnv(program);
registerDrivers(program);
registerShare(program);
registerLayer(program);
registerOffer(program);
registerAlloc(program);
registerTop(program);
registerEvents(program);
registerReplicate(program);
registerReplica(program);
registerRestore(program);
registerAdmin(program);
registerFederation(program);
registerCompletion(program);
hintHelpAfterErrors(program);

/** Prints an error the way a person wants to read it, and picks the exit code. */
function fail(error: unknown): never {
  if (error instanceof CommanderError) {
    // Commander already printed the message (or the help).
    process.exit(error.exitCode === 0 ? ExitCode.OK : ExitCode.BAD_CONFIG);
  }
  if (error instanceof CliError) {
    process.stderr.write(errorText(error.message, error.code));
    process.exit(error.exitCode);
  }
  if (error instanceof ConfigError) {
    process.stderr.write(errorText(error.message));
    process.exit(ExitCode.BAD_CONFIG);
  }
  if (isRspError(error)) {
    // A local command's error (no gateway between): the same exit code as the gateway's error code would give.
    process.stderr.write(errorText(error.message, error.category));
    process.exit(exitCodeFor(error.category));
  }
  const system = error as NodeJS.ErrnoException | undefined;
  if (system?.syscall && system.code) {
    // An error of the system (a port, a file, a connection): its message names what, a stack would not help.
    process.stderr.write(errorText(system.message, system.code));
    process.exit(ExitCode.FAILURE);
  }
  process.stderr.write(errorText(`unexpected error: ${(error as Error)?.stack ?? String(error)}`));
  process.exit(ExitCode.FAILURE);
}

/**
 * Makes every command's usage errors (a missing argument or required option, an unknown option)
 * end with where its usage is, e.g. `(see 'rsp env create --help')`.
 */
function hintHelpAfterErrors(command: Command): void {
  command.showHelpAfterError(`(see '${commandPath(command)} --help')`);
  for (const sub of command.commands) hintHelpAfterErrors(sub);
}

/** Parses and runs; a word that names no command is a usage error (exit 2), even with `--help`. */
async function main(): Promise<void> {
  const oldNode = unsupportedNode();
  if (oldNode) throw new CliError(oldNode, 'BAD_USAGE', ExitCode.BAD_CONFIG);
  const unknown = unknownCommandOf(program, process.argv.slice(2));
  // Its message says where the commands are listed already.
  if (unknown) unknown.command.showHelpAfterError(false).error(unknownCommandMessage(unknown), { code: 'commander.unknownCommand', exitCode: ExitCode.BAD_CONFIG });
  // An unknown option (a typo, likely) before a missing required one, which Commander would report first.
  const unknownOption = unknownOptionOf(program, process.argv.slice(2));
  if (unknownOption) unknownOption.command.showHelpAfterError(false).error(unknownOptionMessage(unknownOption), { code: 'commander.unknownOption', exitCode: ExitCode.BAD_CONFIG });
  await program.parseAsync(process.argv);
}

main().catch(fail);
