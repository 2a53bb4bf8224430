import type { Command } from 'commander';
import type { Operation } from '../client';
import { CliError, ExitCode } from '../exit-codes';
import { details, emit, parseBytes, table } from '../output';
import { awaitOperation, CommandContext, contextOf, groupOf, intOption, OPERATION_FIELDS } from './context';

interface Environment {
  id: string;
  name: string;
  groupId: string;
  hostId: string;
  driver: string;
  technology: string;
  imageId: string;
  status: string;
  lastError: string | null;
  createdAt: string;
}
const ENV_FIELDS = 'id name groupId hostId driver technology imageId status lastError createdAt';

/** The lifecycle actions that are one mutation `xEnvironment(id)` returning an operation. */
const ACTIONS = ['start', 'stop', 'restart', 'destroy'] as const;

async function act(ctx: CommandContext, mutation: string, vars: Record<string, unknown>, signature: string, label: string, wait: boolean): Promise<void> {
  const data = await ctx.client.request<Record<string, Operation>>(`mutation (${signature}) { ${mutation}(${Object.keys(vars).map((k) => `${k}: $${k}`).join(', ')}) { ${OPERATION_FIELDS} } }`, vars);
  await awaitOperation(ctx, data[mutation]!, label, wait);
}

/** `rsp env create|start|stop|restart|rebuild|destroy|migrate|failover|list|show|exec`. */
export function registerEnv(program: Command): void {
  const env = program.command('env').description('environments: containers and VMs on hosts');

  env
    .command('create <name>')
    .description('create an environment (waits for the operation unless --no-wait)')
    .requiredOption('--host <id>', 'the host it runs on')
    .requiredOption('--image <id>', 'the image it is built from')
    .option('--group <id>', "the group it belongs to (default: your token's group)")
    .option('--driver <name>', "driver (default: the host's first usable one for the image)")
    .option('--hostname <name>', 'its hostname')
    .option('--memory <size>', 'memory limit, e.g. 512MiB, 2GiB')
    .option('--cpu-weight <n>', 'CPU weight')
    .option('--dns <server...>', 'DNS servers')
    .option('--no-wait', 'return as soon as the operation is started')
    .action(async (name: string, opts: { host: string; image: string; group?: string; driver?: string; hostname?: string; memory?: string; cpuWeight?: string; dns?: string[]; wait: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      let memoryBytes: number | undefined;
      try {
        memoryBytes = opts.memory ? parseBytes(opts.memory) : undefined;
      } catch (e) {
        throw new CliError(`--memory: ${(e as Error).message}`, 'BAD_USAGE', ExitCode.BAD_USAGE);
      }
      const limits = { ...(memoryBytes !== undefined ? { memoryBytes } : {}), ...(opts.cpuWeight ? { cpuWeight: intOption('--cpu-weight', opts.cpuWeight) } : {}) };
      const input = {
        name,
        groupId: await groupOf(ctx, opts.group),
        hostId: opts.host,
        imageId: opts.image,
        ...(opts.driver ? { driver: opts.driver } : {}),
        ...(opts.hostname ? { hostname: opts.hostname } : {}),
        ...(opts.dns ? { dns: opts.dns } : {}),
        ...(Object.keys(limits).length ? { limits } : {}),
      };
      const { createEnvironment } = await ctx.client.request<{ createEnvironment: { environment: Environment; operation: Operation } }>(
        `mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { ${ENV_FIELDS} } operation { ${OPERATION_FIELDS} } } }`,
        { i: input },
      );
      process.stderr.write(`Environment ${createEnvironment.environment.id}\n`);
      await awaitOperation(ctx, createEnvironment.operation, `create ${name}`, opts.wait);
    });

  for (const action of ACTIONS) {
    env
      .command(`${action} <id>`)
      .description(`${action} an environment (waits for the operation unless --no-wait)`)
      .option('--no-wait', 'return as soon as the operation is started')
      .action(async (id: string, opts: { wait: boolean }, cmd: Command) => {
        await act(contextOf(cmd), `${action}Environment`, { id }, '$id: ID!', `${action} ${id}`, opts.wait);
      });
  }

  env
    .command('rebuild <id> <image-id>')
    .description('rebuild an environment from another image, keeping its volumes')
    .option('--no-wait', 'return as soon as the operation is started')
    .action(async (id: string, imageId: string, opts: { wait: boolean }, cmd: Command) => {
      await act(contextOf(cmd), 'rebuildEnvironment', { id, imageId }, '$id: ID!, $imageId: ID!', `rebuild ${id}`, opts.wait);
    });

  env
    .command('migrate <id>')
    .description('move an environment to another host, same identity and data; prints the downtime (waits unless --no-wait)')
    .option('--host <id>', "the target host (default: the scheduler's choice)")
    .option('--no-wait', 'return as soon as the operation is started')
    .action(async (id: string, opts: { host?: string; wait: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { migrateEnvironment } = await ctx.client.request<{ migrateEnvironment: Operation }>(`mutation ($id: ID!, $host: ID) { migrateEnvironment(id: $id, hostId: $host) { ${OPERATION_FIELDS} } }`, { id, host: opts.host ?? null });
      const op = await awaitOperation(ctx, migrateEnvironment, `migrate ${id}`, opts.wait);
      if (!opts.wait || op.state !== 'SUCCEEDED') return;
      const { operation } = await ctx.client.request<{ operation: { result: { toHostId?: string; downtimeMs?: number } | null } }>('query ($id: ID!) { operation(id: $id) { result } }', { id: op.id });
      if (!ctx.json) process.stderr.write(`Now on host ${operation.result?.toHostId}; downtime ${operation.result?.downtimeMs} ms\n`);
    });

  env
    .command('failover <id>')
    .description('site admins: restart an environment of a DOWN host from its newest replica on another host (waits unless --no-wait)')
    .option('--host <id>', "the target host (default: the scheduler's choice)")
    .option('--no-wait', 'return as soon as the operation is started')
    .action(async (id: string, opts: { host?: string; wait: boolean }, cmd: Command) => {
      await act(contextOf(cmd), 'failoverEnvironment', { id, hostId: opts.host ?? null }, '$id: ID!, $hostId: ID', `failover ${id}`, opts.wait);
    });

  env
    .command('list')
    .description('list environments')
    .option('--host <id>', 'only on this host')
    .option('--status <status>', 'only in this status')
    .option('--all', 'include destroyed ones')
    .option('--limit <n>', 'at most this many', '50')
    .action(async (opts: { host?: string; status?: string; all?: boolean; limit: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { environments } = await ctx.client.request<{ environments: { nodes: Environment[] } }>(
        `query ($n: Int!, $host: ID, $status: EnvironmentStatus, $all: Boolean!) { environments(first: $n, hostId: $host, status: $status, includeDestroyed: $all) { nodes { ${ENV_FIELDS} } } }`,
        { n: intOption('--limit', opts.limit), host: opts.host ?? null, status: opts.status?.toUpperCase() ?? null, all: !!opts.all },
      );
      emit(ctx.json, environments.nodes, () =>
        table(environments.nodes, [
          { header: 'ID', value: (e) => e.id },
          { header: 'NAME', value: (e) => e.name },
          { header: 'STATUS', value: (e) => e.status },
          { header: 'DRIVER', value: (e) => e.driver },
          { header: 'HOST', value: (e) => e.hostId },
          { header: 'IMAGE', value: (e) => e.imageId },
        ]),
      );
    });

  env
    .command('show <id>')
    .description('show one environment')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { environment: e } = await ctx.client.request<{ environment: Environment }>(`query ($id: ID!) { environment(id: $id) { ${ENV_FIELDS} } }`, { id });
      emit(ctx.json, e, () => details([['id', e.id], ['name', e.name], ['status', e.status], ['group', e.groupId], ['host', e.hostId], ['driver', e.driver], ['technology', e.technology], ['image', e.imageId], ['last error', e.lastError], ['created', e.createdAt]]));
    });

  env
    .command('exec <id> <command...>')
    .description('run a command in a running environment (use -- before its options); exits with its exit code')
    .action(async (id: string, command: string[], _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { execEnvironment: r } = await ctx.client.request<{ execEnvironment: { exitCode: number; stdout: string; stderr: string } }>(
        'mutation ($id: ID!, $c: [String!]!) { execEnvironment(id: $id, command: $c) { exitCode stdout stderr } }',
        { id, c: command },
      );
      if (ctx.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      else {
        process.stdout.write(r.stdout);
        process.stderr.write(r.stderr);
      }
      process.exitCode = r.exitCode;
    });
}
