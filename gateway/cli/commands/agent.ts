import type { Command } from 'commander';
import { AgentCredentialRevokeDocument, AgentJoinTokenCreateDocument } from '../../../client/generated/graphql';
import { CliError, ExitCode } from '../exit-codes';
import { emit } from '../output';
import { testProtocolPin } from './protocol-pin';
import { contextOf, intOption, type GlobalOptions } from './context';

/** Options of `rsp agent` (its join token is the global `--token`). */
interface AgentOptions {
  gateway?: string;
  dataDir: string;
  drivers?: string;
  plugins?: string;
  id?: string;
  instance?: string;
  factsEvery: string;
  procRoot?: string;
  sysRoot?: string;
}

/** `rsp agent` (run a host agent that dials out to its gateway) and `rsp agent token create|revoke`. */
export function registerAgent(program: Command): void {
  const agent = program
    .command('agent')
    .description('run a host agent on this machine: it dials out to the gateway over WebSocket and runs environments here (--token: a join token the first time)')
    .option('--gateway <urls>', 'the gateway, http(s):// or ws(s):// (required); several replicas separated by commas: a lost connection fails over to the next')
    .option('--data-dir <dir>', "the agent's data directory: its credential, volumes, image cache, artifacts", '.rsp/agent')
    .option('--drivers <list>', 'built-in drivers, comma-separated (default docker,lxc,libvirt,vserver)')
    .option('--plugins <list>', 'driver plugins to load, comma-separated (paths or packages)')
    .option('--id <agent-id>', "the agent id (default: the join token's)")
    .option('--facts-every <seconds>', "how often to read this machine's facts again; changed facts are pushed to the gateway (0: only at connection)", '60')
    .option('--proc-root <dir>', 'read the facts and metrics of the machine from this /proc (a container with the host\'s /proc mounted elsewhere, tests)', '/proc')
    .option('--sys-root <dir>', 'read the link speeds and block devices of the machine from this /sys', '/sys')
    .option('--instance <name>', "when several agents share one engine (one dockerd): each names its environments rsp-<name>-<id> and sees only its own")
    .action(async (opts: AgentOptions, cmd: Command) => runAgent(opts, cmd.optsWithGlobals<GlobalOptions>().token ?? process.env.RSP_AGENT_TOKEN));

  const token = agent.command('token').description('join tokens and credentials of host agents (site admins)');
  token
    .command('create <agent-id>')
    .description('create a one-time join token for an agent; shown once')
    .option('--ttl <seconds>', 'how long it is valid', '3600')
    .action(async (agentId: string, opts: { ttl: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { createAgentJoinToken } = await ctx.client.request(AgentJoinTokenCreateDocument, { agentId, ttlSeconds: intOption('--ttl', opts.ttl)! });
      emit(ctx.json, createAgentJoinToken, () => `Join token for agent ${agentId}, valid until ${createAgentJoinToken.expiresAt}, shown once:\n${createAgentJoinToken.token}\n`);
    });
  token
    .command('revoke <agent-id>')
    .description("revoke an agent's credential (its connection is closed)")
    .action(async (agentId: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { revokeAgentCredential } = await ctx.client.request(AgentCredentialRevokeDocument, { agentId });
      emit(ctx.json, { agentId, revoked: revokeAgentCredential }, () => `Revoked ${revokeAgentCredential} credential(s) of agent ${agentId}\n`);
    });
}

/** Runs the agent until SIGTERM/SIGINT (exit 0) or a refusal of the gateway (exit 4 for its secret). */
async function runAgent(opts: AgentOptions, token: string | undefined): Promise<void> {
  if (!opts.gateway) throw new CliError("rsp agent: --gateway <url>[,<url>…] is required", 'BAD_USAGE', ExitCode.BAD_USAGE);
  const gateway = opts.gateway;
  const list = (text: string | undefined) => text?.split(',').map((s) => s.trim()).filter(Boolean);
  const [{ createLogger }, { AgentDialer }, { agentRegistry, BUILTIN_DRIVERS, DEFAULT_DRIVERS }, { InProcessAgent }, { loadPluginSet }, { join }] = await Promise.all([
    import('../../logging/logger.js'),
    import('../../agent/remote/agent-dialer.js'),
    import('../../agent/builtin-drivers.js'),
    import('../../agent/in-process-agent.js'),
    import('../../../plugins/loader.js'),
    import('node:path'),
  ]);
  const logLevel = (process.env.LOG_LEVEL ?? 'info') as Parameters<typeof createLogger>[0]['logLevel'];
  const logger = createLogger({ logLevel, logFormat: process.env.LOG_FORMAT as 'json' | 'pretty' | undefined });
  const factsEvery = Number(opts.factsEvery);
  if (!Number.isFinite(factsEvery) || factsEvery < 0) throw new CliError(`--facts-every: "${opts.factsEvery}" is not a number of seconds`, 'BAD_USAGE', ExitCode.BAD_USAGE);
  const factsEveryMs = Math.round(factsEvery * 1000);
  // A misspelt driver is said now, not after the first connection (when the agent makes its drivers).
  const drivers = list(opts.drivers) ?? DEFAULT_DRIVERS;
  const unknownDriver = drivers.find((d) => !Object.hasOwn(BUILTIN_DRIVERS, d));
  if (unknownDriver !== undefined) throw new CliError(`--drivers: unknown driver "${unknownDriver}" (built in: ${Object.keys(BUILTIN_DRIVERS).join(', ')}; others come as --plugins)`, 'BAD_USAGE', ExitCode.BAD_USAGE);
  // Its data directory, made now level by level: one that cannot be made (under /proc, where Node's recursive mkdir spins forever) is said on one line.
  (await import('../../persistence/data-dir.js')).makeDataDir(opts.dataDir, "the agent's data directory", '--data-dir');
  const plugins = await loadPluginSet(list(opts.plugins) ?? [], { dataDir: opts.dataDir });
  const pinned = testProtocolPin('RSP_TEST_AGENT_PROTOCOL');
  const dialer = new AgentDialer({
    ...(pinned ? { protocols: pinned } : {}),
    gateway,
    token,
    agentId: opts.id,
    dataDir: opts.dataDir,
    logger,
    makeAgent: async (agentId, upstream) => {
      // What its drivers make carries its id (given at enrolment, kept across restarts): no other agent or gateway on the engines sees it.
      const registry = await agentRegistry(drivers, opts.dataDir, { instance: opts.instance, owner: agentId, plugins: plugins.driverPlugins });
      const made = new InProcessAgent(registry, opts.dataDir, logger.child({ agent: agentId }), agentId, join(opts.dataDir, 'artifacts'), upstream, { roots: { proc: opts.procRoot ?? '/proc', sys: opts.sysRoot ?? '/sys' } });
      await made.probe();
      return made;
    },
    // Each check probes the drivers again: an engine installed, upgraded or stopped is a change of facts.
    facts: {
      everyMs: factsEveryMs,
      read: async (agent) => {
        await (agent as InstanceType<typeof InProcessAgent>).probe();
        return agent.hostFacts();
      },
    },
  });
  const stop = (signal: string) => {
    logger.info({ signal }, 'stopping');
    dialer.stop();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  try {
    await dialer.run();
  } catch (e) {
    // A refused secret exits 4, another protocol version 1, bad options 2 (as every command's errors).
    const message = (e as Error).message;
    const hint = REFUSAL_HINTS.find(([reason]) => message.includes(reason))?.[1](opts.dataDir, opts.id ?? '<agent-id>');
    throw new CliError(hint ? `${message}: ${hint}` : message, (e as { category?: string }).category);
  }
  process.exit(ExitCode.OK);
}

/** What to do about the gateway's refusals of a join token (its close reason is too short to say it): by the reason's words. */
const REFUSAL_HINTS: Array<[string, (dataDir: string, agentId: string) => string]> = [
  ['the join token was used already', (dataDir, agentId) => `the agent it enrolled keeps its credential in the --data-dir it ran with, and ${dataDir} holds none the gateway knows; run with that --data-dir, or make a new join token on the gateway (rsp agent token create ${agentId})`],
  ['the join token has expired', (_dataDir, agentId) => `make a new one on the gateway (rsp agent token create ${agentId} [--ttl seconds])`],
  ['the join token is revoked', (_dataDir, agentId) => `make a new one on the gateway (rsp agent token create ${agentId})`],
  ['unknown join token', (_dataDir, agentId) => `check it was copied whole (rspj_ and 64 hex digits), or make a new one on the gateway (rsp agent token create ${agentId})`],
];

