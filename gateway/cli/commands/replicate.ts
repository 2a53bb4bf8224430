import type { Command } from 'commander';
import {
  CreateReplicationPolicyInput,
  ReplicaDeleteDocument,
  ReplicaListDocument,
  ReplicaRestoreDocument,
  ReplicateNowDocument,
  ReplicationPolicyCreateDocument,
  ReplicationPolicyDeleteDocument,
  ReplicationPolicyFieldsFragment,
  ReplicationPolicyListDocument,
  ReplicationPolicyShowDocument,
  ReplicationTargetKind,
} from '../../../client/generated/graphql';
import { CliError, ExitCode } from '../exit-codes';
import { details, emit, humanBytes, table } from '../output';
import { awaitOperation, contextOf, enumOption, intOption } from './context';

/** `rsp replicate policy create|list|show|delete` and `rsp replicate now <policy>`. */
export function registerReplicate(program: Command): void {
  const replicate = program.command('replicate').description('replication policies and runs');
  const policy = replicate.command('policy').description('replication policies attached to layers');

  policy
    .command('create <environment-id>')
    .description('attach a replication policy to an environment (or one of its layers)')
    .requiredOption('--schedule <expr>', 'a 5-field cron expression (UTC) or "every N minutes"')
    .option('--name <name>', 'its name')
    .option('--layer <id>', "the layer that replicates (default: the environment's ZONE layer)")
    .option('--target <kind>', 'HOST, SITE, GROUP or STORE', 'STORE')
    .option('--target-id <id>', 'the host, site or group')
    .option('--keep <n>', 'replicas kept', '3')
    .option('--internal', 'INTERNAL: made by a command inside the environment (needs --backup-command)')
    .option('--backup-command <json>', 'INTERNAL: command (a JSON array of arguments) whose standard output is the backup')
    .option('--restore-command <json>', 'INTERNAL: command (a JSON array of arguments) that reads the backup on its standard input')
    .option('--encrypted', 'encrypt at rest with the group key')
    .option('--auto-failover', 'start the newest replica elsewhere when the host fails')
    .option('--disabled', 'create it disabled')
    .action(async (environmentId: string, opts: { schedule: string; name?: string; layer?: string; target: string; targetId?: string; keep: string; internal?: boolean; backupCommand?: string; restoreCommand?: string; encrypted?: boolean; autoFailover?: boolean; disabled?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const input: CreateReplicationPolicyInput = {
        environmentId,
        schedule: opts.schedule,
        targetKind: enumOption<ReplicationTargetKind>(opts.target)!,
        keep: intOption('--keep', opts.keep),
        kind: opts.internal ? 'INTERNAL' : 'EXTERNAL',
        encrypted: !!opts.encrypted,
        autoFailover: !!opts.autoFailover,
        enabled: !opts.disabled,
        ...(opts.name ? { name: opts.name } : {}),
        ...(opts.layer ? { layerId: opts.layer } : {}),
        ...(opts.targetId ? { targetId: opts.targetId } : {}),
        ...(opts.backupCommand ? { backupCommand: commandOption('--backup-command', opts.backupCommand) } : {}),
        ...(opts.restoreCommand ? { restoreCommand: commandOption('--restore-command', opts.restoreCommand) } : {}),
      };
      const { createReplicationPolicy: p } = await ctx.client.request(ReplicationPolicyCreateDocument, { input });
      emit(ctx.json, p, () => showPolicy(p));
    });

  policy
    .command('list')
    .description('list replication policies with their status')
    .option('--env <id>', 'only of this environment')
    .action(async (opts: { env?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { replicationPolicies } = await ctx.client.request(ReplicationPolicyListDocument, { environmentId: opts.env ?? null });
      emit(ctx.json, replicationPolicies, () =>
        table(replicationPolicies, [
          { header: 'ID', value: (p) => p.id },
          { header: 'NAME', value: (p) => p.name },
          { header: 'KIND', value: (p) => p.kind },
          { header: 'TARGET', value: (p) => (p.target.id ? `${p.target.kind} ${p.target.id}` : p.target.kind) },
          { header: 'SCHEDULE', value: (p) => p.schedule },
          { header: 'STATE', value: (p) => p.status.state },
          { header: 'LAST SYNC', value: (p) => p.status.lastSyncAt ?? '-' },
          { header: 'NEXT RUN', value: (p) => p.status.nextRunAt ?? '-' },
          { header: 'FAILS', value: (p) => String(p.status.failCount) },
        ]),
      );
    });

  policy
    .command('show <id>')
    .description('show one policy and its status')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { replicationPolicy: p } = await ctx.client.request(ReplicationPolicyShowDocument, { id });
      emit(ctx.json, p, () => showPolicy(p));
    });

  policy
    .command('delete <id>')
    .description('delete a policy (its replicas stay unless --with-replicas)')
    .option('--with-replicas', 'delete its replicas too, from the stores they live in')
    .action(async (id: string, opts: { withReplicas?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { deleteReplicationPolicy: p } = await ctx.client.request(ReplicationPolicyDeleteDocument, { id, deleteReplicas: !!opts.withReplicas });
      emit(ctx.json, p, () => `Deleted replication policy ${p.name} (${p.id})${opts.withReplicas ? ' and its replicas' : ''}`);
    });

  replicate
    .command('now <policy-id>')
    .description('run a policy now, with a progress bar (waits unless --no-wait)')
    .option('--no-wait', 'return as soon as the operation is started')
    .action(async (policyId: string, opts: { wait: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { op } = await ctx.client.request(ReplicateNowDocument, { id: policyId });
      await awaitOperation(ctx, op, `replicate ${policyId}`, opts.wait);
    });
}

/** `rsp replica list|delete`. */
export function registerReplica(program: Command): void {
  const replica = program.command('replica').description("replicas: checksummed copies in a host's or the gateway's artifact store");
  replica
    .command('list')
    .description('list replicas, newest first')
    .option('--env <id>', 'only of this environment')
    .option('--policy <id>', 'only of this policy')
    .action(async (opts: { env?: string; policy?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { replicas } = await ctx.client.request(ReplicaListDocument, { environmentId: opts.env ?? null, policyId: opts.policy ?? null });
      emit(ctx.json, replicas, () =>
        table(replicas, [
          { header: 'ID', value: (r) => r.id },
          { header: 'ENVIRONMENT', value: (r) => r.environmentName },
          { header: 'KIND', value: (r) => r.kind },
          { header: 'SIZE', value: (r) => humanBytes(r.bytes) },
          { header: 'NEW', value: (r) => humanBytes(r.newBytes) },
          { header: 'CHUNKS', value: (r) => String(r.chunks) },
          { header: 'ENCRYPTED', value: (r) => (r.encrypted ? 'yes' : 'no') },
          { header: 'CREATED', value: (r) => r.createdAt },
          { header: 'STORED ON', value: (r) => r.storeHostId ?? 'gateway' },
          { header: 'MOVED', value: (r) => humanBytes(r.movedBytes) },
        ]),
      );
    });
  replica
    .command('delete <id>')
    .description('delete a replica from the store it lives in')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { deleteReplica: r } = await ctx.client.request(ReplicaDeleteDocument, { id });
      emit(ctx.json, r, () => `Deleted replica ${r.id} of ${r.environmentName} (from ${r.storeHostId ? `host ${r.storeHostId}` : "the gateway's store"})`);
    });
}

/** `rsp restore <replica> [--host] [--name] [--start]`. */
export function registerRestore(program: Command): void {
  program
    .command('restore <replica-id>')
    .description('restore a replica after verifying every checksum: a new environment (EXTERNAL) or through the restore command (INTERNAL)')
    .option('--host <id>', "the host to restore on (default: the policy's target)")
    .option('--name <name>', 'name of the new environment')
    .option('--start', 'start it once restored')
    .option('--no-wait', 'return as soon as the operation is started')
    .action(async (replicaId: string, opts: { host?: string; name?: string; start?: boolean; wait: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { op } = await ctx.client.request(ReplicaRestoreDocument, { replicaId, hostId: opts.host ?? null, name: opts.name ?? null, start: !!opts.start });
      await awaitOperation(ctx, op, `restore ${replicaId}`, opts.wait);
    });
}

/** A command given as a JSON array of arguments (no shell string), as a usage error otherwise. */
function commandOption(name: string, text: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  if (!Array.isArray(value) || !value.length || value.some((a) => typeof a !== 'string')) {
    throw new CliError(`${name} must be a JSON array of arguments, e.g. '["sh","-c","tar c /data | base64"]'`, 'BAD_USAGE', ExitCode.BAD_USAGE);
  }
  return value as string[];
}

function showPolicy(p: ReplicationPolicyFieldsFragment): string {
  return details([
    ['id', p.id],
    ['name', p.name],
    ['environment', p.environmentId],
    ['layer', p.layerId],
    ['kind', p.kind],
    ['target', p.target.id ? `${p.target.kind} ${p.target.id}` : p.target.kind],
    ['schedule', p.schedule],
    ['keep', p.keep],
    ['encrypted', p.encrypted ? 'yes' : 'no'],
    ['auto failover', p.autoFailover ? 'yes' : 'no'],
    ['enabled', p.enabled ? 'yes' : 'no'],
    ['state', p.status.state],
    ['last sync', p.status.lastSyncAt],
    ['last try', p.status.lastTryAt],
    ['duration', p.status.lastDurationMs === null ? null : `${p.status.lastDurationMs} ms`],
    ['fail count', p.status.failCount],
    ['next run', p.status.nextRunAt],
    ['last error', p.status.lastError],
  ]);
}
