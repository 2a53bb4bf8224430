import type { Command } from 'commander';
import {
  CreateReplicationPolicyInput,
  ReplicaDeleteDocument,
  ReplicaListDocument,
  ReplicaFieldsFragment,
  ReplicaRestoreDocument,
  ReplicaStoreCollectDocument,
  ReplicaStoreCollectionDocument,
  ReplicaShowDocument,
  ReplicaVerifyDocument,
  ReplicateNowDocument,
  ReplicationPolicyCreateDocument,
  ReplicationPolicyDeleteDocument,
  ReplicationPolicyDrillDocument,
  ReplicationPolicyFieldsFragment,
  ReplicationPolicyListDocument,
  ReplicationPolicyShowDocument,
  ReplicationTargetKind,
} from '../../../client/generated/graphql';
import type { Operation } from '../client';
import { CliError, ExitCode } from '../exit-codes';
import { details, emit, humanBytes, printable, table } from '../output';
import { awaitOperation, CommandContext, contextOf, enumOption, followWithProgress, intOption } from './context';

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
    .option('--snapshot-before-copy', 'each run snapshots the environment, exports from the snapshot and deletes it (drivers that can)')
    .option('--auto-failover', 'start the newest replica elsewhere when the host fails')
    .option('--disabled', 'create it disabled')
    .option('--drill-schedule <expr>', 'restore drills of the newest replica on this schedule (same syntax as --schedule)')
    .action(async (environmentId: string, opts: { schedule: string; name?: string; layer?: string; target: string; targetId?: string; keep: string; internal?: boolean; backupCommand?: string; restoreCommand?: string; encrypted?: boolean; snapshotBeforeCopy?: boolean; autoFailover?: boolean; disabled?: boolean; drillSchedule?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const input: CreateReplicationPolicyInput = {
        environmentId,
        schedule: opts.schedule,
        targetKind: enumOption<ReplicationTargetKind>(opts.target)!,
        keep: intOption('--keep', opts.keep),
        kind: opts.internal ? 'INTERNAL' : 'EXTERNAL',
        encrypted: !!opts.encrypted,
        snapshotBeforeCopy: !!opts.snapshotBeforeCopy,
        autoFailover: !!opts.autoFailover,
        enabled: !opts.disabled,
        ...(opts.name ? { name: opts.name } : {}),
        ...(opts.layer ? { layerId: opts.layer } : {}),
        ...(opts.targetId ? { targetId: opts.targetId } : {}),
        ...(opts.drillSchedule ? { drillSchedule: opts.drillSchedule } : {}),
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

/** `rsp replica list|verify|drill|gc|delete`. */
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
          { header: 'VERIFIED', value: (r) => (r.verifyState ? `${r.verifyState} ${r.lastVerifiedAt ?? ''}`.trim() : '-') },
        ]),
      );
    });
  replica
    .command('verify <id>')
    .description('verify job: re-hash every chunk of a replica in its store, repair damaged ones from another store, record the outcome (exit 1 when DAMAGED)')
    .option('--no-wait', 'return as soon as the operation is started')
    .action(async (id: string, opts: { wait: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { op } = await ctx.client.request(ReplicaVerifyDocument, { id });
      if (!opts.wait) {
        await awaitOperation(ctx, op, `verify ${id}`, false);
        return;
      }
      await succeeded(ctx, op, `verify ${id}`);
      const { replica: r } = await ctx.client.request(ReplicaShowDocument, { id });
      emit(ctx.json, r, () => showVerification(r));
      if (r.verifyState === 'DAMAGED') throw new CliError(`replica ${id} is DAMAGED: ${r.verifyProblems.filter((p) => !p.repaired).length} problem(s) no other store could repair`, 'DAMAGED', ExitCode.FAILURE);
    });
  replica
    .command('drill <policy-id>')
    .description("restore drill: restore the policy's newest replica into a scratch environment, check every chunk and that it starts, record the result, remove it (exit 1 when FAILED)")
    .action(async (policyId: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { op } = await ctx.client.request(ReplicationPolicyDrillDocument, { policyId });
      await succeeded(ctx, op, `drill ${policyId}`);
      const { replicationPolicy: p } = await ctx.client.request(ReplicationPolicyShowDocument, { id: policyId });
      emit(ctx.json, p.lastDrill, () => showPolicy(p));
      if (p.lastDrill?.state === 'FAILED') throw new CliError(`the restore drill of policy ${printable(p.name)} FAILED: ${p.lastDrill.message ? printable(p.lastDrill.message) : 'no reason given'}`, 'DRILL_FAILED', ExitCode.FAILURE);
    });
  replica
    .command('gc')
    .description("garbage-collect a replica store: remove the chunks no manifest references (a run in progress keeps what it writes); prints the bytes freed")
    .option('--host <id>', "the host whose agent's store to collect (default: the gateway's store, site admins)")
    .option('--no-wait', 'return as soon as the operation is started')
    .action(async (opts: { host?: string; wait: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const label = `gc ${opts.host ? `host ${opts.host}` : "the gateway's store"}`;
      const { op } = await ctx.client.request(ReplicaStoreCollectDocument, { hostId: opts.host ?? null });
      if (!opts.wait) {
        await awaitOperation(ctx, op, label, false);
        return;
      }
      const done = await succeeded(ctx, op, label);
      const { operation } = await ctx.client.request(ReplicaStoreCollectionDocument, { id: done.id });
      const freed = (operation.result ?? {}) as { storeHostId?: string | null; removedChunks?: number; freedBytes?: number };
      emit(ctx.json, freed, () => `Freed ${humanBytes(freed.freedBytes ?? 0)} (${freed.removedChunks ?? 0} chunks) from ${opts.host ? `host ${opts.host}'s store` : "the gateway's store"}\n`);
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

function showVerification(r: ReplicaFieldsFragment): string {
  const lines = details([
    ['replica', r.id],
    ['environment', r.environmentName],
    ['stored on', r.storeHostId ?? 'gateway'],
    ['state', r.verifyState],
    ['last verified', r.lastVerifiedAt],
    ['problems', r.verifyProblems.length],
    ['repaired', r.verifyProblems.filter((p) => p.repaired).length],
  ]);
  const problems = r.verifyProblems.map((p) => `  ${p.repaired ? 'repaired' : 'DAMAGED '} ${p.chunk ? `chunk ${p.chunk}${p.index === null ? '' : ` (#${p.index})`}` : 'manifest'}: ${p.reason}`);
  return [lines, ...problems].join('\n');
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
    ['snapshot before copy', p.snapshotBeforeCopy ? 'yes' : 'no'],
    ['auto failover', p.autoFailover ? 'yes' : 'no'],
    ['enabled', p.enabled ? 'yes' : 'no'],
    ['state', p.status.state],
    ['last sync', p.status.lastSyncAt],
    ['last try', p.status.lastTryAt],
    ['duration', p.status.lastDurationMs === null ? null : `${p.status.lastDurationMs} ms`],
    ['fail count', p.status.failCount],
    ['next run', p.status.nextRunAt],
    ['last error', p.status.lastError],
    ['last run chunks', p.status.lastChunkCounts ? `${p.status.lastChunkCounts.reusedChunks} reused, ${p.status.lastChunkCounts.writtenChunks} written, ${p.status.lastChunkCounts.repairedChunks} repaired` : null],
    ['verification', p.status.verifyState ? `${p.status.verifyState} ${p.status.lastVerifiedAt ?? ''}${p.status.damagedReplicaIds.length ? ` (damaged: ${p.status.damagedReplicaIds.join(', ')})` : ''}`.trim() : null],
    ['drill schedule', p.drillSchedule],
    ['next drill', p.nextDrillAt],
    ['last drill', p.lastDrill ? `${p.lastDrill.state} ${p.lastDrill.at} (replica ${p.lastDrill.replicaId ?? '-'}, ${p.lastDrill.checkedChunks} chunks checked, ${p.lastDrill.started ? 'started' : 'did not start'}, ${p.lastDrill.durationMs} ms)` : null],
    ['drill failure', p.lastDrill?.message ?? null],
  ]);
}

/** Follows an operation with a progress bar; one that did not succeed is a CliError naming `label` and its reason (exit 1). */
async function succeeded(ctx: CommandContext, started: Operation, label: string): Promise<Operation> {
  const done = await followWithProgress(ctx, started, label);
  if (done.state !== 'SUCCEEDED') throw new CliError(`${label} ${done.state === 'FAILED' ? `failed: ${done.error ? printable(done.error.message) : 'no reason given'}` : 'was cancelled'}`, done.error ? printable(done.error.code) : 'FAILURE', ExitCode.FAILURE);
  return done;
}
