import { openExecSession, SessionClosedError } from '../exec-client';
import type { Command } from 'commander';
import {
  CreateEnvironmentInput,
  DestroyEnvironmentDocument,
  EnvCreateDocument,
  EnvExecDocument,
  EvictEnvironmentDocument,
  EnvFailoverDocument,
  EnvironmentStatus,
  EnvListDocument,
  EnvMigrateDocument,
  EnvMigrationDocument,
  EnvRebuildDocument,
  EnvShowDocument,
  RestartEnvironmentDocument,
  StartEnvironmentDocument,
  StopEnvironmentDocument,
} from '../../../client/generated/graphql';
import { CliError, ExitCode } from '../exit-codes';
import { details, emit, humanAmount, parseBytes, table } from '../output';
import { awaitOperation, contextOf, enumOption, groupOf, intOption, keyValue, parsedOption } from './context';
import { registerLogs } from './logs';
import { registerSnapshot } from './snapshot';

/** The lifecycle actions that are one mutation on an environment's id answering its operation. */
const ACTIONS = { start: StartEnvironmentDocument, restart: RestartEnvironmentDocument, destroy: DestroyEnvironmentDocument } as const;

/** `rsp env create|start|stop|restart|rebuild|destroy|evict|migrate|failover|list|show|exec|logs|snapshot` (and `rsp logs`). */
export function registerEnv(program: Command): void {
  const env = program.command('env').description('environments: containers and VMs on hosts');
  registerSnapshot(env);

  env
    .command('create <name>')
    .description('create an environment and print its id and name, then its operation (waited for unless --no-wait); --json prints the operation, its targetId the id')
    .requiredOption('--host <id>', 'the host it runs on')
    .requiredOption('--image <id>', 'the image it is built from')
    .option('--group <id>', "the group it belongs to (default: your token's group)")
    .option('--driver <name>', "driver (default: the host's first usable one for the image)")
    .option('--hostname <name>', 'its hostname')
    .option('--memory <size>', 'memory limit, e.g. 512MiB, 2GiB (a number alone is bytes)')
    .option('--cpu-weight <n>', 'CPU weight')
    .option('--cpus <n>', 'CPU quota in cores, e.g. 0.5 or 2')
    .option('--disk <size>', 'disk limit, e.g. 10GiB')
    .option('--pids <n>', 'at most this many processes')
    .option('--volume <volume...>', 'data volumes: name:/path, or name:/path:ro read-only, e.g. data:/var/lib/app')
    .option('--config <KEY=value...>', "config values for the image, e.g. PORT=8080")
    .option('--dns <server...>', 'DNS servers')
    .option('--network <mode>', "bridge (an address of the host's range; the default where the driver can) or none (loopback only)")
    .option('--publish <port...>', 'publish host ports to it: hostPort:port or hostPort:port/udp, e.g. 8080:80 or 5353:53/udp')
    .option('--writable-root', 'a writable root filesystem (default: read-only where the driver can; volumes, /tmp and /run stay writable)')
    .option('--no-wait', 'return as soon as the operation is started')
    .action(async (name: string, opts: CreateOptions, cmd: Command) => {
      const ctx = contextOf(cmd);
      const limits = { ...limitsOf(opts), ...createLimitsOf(opts) };
      const input: CreateEnvironmentInput = {
        name,
        groupId: await groupOf(ctx, opts.group),
        hostId: opts.host,
        imageId: opts.image,
        ...(opts.driver ? { driver: opts.driver } : {}),
        ...(opts.hostname ? { hostname: opts.hostname } : {}),
        ...(opts.dns ? { dns: opts.dns } : {}),
        ...(opts.network ? { network: opts.network } : {}),
        ...(opts.publish ? { ports: opts.publish.map(parsePublish) } : {}),
        ...(opts.writableRoot ? { readOnlyRoot: false } : {}),
        ...(Object.keys(limits).length ? { limits } : {}),
        ...(opts.volume ? { volumes: opts.volume.map(parseVolume) } : {}),
        ...(opts.config ? { config: Object.fromEntries(opts.config.map((c) => keyValue('--config', c))) } : {}),
      };
      const { createEnvironment } = await ctx.client.request(EnvCreateDocument, { input });
      const created = createEnvironment.environment;
      process.stderr.write(`Environment ${created.id}\n`);
      await awaitOperation(ctx, createEnvironment.operation, `create ${name}`, opts.wait, [['environment', created.id], ['name', created.name]]);
    });

  for (const [action, document] of Object.entries(ACTIONS)) {
    env
      .command(`${action} <id>`)
      .description(`${action} an environment (waits for the operation unless --no-wait)`)
      .option('--no-wait', 'return as soon as the operation is started')
      .action(async (id: string, opts: { wait: boolean }, cmd: Command) => {
        const ctx = contextOf(cmd);
        const { op } = await ctx.client.request(document, { id });
        await awaitOperation(ctx, op, `${action} ${id}`, opts.wait);
      });
  }

  env
    .command('stop <id>')
    .description("stop an environment (waits for the operation unless --no-wait); the admins governing its host stop another group's with --reason")
    .option('--reason <text>', 'why: required when you stop a guest on a host your group governs; its group sees it')
    .option('--no-wait', 'return as soon as the operation is started')
    .action(async (id: string, opts: { reason?: string; wait: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { op } = await ctx.client.request(StopEnvironmentDocument, { id, reason: opts.reason ?? null });
      await awaitOperation(ctx, op, `stop ${id}`, opts.wait);
    });

  env
    .command('evict <id>')
    .description('admins governing its host: stop and destroy a guest environment, with a reason its group sees (waits unless --no-wait)')
    .requiredOption('--reason <text>', 'why it is evicted')
    .option('--no-wait', 'return as soon as the operation is started')
    .action(async (id: string, opts: { reason: string; wait: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { op } = await ctx.client.request(EvictEnvironmentDocument, { id, reason: opts.reason });
      await awaitOperation(ctx, op, `evict ${id}`, opts.wait);
    });

  env
    .command('rebuild <id> [image-id]')
    .description('rebuild an environment from another image (default: the same one) and/or with new limits, keeping its volumes; new limits are claimed on its host first')
    .option('--memory <size>', 'new memory limit, e.g. 512MiB, 2GiB (a number alone is bytes)')
    .option('--cpu-weight <n>', 'new CPU weight')
    .option('--no-wait', 'return as soon as the operation is started')
    .action(async (id: string, imageId: string | undefined, opts: { memory?: string; cpuWeight?: string; wait: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const limits = limitsOf(opts);
      if (!imageId && !limits) throw new CliError('Name the new image, or new limits (--memory, --cpu-weight)', 'BAD_USAGE', ExitCode.BAD_USAGE);
      const { op } = await ctx.client.request(EnvRebuildDocument, { id, imageId: imageId ?? null, limits: limits ?? null });
      await awaitOperation(ctx, op, `rebuild ${id}`, opts.wait);
    });

  env
    .command('migrate <id>')
    .description('move an environment to another host, same identity and data; prints the downtime (waits unless --no-wait)')
    .option('--host <id>', "the target host (default: the scheduler's choice)")
    .option('--no-wait', 'return as soon as the operation is started')
    .action(async (id: string, opts: { host?: string; wait: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const started = await ctx.client.request(EnvMigrateDocument, { id, hostId: opts.host ?? null });
      const op = await awaitOperation(ctx, started.op, `migrate ${id}`, opts.wait);
      if (!opts.wait || op.state !== 'SUCCEEDED') return;
      const { operation } = await ctx.client.request(EnvMigrationDocument, { operationId: op.id });
      const result = operation.result as { toHostId?: string; downtimeMs?: number } | null;
      if (!ctx.json) process.stderr.write(`Now on host ${result?.toHostId}; downtime ${result?.downtimeMs} ms\n`);
    });

  env
    .command('failover <id>')
    .description('site admins: restart an environment of a DOWN host from its newest replica on another host (waits unless --no-wait)')
    .option('--host <id>', "the target host (default: the scheduler's choice)")
    .option('--no-wait', 'return as soon as the operation is started')
    .action(async (id: string, opts: { host?: string; wait: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { op } = await ctx.client.request(EnvFailoverDocument, { id, hostId: opts.host ?? null });
      await awaitOperation(ctx, op, `failover ${id}`, opts.wait);
    });

  env
    .command('list')
    .description('list environments')
    .option('--host <id>', 'only on this host')
    .option('--status <status>', 'only in this status')
    .option('--all', 'include destroyed ones')
    .option('--guests', "only other groups' environments on the hosts your group governs")
    .option('--limit <n>', 'at most this many', '50')
    .action(async (opts: { host?: string; status?: string; all?: boolean; guests?: boolean; limit: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { environments } = await ctx.client.request(EnvListDocument, { first: intOption('--limit', opts.limit)!, hostId: opts.host ?? null, status: enumOption<EnvironmentStatus>(opts.status), includeDestroyed: !!opts.all, guests: !!opts.guests });
      emit(ctx.json, environments.nodes, () =>
        table(environments.nodes, [
          { header: 'ID', value: (e) => e.id },
          { header: 'NAME', value: (e) => e.name },
          { header: 'STATUS', value: (e) => e.status },
          { header: 'DRIVER', value: (e) => e.driver },
          { header: 'GROUP', value: (e) => e.groupId },
          { header: 'HOST', value: (e) => e.hostId },
          { header: 'IMAGE', value: (e) => e.imageId ?? '-' },
          { header: 'HELD BY', value: (e) => heldBy(e.heldBy) },
        ]),
      );
    });

  env
    .command('show <id>')
    .description('show one environment')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { environment: e } = await ctx.client.request(EnvShowDocument, { id });
      emit(ctx.json, e, () => details([['id', e.id], ['name', e.name], ['status', e.status], ['group', e.groupId], ['host', e.hostId], ['driver', e.driver], ['technology', e.technology], ['image', e.imageId], ['addresses', e.addresses.map((a) => `${a.address}/${a.prefix} (${a.interface})`).join(', ') || null], ['ports', e.iface.ports.map((p) => `${p.hostPort}→${p.port}/${p.protocol}`).join(', ') || null], ['root', e.iface.readOnlyRoot ? 'read-only' : 'writable'], ['held by', heldBy(e.heldBy, true)], ['last error', e.lastError], ['created', e.createdAt], ['intervention', e.intervention ? `${e.intervention.action} by group ${e.intervention.byGroupId ?? 'site admin'} at ${e.intervention.at}: ${e.intervention.reason}` : null]]));
    });

  env
    .command('exec <id> <command...>')
    .description('run a command in a running environment (use -- before its options); exits with its exit code. -i streams standard input, -t runs it on a terminal (raw mode on yours): rsp env exec -it <env> -- sh')
    .option('-i, --interactive', 'stream standard input to the command (over the gateway\'s /exec WebSocket)')
    .option('-t, --tty', 'run the command on a terminal, sized as yours and resized with it')
    .action(async (id: string, command: string[], opts: { interactive?: boolean; tty?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      if (opts.interactive || opts.tty) {
        process.exitCode = await interactiveExec(ctx.client.connection.url, ctx.client.connection.token, id, command, opts.interactive === true, opts.tty === true);
        return;
      }
      const { execEnvironment: r } = await ctx.client.request(EnvExecDocument, { id, command });
      if (ctx.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      else {
        process.stdout.write(r.stdout);
        process.stderr.write(r.stderr);
      }
      process.exitCode = r.exitCode;
    });

  env
    .command('console <id>')
    .description('attach to a running environment\'s console (a VM\'s serial console, a Docker container\'s main process, an LXC container\'s /dev/console) over the gateway\'s /exec WebSocket: your terminal in raw mode, Ctrl-] detaches and leaves the environment running (so does the end of standard input when it is not a terminal)')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      process.exitCode = await attachConsole(ctx.client.connection.url, ctx.client.connection.token, id);
    });

  registerLogs(program, env);
}

/** The byte that detaches from a console (Ctrl-], as telnet and virsh console use). */
const DETACH_KEY = 0x1d;

/**
 * Attaches this process's terminal to an environment's console: raw mode on a terminal, every
 * byte typed forwarded up to the detach key (Ctrl-]); 0 once detached or once the console went
 * away (the environment stopped).
 */
async function attachConsole(url: string, token: string | undefined, id: string): Promise<number> {
  const terminal = process.stdin.isTTY === true;
  let detached = false;
  const session = openExecSession(url, token, { environment: id, console: true }, (b) => process.stdout.write(b), (b) => process.stderr.write(b));
  // Ctrl-] closes the socket; the end of the input asks the gateway to detach after the frames
  // before it, so that a refused start (an unknown environment) is still heard and reported.
  const detach = (how: 'close' | 'end' = 'close') => {
    if (detached) return;
    detached = true;
    if (terminal) process.stderr.write('\r\n[detached]\r\n');
    if (how === 'end') session.end();
    else session.close();
  };
  const inputEnded = () => detach('end');
  const onData = (b: Buffer) => {
    const at = b.indexOf(DETACH_KEY);
    if (at < 0) return session.write(b);
    if (at > 0) session.write(b.subarray(0, at));
    detach();
  };
  if (terminal) {
    process.stderr.write(`Attached to the console of ${id}; Ctrl-] detaches.\r\n`);
    process.stdin.setRawMode(true);
  }
  process.stdin.on('data', onData);
  process.stdin.once('end', inputEnded);
  try {
    const code = await session.exit.catch((e: unknown) => {
      // Detaching closes the socket; a refusal the gateway sent (an unknown environment, a token
      // that may not) or an unreachable gateway is still an error, even when the input ended first.
      if (detached && e instanceof SessionClosedError) return 0;
      throw e;
    });
    return detached ? 0 : code;
  } finally {
    process.stdin.off('data', onData).off('end', inputEnded);
    if (terminal) process.stdin.setRawMode(false);
    process.stdin.pause();
  }
}

/**
 * Runs `command` through an exec session with this process's standard streams: stdin forwarded
 * with `interactive`, the local terminal in raw mode and its size followed with `tty`. The exit
 * code of the command.
 */
async function interactiveExec(url: string, token: string | undefined, id: string, command: string[], interactive: boolean, tty: boolean): Promise<number> {
  const terminal = tty && process.stdin.isTTY === true;
  const size = () => ({ columns: process.stdout.columns || 80, rows: process.stdout.rows || 24 });
  const session = openExecSession(url, token, { environment: id, command, tty, ...(tty ? size() : {}) }, (b) => process.stdout.write(b), (b) => process.stderr.write(b));
  const onResize = () => session.resize(size().columns, size().rows);
  const onData = (b: Buffer) => session.write(b);
  const onEnd = () => session.end();
  if (terminal) {
    process.stdin.setRawMode(true);
    process.stdout.on('resize', onResize);
  }
  if (interactive) {
    process.stdin.on('data', onData);
    process.stdin.once('end', onEnd);
  } else session.end();
  try {
    return await session.exit;
  } finally {
    process.stdin.off('data', onData).off('end', onEnd);
    process.stdout.off('resize', onResize);
    if (terminal) process.stdin.setRawMode(false);
    process.stdin.pause();
  }
}

/** A `--publish` value, `hostPort:port[/tcp|/udp]`; a usage error otherwise. */
function parsePublish(text: string): { hostPort: number; port: number; protocol: string } {
  const m = /^(\d{1,5}):(\d{1,5})(?:\/(tcp|udp))?$/.exec(text);
  if (!m) throw new CliError(`--publish ${text}: expected hostPort:port or hostPort:port/udp, e.g. 8080:80`, 'BAD_USAGE', ExitCode.BAD_USAGE);
  return { hostPort: Number(m[1]), port: Number(m[2]), protocol: m[3] ?? 'tcp' };
}

/** The options of `rsp env create`. */
interface CreateOptions {
  host: string;
  image: string;
  group?: string;
  driver?: string;
  hostname?: string;
  memory?: string;
  cpuWeight?: string;
  cpus?: string;
  disk?: string;
  pids?: string;
  volume?: string[];
  config?: string[];
  dns?: string[];
  network?: string;
  publish?: string[];
  writableRoot?: boolean;
  wait: boolean;
}

/** `--volume name:/path[:ro]` as a data volume. */
function parseVolume(text: string): { name: string; kind: string; mountPath: string; readOnly: boolean } {
  const m = /^([^:/]+):(\/[^:]*)(?::(ro|rw))?$/.exec(text);
  if (!m) throw new CliError(`--volume ${text}: expected name:/path or name:/path:ro, e.g. data:/var/lib/app`, 'BAD_USAGE', ExitCode.BAD_USAGE);
  return { name: m[1]!, kind: 'data', mountPath: m[2]!, readOnly: m[3] === 'ro' };
}

/** The limits only `env create` takes: --cpus, --disk and --pids. */
function createLimitsOf(opts: Pick<CreateOptions, 'cpus' | 'disk' | 'pids'>): { cpuQuota?: number; diskBytes?: number; pids?: number } {
  return {
    ...(opts.cpus !== undefined ? { cpuQuota: intOption('--cpus', opts.cpus) } : {}),
    ...(opts.disk !== undefined ? { diskBytes: parsedOption('--disk', opts.disk, parseBytes) } : {}),
    ...(opts.pids !== undefined ? { pids: intOption('--pids', opts.pids) } : {}),
  };
}

/** The smallest memory limit `--memory` takes: below it, a size without a unit was meant in MiB or GiB. */
const MIN_MEMORY_BYTES = 1024 * 1024;

/** The limits given by --memory and --cpu-weight, or undefined when neither is. */
function limitsOf(opts: { memory?: string; cpuWeight?: string }): { memoryBytes?: number; cpuWeight?: number } | undefined {
  let memoryBytes: number | undefined;
  try {
    memoryBytes = opts.memory ? parseBytes(opts.memory) : undefined;
  } catch (e) {
    throw new CliError(`--memory: ${(e as Error).message}`, 'BAD_USAGE', ExitCode.BAD_USAGE);
  }
  // A number without a unit is bytes: `--memory 256` would make an environment no engine can run.
  if (memoryBytes !== undefined && memoryBytes < MIN_MEMORY_BYTES) {
    const given = opts.memory!.trim();
    const meant = /^\d+(?:\.\d+)?$/.test(given) ? `${given}MiB` : '512MiB';
    throw new CliError(`--memory: ${given} is ${memoryBytes} byte(s), less than 1 MiB: give a unit, e.g. ${meant} or 2GiB`, 'BAD_USAGE', ExitCode.BAD_USAGE);
  }
  const limits = { ...(memoryBytes !== undefined ? { memoryBytes } : {}), ...(opts.cpuWeight ? { cpuWeight: intOption('--cpu-weight', opts.cpuWeight) } : {}) };
  return Object.keys(limits).length ? limits : undefined;
}

/**
 * What holds an environment's capacity, for people: each allocation's id (`implicit` when it was
 * claimed for the environment's limits) and, in detail, its host and what it holds.
 */
function heldBy(allocations: Array<{ id: string; hostId: string; environmentId?: string | null; holds: Array<{ type: string; amount: number; unit: string }> }>, detailed = false): string {
  if (!allocations.length) return '-';
  return allocations
    .map((a) => {
      const what = a.environmentId ? `implicit ${a.id}` : `allocation ${a.id}`;
      if (!detailed) return what;
      const holds = a.holds.map((h) => `${h.type} ${humanAmount(h.amount, h.unit)}`).join(', ') || 'nothing measured';
      return `${what} on host ${a.hostId}: ${holds}`;
    })
    .join(detailed ? '; ' : ', ');
}
