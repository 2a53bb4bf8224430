import type { Command } from 'commander';
import { HostCreateDocument, HostDeleteDocument, HostDrainDocument, HostListDocument, HostOrphansDocument, HostRemoveOrphansDocument, HostSetInventoryFromFactsDocument, HostSetIpv6RangeDocument, HostShowDocument, HostShowQuery, HostState } from '../../../client/generated/graphql';
import { CliError, ExitCode } from '../exit-codes';
import { details, emit, humanBitsPerSecond, humanBytes, table } from '../output';
import { awaitOperation, contextOf, enumOption, groupOf, intOption } from './context';
import { resourceTable } from './resource';

/** `rsp host list|show|create|ipv6-range|drain|delete|orphans`. */
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
          { header: 'AGENT', value: (h) => h.agentConnection.agentId },
          { header: 'VERSION', value: (h) => h.agentConnection.version ?? '-' },
          { header: 'PROTOCOL', value: (h) => h.agentConnection.protocol ?? '-' },
          { header: 'CONNECTION', value: (h) => h.agentConnection.state },
          { header: 'LAST HEARTBEAT', value: (h) => h.agentConnection.lastHeartbeatAt ?? 'never' },
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
        `${details([['id', h.id], ['hostname', h.hostname], ['state', h.state], ['site', h.siteId], ['owner', h.ownerGroupId], ['arch', h.arch], ['drivers', h.drivers], ['share units', h.shareUnits], ['address range', h.addressRange], ['IPv6 range', h.ipv6Range ?? 'none'], ['last heartbeat', h.lastHeartbeatAt], ['agent', `${h.agentConnection.agentId} (${h.agentConnection.state.toLowerCase()})`], ['agent version', h.agentConnection.version], ['agent protocol', h.agentConnection.protocol]])}\nResources:\n${resourceTable(h.resources)}\nFacts:\n${factsText(h.facts)}`,
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
    .option('--inventory-from-facts', "fill its resources (CPU, RAM, DISK, NET_BANDWIDTH) from its agent's facts")
    .option('--agent <agent-id>', "the host agent that serves it (default: the gateway's own, local)")
    .option('--address-range <cidr>', "the IPv4 range its environments' addresses come from, e.g. 10.42.0.0/24 (default: a /24 of 10.128.0.0/9 picked from its id)")
    .option('--ipv6-range <cidr>', "the IPv6 /64 its environments' IPv6 addresses come from, e.g. fd12:3456:789a::/64, or auto (a random unique local /64); default: none")
    .action(async (hostname: string, opts: { site: string; owner?: string; arch?: string; driver?: string[]; shareUnits?: string; inventoryFromFacts?: boolean; agent?: string; addressRange?: string; ipv6Range?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const input = { hostname, siteId: opts.site, ownerGroupId: await groupOf(ctx, opts.owner), ...(opts.arch ? { arch: opts.arch } : {}), ...(opts.driver ? { drivers: opts.driver } : {}), ...(opts.shareUnits ? { shareUnits: intOption('--share-units', opts.shareUnits) } : {}), ...(opts.inventoryFromFacts ? { inventoryFromFacts: true } : {}), ...(opts.agent ? { agent: opts.agent } : {}), ...(opts.addressRange ? { addressRange: opts.addressRange } : {}), ...(opts.ipv6Range ? { ipv6Range: opts.ipv6Range } : {}) };
      const { createHost } = await ctx.client.request(HostCreateDocument, { input });
      emit(ctx.json, createHost, () => `Created host ${createHost.hostname} (${createHost.id})\n`);
    });

  host
    .command('inventory-from-facts <id> <on|off>')
    .description("site admins: fill a host's resources (CPU, RAM, DISK, NET_BANDWIDTH) from its agent's facts and keep them up to date (on), or stop (off); resources typed by hand are never touched")
    .action(async (id: string, state: string, _opts: unknown, cmd: Command) => {
      if (state !== 'on' && state !== 'off') throw new CliError(`<on|off>: expected on or off, got "${state}"`, 'BAD_USAGE', ExitCode.BAD_USAGE);
      const ctx = contextOf(cmd);
      const { setHostInventoryFromFacts: h } = await ctx.client.request(HostSetInventoryFromFactsDocument, { id, on: state === 'on' });
      emit(ctx.json, h, () =>
        state === 'on'
          ? `Host ${h.hostname} (${h.id}): resources filled from its agent's facts\n${h.resources.length ? resourceTable(h.resources) : "(none yet: its agent has not reported; they come with its next report)\n"}`
          : `Host ${h.hostname} (${h.id}): resources no longer follow its agent's facts (they stay as they are)\n`,
      );
    });

  host
    .command('ipv6-range <id> <range>')
    .description("set a host's IPv6 range: a /64 (e.g. fd12:3456:789a::/64), auto (a random unique local /64) or none; refused while environments hold IPv6 addresses of the old one (they are listed)")
    .action(async (id: string, range: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { setHostIpv6Range: h } = await ctx.client.request(HostSetIpv6RangeDocument, { id, ipv6Range: range === 'none' ? null : range });
      emit(ctx.json, h, () => `Host ${h.hostname} (${h.id}): IPv6 range ${h.ipv6Range ?? 'none'}\n`);
    });

  host
    .command('drain <id>')
    .description("move every environment off a host (migration), leaving it DRAINING and empty; refused with what cannot move (waits unless --no-wait)")
    .option('--no-wait', 'return as soon as the operation is started')
    .action(async (id: string, opts: { wait: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { op } = await ctx.client.request(HostDrainDocument, { id });
      await awaitOperation(ctx, op, `drain ${id}`, opts.wait);
    });

  host
    .command('delete <id>')
    .description('delete an empty host (drain it first); refused with what is still on it')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { deleteHost } = await ctx.client.request(HostDeleteDocument, { id });
      emit(ctx.json, { deleted: deleteHost }, () => `Deleted host ${id}\n`);
    });

  host
    .command('orphans <id>')
    .description("objects RSP made on the host agent's engines that the database does not know (found when the agent connects); --remove removes them")
    .option('--remove', 'remove them through the agent (after looking again); prints what was removed and what failed')
    .action(async (id: string, opts: { remove?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      type Row = { technology: string; driver: string; name: string };
      const columns = [
        { header: 'TECHNOLOGY', value: (o: Row) => o.technology },
        { header: 'DRIVER', value: (o: Row) => o.driver },
        { header: 'NAME', value: (o: Row) => o.name },
      ];
      if (!opts.remove) {
        const { host: h } = await ctx.client.request(HostOrphansDocument, { id });
        emit(ctx.json, h.orphans, () => (h.orphans.length ? table(h.orphans, [...columns, { header: 'FOUND', value: (o) => o.foundAt }]) : `No orphans on ${h.hostname}\n`));
        return;
      }
      const { removeOrphans: r } = await ctx.client.request(HostRemoveOrphansDocument, { hostId: id });
      emit(ctx.json, r, () => `Removed ${r.removed.length} orphan(s)\n${r.removed.length ? table(r.removed, columns) : ''}${r.failed.length ? `Failed:\n${table(r.failed, [{ header: 'NAME', value: (f) => f.orphan.name }, { header: 'DRIVER', value: (f) => f.orphan.driver }, { header: 'REASON', value: (f) => f.reason }])}` : ''}`);
      if (r.failed.length) process.exitCode = 1;
    });
}

/** What a host's agent reported of its machine, for people. */
function factsText(facts: NonNullable<HostShowQuery['host']>['facts']): string {
  if (!facts) return '(its agent never reported)\n';
  const links = facts.interfaces.filter((i) => !i.internal).map((i) => `${i.name}${i.speedBitsPerSecond ? ` ${humanBitsPerSecond(i.speedBitsPerSecond)}` : ''}`);
  return `${details([
    ['cpu', `${facts.cpus} × ${facts.cpuModel}`],
    ['memory', humanBytes(facts.memoryBytes)],
    ['data dir', `${facts.dataDir.path}: ${humanBytes(facts.dataDir.freeBytes)} free of ${humanBytes(facts.dataDir.sizeBytes)}`],
    ['filesystems', facts.filesystems.map((f) => `${f.mountPoint} ${humanBytes(f.sizeBytes)}`)],
    ['interfaces', links],
    ['kernel', `${facts.kernel} (${facts.arch})`],
    ['reported', facts.reportedAt],
  ])}${table(facts.drivers, [
    { header: 'DRIVER', value: (d) => d.name },
    { header: 'TECHNOLOGY', value: (d) => d.technology },
    { header: 'AVAILABLE', value: (d) => (d.available ? 'yes' : 'no') },
    { header: 'VERSION', value: (d) => d.version },
    { header: 'REASON', value: (d) => d.reason },
  ])}`;
}
