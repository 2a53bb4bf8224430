import type { Command } from 'commander';
import { HostCreateDocument, HostListDocument, HostShowDocument, HostState } from '../../../client/generated/graphql';
import { details, emit, table } from '../output';
import { contextOf, enumOption, groupOf, intOption } from './context';
import { resourceTable } from './resource';

/** `rsp host list|show|create`. */
export function registerHost(program: Command): void {
  const host = program.command('host').description('hosts: servers in a site');

  host
    .command('list')
    .description('list hosts')
    .option('--site <id>', 'only on this site')
    .option('--technology <tech>', 'only those with a driver for it')
    .option('--state <state>', 'only in this state')
    .option('--limit <n>', 'at most this many', '50')
    .action(async (opts: { site?: string; technology?: string; state?: string; limit: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { hosts } = await ctx.client.request(HostListDocument, { first: intOption('--limit', opts.limit)!, siteId: opts.site ?? null, technology: opts.technology ?? null, state: enumOption<HostState>(opts.state) });
      emit(ctx.json, hosts.nodes, () =>
        table(hosts.nodes, [
          { header: 'ID', value: (h) => h.id },
          { header: 'HOSTNAME', value: (h) => h.hostname },
          { header: 'STATE', value: (h) => h.state },
          { header: 'SITE', value: (h) => h.siteId },
          { header: 'DRIVERS', value: (h) => h.drivers },
          { header: 'ARCH', value: (h) => h.arch },
        ]),
      );
    });

  host
    .command('show <id>')
    .description('show a host and its resources')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { host: h } = await ctx.client.request(HostShowDocument, { id });
      emit(ctx.json, h, () =>
        `${details([['id', h.id], ['hostname', h.hostname], ['state', h.state], ['site', h.siteId], ['owner', h.ownerGroupId], ['arch', h.arch], ['drivers', h.drivers], ['share units', h.shareUnits], ['last heartbeat', h.lastHeartbeatAt]])}\nResources:\n${resourceTable(h.resources)}`,
      );
    });

  host
    .command('create <hostname>')
    .description('register a host in a site (site admins)')
    .requiredOption('--site <id>', 'the site')
    .option('--owner <group-id>', "the group that owns it (default: your token's group)")
    .option('--arch <arch>', 'CPU architecture')
    .option('--driver <name...>', 'drivers it runs (docker, lxc, libvirt…)')
    .option('--share-units <n>', 'how many shares it is split into')
    .option('--agent <agent-id>', "the host agent that serves it (default: the gateway's own, local)")
    .action(async (hostname: string, opts: { site: string; owner?: string; arch?: string; driver?: string[]; shareUnits?: string; agent?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const input = { hostname, siteId: opts.site, ownerGroupId: await groupOf(ctx, opts.owner), ...(opts.arch ? { arch: opts.arch } : {}), ...(opts.driver ? { drivers: opts.driver } : {}), ...(opts.shareUnits ? { shareUnits: intOption('--share-units', opts.shareUnits) } : {}), ...(opts.agent ? { agent: opts.agent } : {}) };
      const { createHost } = await ctx.client.request(HostCreateDocument, { input });
      emit(ctx.json, createHost, () => `Created host ${createHost.hostname} (${createHost.id})\n`);
    });
}
