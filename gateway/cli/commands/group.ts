import type { Command } from 'commander';
import { GroupCreateDocument, GroupListDocument, GroupShowDocument } from '../../../client/generated/graphql';
import { details, emit, table } from '../output';
import { contextOf, intOption } from './context';

/** `rsp group create|list|show`. */
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
}
