import type { Command } from 'commander';
import { GroupCreateDocument, GroupDeleteDocument, GroupDeletionMode, GroupListDocument, GroupQuotaSetDocument, GroupQuotaShowDocument, GroupShowDocument, type GroupStorageFieldsFragment } from '../../../client/generated/graphql';
import { details, emit, humanBytes, parseBytes, table } from '../output';
import { CliError, ExitCode } from '../exit-codes';
import { awaitOperation, contextOf, groupOf, intOption, parsedOption } from './context';

/** `rsp group create|list|show|delete` and `rsp group quota show|set`. */
export function registerGroup(program: Command): void {
  const group = program.command('group').description('groups that share servers');

  group
    .command('create <slug> <name>')
    .description('create a group (site admins)')
    .option('--description <text>', 'what the group does')
    .option('--contact <email>', 'how to reach the group')
    .option('--tech-hosts <list>', 'technologies it can host, comma-separated (docker,lxc…)')
    .option('--tech-needs <list>', 'technologies it needs, comma-separated')
    .action(async (slug: string, name: string, opts: { description?: string; contact?: string; techHosts?: string; techNeeds?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const input = {
        slug,
        name,
        ...(opts.description ? { description: opts.description } : {}),
        ...(opts.contact ? { contact: opts.contact } : {}),
        ...(opts.techHosts ? { techHosts: opts.techHosts.split(',') } : {}),
        ...(opts.techNeeds ? { techNeeds: opts.techNeeds.split(',') } : {}),
      };
      const { createGroup } = await ctx.client.request(GroupCreateDocument, { input });
      emit(ctx.json, createGroup, () => `Created group ${createGroup.slug} (${createGroup.id})\n`);
    });

  group
    .command('list')
    .description('list groups')
    .option('--limit <n>', 'at most this many', '50')
    .action(async (opts: { limit: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { groups } = await ctx.client.request(GroupListDocument, { first: intOption('--limit', opts.limit)! });
      emit(ctx.json, groups.nodes, () =>
        table(groups.nodes, [
          { header: 'ID', value: (g) => g.id },
          { header: 'SLUG', value: (g) => g.slug },
          { header: 'NAME', value: (g) => g.name },
          { header: 'HOSTS', value: (g) => g.techHosts },
          { header: 'NEEDS', value: (g) => g.techNeeds },
        ]),
      );
    });

  group
    .command('show <id>')
    .description('show one group')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { group: g } = await ctx.client.request(GroupShowDocument, { id });
      emit(ctx.json, g, () => details([['id', g.id], ['slug', g.slug], ['name', g.name], ['description', g.description], ['contact', g.contact], ['hosts', g.techHosts], ['needs', g.techNeeds], ['created', g.createdAt]]));
    });

  group
    .command('delete <id>')
    .description("delete a group: --destroy its environments, or --handover <group> them; refused with what blocks (waits unless --no-wait)")
    .option('--destroy', 'destroy its environments')
    .option('--handover <group-id>', 'give its environments (and their images, layers, allocations) to this group')
    .option('--no-wait', 'return as soon as the operation is started')
    .action(async (id: string, opts: { destroy?: boolean; handover?: string; wait: boolean }, cmd: Command) => {
      if (Boolean(opts.destroy) === Boolean(opts.handover)) throw new CliError('rsp group delete: give exactly one of --destroy and --handover <group-id>', 'BAD_USAGE', ExitCode.BAD_USAGE);
      const ctx = contextOf(cmd);
      const mode = opts.destroy ? ('DESTROY' as GroupDeletionMode) : ('HANDOVER' as GroupDeletionMode);
      const { op } = await ctx.client.request(GroupDeleteDocument, { id, mode, handoverTo: opts.handover ?? null });
      await awaitOperation(ctx, op, `delete group ${id}`, opts.wait);
    });

  const quota = group.command('quota').description("a group's storage quota of the gateway's stores (its images' content and the replicas the gateway keeps)");

  quota
    .command('show [group-id]')
    .description("what a group keeps in the gateway's stores and its quota (default: the token's group)")
    .action(async (id: string | undefined, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { group: g } = await ctx.client.request(GroupQuotaShowDocument, { id: await groupOf(ctx, id) });
      emit(ctx.json, g, () => storageText(g));
    });

  quota
    .command('set <group-id> <size>')
    .description('set a group\'s storage quota (site admins): a size like 50GiB, or "default" for the installation default (RSP_GROUP_STORAGE_BYTES)')
    .action(async (groupId: string, size: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const bytes = size.toLowerCase() === 'default' ? null : parsedOption('<size>', size, parseBytes);
      const { setGroupStorageQuota: g } = await ctx.client.request(GroupQuotaSetDocument, { groupId, bytes });
      emit(ctx.json, g, () => storageText(g));
    });
}

/** A group's storage in human units. */
function storageText(g: GroupStorageFieldsFragment): string {
  const s = g.storage;
  if (!s) return details([['group', g.slug], ['storage', 'not visible to this token (members only)']]);
  const limit = s.limitBytes === null ? 'none' : humanBytes(s.limitBytes);
  return details([
    ['group', g.slug],
    ['quota', s.quotaBytes === null ? `default (${limit})` : humanBytes(s.quotaBytes)],
    ['used', `${humanBytes(s.usedBytes)} of ${limit}`],
    ['images', humanBytes(s.imageBytes)],
    ['replicas', humanBytes(s.replicaBytes)],
    ['in progress', humanBytes(s.reservedBytes)],
  ]);
}
