import type { Command } from 'commander';
import { CreateSiteInput, PlacementPolicy, SiteCreateDocument, SiteDeleteDocument, SiteListDocument } from '../../../client/generated/graphql';
import { emit, table } from '../output';
import { contextOf, groupOf, intOption } from './context';

/** `rsp site list|create|delete`. */
export function registerSite(program: Command): void {
  const site = program.command('site').description('sites: places with hosts');

  site
    .command('list')
    .description('list sites')
    .option('--limit <n>', 'at most this many', '50')
    .action(async (opts: { limit: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { sites } = await ctx.client.request(SiteListDocument, { first: intOption('--limit', opts.limit)! });
      emit(ctx.json, sites.nodes, () =>
        table(sites.nodes, [
          { header: 'ID', value: (s) => s.id },
          { header: 'NAME', value: (s) => s.name },
          { header: 'LOCATION', value: (s) => s.location },
          { header: 'OWNER', value: (s) => s.ownerGroupId },
          { header: 'POLICY', value: (s) => s.placementPolicy },
        ]),
      );
    });

  site
    .command('create <name>')
    .description('create a site (site admins)')
    .option('--owner <group-id>', "the group that runs it (default: your token's group)")
    .option('--location <text>', 'where it is')
    .option('--policy <policy>', 'placement policy')
    .action(async (name: string, opts: { owner?: string; location?: string; policy?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const input: CreateSiteInput = { name, ownerGroupId: await groupOf(ctx, opts.owner), ...(opts.location ? { location: opts.location } : {}), ...(opts.policy ? { placementPolicy: opts.policy as PlacementPolicy } : {}) };
      const { createSite } = await ctx.client.request(SiteCreateDocument, { input });
      emit(ctx.json, createSite, () => `Created site ${createSite.name} (${createSite.id})\n`);
    });

  site
    .command('delete <id>')
    .description('delete a site without hosts; refused with the hosts still in it')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { deleteSite } = await ctx.client.request(SiteDeleteDocument, { id });
      emit(ctx.json, { deleted: deleteSite }, () => `Deleted site ${id}\n`);
    });
}
