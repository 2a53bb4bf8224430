import type { Command } from 'commander';
import {
  GrantShareInput,
  GroupUsageDocument,
  ShareGrantDocument,
  ShareKind,
  ShareListDocument,
  ShareRevokeDocument,
  UsagePolicyListDocument,
  UsagePolicyMode,
  UsagePolicySetDocument,
} from '../../../client/generated/graphql';
import { details, defaultUnitOf, emit, humanAmount, humanBytes, parseAmount, parseBytes, table } from '../output';
import { contextOf, enumOption, groupOf, intOption, keyValue, parsedOption } from './context';

/** Quotas in human units: `RAM 15 GiB, DISK 500 GiB`. */
function quotaText(quotas: Record<string, unknown>): string {
  return Object.entries(quotas)
    .map(([type, amount]) => `${type} ${humanAmount(Number(amount), defaultUnitOf(type))}`)
    .join(', ');
}

/** `rsp share grant|list|revoke`, usage policies (`rsp share policy set|list`) and `rsp share usage`. */
export function registerShare(program: Command): void {
  const share = program.command('share').description("shares: a group's slice of a host (FULL, HALF, CUSTOM), and sites' usage policies");

  share
    .command('grant <host-id> <group-id>')
    .description('grant a group a share of a host (site admins): FULL = capacity / share units, HALF = half of it with half the CPU weight')
    .option('--kind <kind>', 'FULL, HALF or CUSTOM', 'FULL')
    .option('--quota <type=amount...>', 'CUSTOM: quota per resource type, e.g. RAM=4GiB DISK=100GiB NET_BANDWIDTH=100Mbit CPU=2')
    .option('--cpu-weight <n>', 'CUSTOM: CPU weight 1–10000 (100 is a full share)')
    .action(async (hostId: string, groupId: string, opts: { kind: string; quota?: string[]; cpuWeight?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const quotas = opts.quota
        ? Object.fromEntries(
            opts.quota.map((q) => {
              const [type, amount] = keyValue('--quota', q);
              return [type.toUpperCase(), parsedOption('--quota', amount, (a) => parseAmount(a, defaultUnitOf(type)))];
            }),
          )
        : undefined;
      const input: GrantShareInput = { hostId, groupId, kind: enumOption<ShareKind>(opts.kind)!, ...(quotas ? { quotas } : {}), ...(opts.cpuWeight ? { cpuWeight: intOption('--cpu-weight', opts.cpuWeight) } : {}) };
      const { grantShare: s } = await ctx.client.request(ShareGrantDocument, { input });
      emit(ctx.json, s, () => `Granted a ${s.kind} share (${s.id}) of host ${s.hostId} to group ${s.groupId}: ${quotaText(s.quotas)}, CPU weight ${s.cpuWeight}\n`);
    });

  share
    .command('list')
    .description('list shares')
    .option('--group <id>', 'only of this group')
    .option('--host <id>', 'only on this host')
    .action(async (opts: { group?: string; host?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { shares } = await ctx.client.request(ShareListDocument, { groupId: opts.group ?? null, hostId: opts.host ?? null });
      emit(ctx.json, shares, () =>
        table(shares, [
          { header: 'ID', value: (s) => s.id },
          { header: 'HOST', value: (s) => s.hostId },
          { header: 'GROUP', value: (s) => s.groupId },
          { header: 'KIND', value: (s) => s.kind },
          { header: 'CPU WEIGHT', value: (s) => s.cpuWeight },
          { header: 'QUOTAS', value: (s) => quotaText(s.quotas) },
        ]),
      );
    });

  share
    .command('revoke <id>')
    .description('revoke a share (site admins)')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { revokeShare } = await ctx.client.request(ShareRevokeDocument, { id });
      emit(ctx.json, { id, revoked: revokeShare }, () => `Revoked share ${id}\n`);
    });

  share
    .command('usage')
    .description("what a group used per site this month (or --month), to compare with the sites' usage policies")
    .option('--group <id>', "the group (default: your token's group)")
    .option('--month <yyyy-mm>', 'the month')
    .action(async (opts: { group?: string; month?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { groupUsage } = await ctx.client.request(GroupUsageDocument, { groupId: await groupOf(ctx, opts.group), month: opts.month ?? null });
      emit(ctx.json, groupUsage, () =>
        table(groupUsage, [
          { header: 'SITE', value: (u) => u.siteId },
          { header: 'MONTH', value: (u) => u.month },
          { header: 'CPU HOURS', value: (u) => +u.cpuHours.toFixed(3) },
          { header: 'NETWORK', value: (u) => humanBytes(u.networkBytes) },
          { header: 'PEAK MEMORY', value: (u) => humanBytes(u.peakMemoryBytes) },
        ]),
      );
    });

  const policy = share.command('policy').description("a site's usage policies: text for people, monthly limits for machines");

  policy
    .command('set <site-id> <name>')
    .description("set a usage policy of a site, replacing the site's policy of that name (site admins, the admins of the site's owner group)")
    .option('--text <text>', 'the policy, for people')
    .option('--bandwidth <size>', 'bytes per month a group may send and receive, e.g. 500GiB')
    .option('--cpu-hours <n>', 'CPU hours per month')
    .option('--disk <size>', 'disk a group may use, e.g. 100GiB')
    .option('--mode <mode>', "a group over it: refuse (its new work in the site is refused) or throttle (its environments there get a tenth of their CPU weight and bandwidth)", 'refuse')
    .action(async (siteId: string, name: string, opts: { text?: string; bandwidth?: string; cpuHours?: string; disk?: string; mode: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const input = {
        siteId,
        name,
        ...(opts.text ? { text: opts.text } : {}),
        ...(opts.bandwidth ? { bandwidthBytesPerMonth: parsedOption('--bandwidth', opts.bandwidth, parseBytes) } : {}),
        ...(opts.cpuHours ? { cpuHoursPerMonth: intOption('--cpu-hours', opts.cpuHours) } : {}),
        ...(opts.disk ? { diskBytes: parsedOption('--disk', opts.disk, parseBytes) } : {}),
        mode: enumOption<UsagePolicyMode>(opts.mode)!,
      };
      const { setUsagePolicy: p } = await ctx.client.request(UsagePolicySetDocument, { input });
      emit(ctx.json, p, () => details([['id', p.id], ['site', p.siteId], ['name', p.name], ['text', p.text], ['bandwidth/month', p.bandwidthBytesPerMonth == null ? null : humanBytes(p.bandwidthBytesPerMonth)], ['CPU hours/month', p.cpuHoursPerMonth], ['disk', p.diskBytes == null ? null : humanBytes(p.diskBytes)], ['mode', p.mode]]));
    });

  policy
    .command('list <site-id>')
    .description("list a site's usage policies")
    .action(async (siteId: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { usagePolicies } = await ctx.client.request(UsagePolicyListDocument, { siteId });
      emit(ctx.json, usagePolicies, () =>
        table(usagePolicies, [
          { header: 'ID', value: (p) => p.id },
          { header: 'NAME', value: (p) => p.name },
          { header: 'BANDWIDTH/MONTH', value: (p) => (p.bandwidthBytesPerMonth == null ? null : humanBytes(p.bandwidthBytesPerMonth)) },
          { header: 'CPU HOURS/MONTH', value: (p) => p.cpuHoursPerMonth },
          { header: 'DISK', value: (p) => (p.diskBytes == null ? null : humanBytes(p.diskBytes)) },
          { header: 'MODE', value: (p) => p.mode },
          { header: 'TEXT', value: (p) => p.text },
        ]),
      );
    });
}
