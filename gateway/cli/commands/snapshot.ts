import type { Command } from 'commander';
import { SnapshotCreateDocument, SnapshotDeleteDocument, SnapshotListDocument, SnapshotRetentionDocument, SnapshotRollbackDocument } from '../../../client/generated/graphql';
import { details, emit, table } from '../output';
import { awaitOperation, contextOf, intOption } from './context';

/** The snapshot actions that are one mutation on an environment and a snapshot name, answering its operation. */
const ACTIONS = {
  create: { document: SnapshotCreateDocument, describe: 'take a snapshot of an environment (then its retention applies)' },
  rollback: { document: SnapshotRollbackDocument, describe: 'roll an environment back to a snapshot: what was written since is gone' },
  delete: { document: SnapshotDeleteDocument, describe: 'delete a snapshot and free its disk' },
} as const;

/** `rsp env snapshot create|list|rollback|delete|retention`. */
export function registerSnapshot(env: Command): void {
  const snapshot = env.command('snapshot').description("an environment's snapshots, held by its driver on its host");

  for (const [action, { document, describe }] of Object.entries(ACTIONS)) {
    snapshot
      .command(`${action} <environment-id> <name>`)
      .description(`${describe} (waits for the operation unless --no-wait)`)
      .option('--no-wait', 'return as soon as the operation is started')
      .action(async (environmentId: string, name: string, opts: { wait: boolean }, cmd: Command) => {
        const ctx = contextOf(cmd);
        const { op } = await ctx.client.request(document, { environmentId, name });
        await awaitOperation(ctx, op, `snapshot ${action} ${name} of ${environmentId}`, opts.wait);
      });
  }

  snapshot
    .command('list <environment-id>')
    .description("list an environment's snapshots, oldest first")
    .action(async (environmentId: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { environment } = await ctx.client.request(SnapshotListDocument, { environmentId });
      emit(ctx.json, environment.snapshots, () =>
        table(environment.snapshots, [
          { header: 'NAME', value: (s) => s.name },
          { header: 'CREATED', value: (s) => s.createdAt },
          { header: 'BY', value: (s) => s.createdBy },
        ]),
      );
    });

  snapshot
    .command('retention <environment-id>')
    .description('keep only the newest N snapshots, applied after each new one (--keep-last), or all of them (--all)')
    .option('--keep-last <n>', 'how many to keep (1–1000)')
    .option('--all', 'keep every snapshot')
    .action(async (environmentId: string, opts: { keepLast?: string; all?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const keepLast = opts.all ? null : intOption('--keep-last', opts.keepLast) ?? null;
      const { setSnapshotRetention: e } = await ctx.client.request(SnapshotRetentionDocument, { environmentId, keepLast });
      emit(ctx.json, e, () => details([['environment', e.id], ['keep last', e.snapshotKeepLast ?? 'all']]));
    });
}
