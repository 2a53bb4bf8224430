import type { Command } from 'commander';
import { ResourceFieldsFragment, ResourceListDocument } from '../../../client/generated/graphql';
import { emit, humanAmount, table } from '../output';
import { contextOf, intOption } from './context';

/** A resource as the CLI shows it (the shared ResourceFields fragment). */
export type Resource = ResourceFieldsFragment;

/** The table of resources, amounts in human units. */
export function resourceTable(rows: Resource[]): string {
  return table(rows, [
    { header: 'ID', value: (r) => r.id },
    { header: 'HOST', value: (r) => r.hostId },
    { header: 'TYPE', value: (r) => r.type },
    { header: 'FREE', value: (r) => humanAmount(r.free, r.unit) },
    { header: 'USED', value: (r) => humanAmount(r.used, r.unit) },
    { header: 'CAPACITY', value: (r) => humanAmount(r.capacity, r.unit) },
    { header: 'DESCRIPTION', value: (r) => r.description },
  ]);
}

/** `rsp resource list`: discovery by type, site, host and free amount. */
export function registerResource(program: Command): void {
  const resource = program.command('resource').description('resources hosts offer (CPU, RAM, DISK…)');
  resource
    .command('list')
    .description('list resources')
    .option('--free <n>', 'only those with at least this much free (in the unit of the resource: bytes, cores…)')
    .option('--type <type>', 'CPU, RAM, DISK, NET_BANDWIDTH…')
    .option('--site <id>', 'only on this site')
    .option('--host <id>', 'only on this host')
    .option('--limit <n>', 'at most this many', '50')
    .action(async (opts: { free?: string; type?: string; site?: string; host?: string; limit: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const vars = { first: intOption('--limit', opts.limit)!, type: opts.type?.toUpperCase() ?? null, siteId: opts.site ?? null, hostId: opts.host ?? null, minFree: intOption('--free', opts.free) ?? null };
      const { resources } = await ctx.client.request(ResourceListDocument, vars);
      emit(ctx.json, resources.nodes, () => resourceTable(resources.nodes));
    });
}
