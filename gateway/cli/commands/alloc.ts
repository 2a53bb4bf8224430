import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import {
  AllocateDocument,
  AllocateManyDocument,
  AllocationApproveDocument,
  AllocationFieldsFragment,
  AllocationGuarantee,
  AllocationListDocument,
  AllocationRejectDocument,
  AllocationReleaseDocument,
  AllocationRenewDocument,
  AllocationRequestFieldsFragment,
  AllocationRequestInput,
  AllocationRequestListDocument,
  ApprovalRequestListDocument,
  AllocationRequestShowDocument,
  AllocationRequestStatus,
  AllocationShowDocument,
  AllocationStatus,
  AntiAffinity,
  PlacementCandidatesDocument,
  PlacementMode,
  ResourceUnit,
  ResourceWantInput,
} from '../../../client/generated/graphql';
import { CliError, ExitCode } from '../exit-codes';
import { defaultUnitOf, details, emit, humanAmount, parseAmount, table } from '../output';
import { CommandContext, contextOf, enumOption, groupOf, intOption, keyValue, parsedOption } from './context';
import { parseRequirement } from './layer';

/** An allocation and a request with its allocations, as the CLI shows them. */
type Allocation = AllocationFieldsFragment;
type AllocationRequest = AllocationRequestFieldsFragment;

/** The options describing what is asked for, shared by `request` and `candidates`. */
interface RequestOptions {
  group?: string;
  cpu?: string;
  memory?: string;
  disk?: string;
  bandwidth?: string;
  want?: string[];
  technology?: string;
  require?: string[];
  mode?: string;
  guarantee?: string;
  antiAffinity?: string;
  replicas?: string;
  host?: string[];
  lease?: string;
}

function requestOptions(cmd: Command): Command {
  return cmd
    .option('--group <id>', "the group whose share is charged (default: your token's group)")
    .option('--cpu <cores>', 'CPU cores')
    .option('--memory <size>', 'RAM, e.g. 2GiB')
    .option('--disk <size>', 'disk, e.g. 20GiB')
    .option('--bandwidth <rate>', 'network bandwidth, e.g. 100Mbit')
    .option('--want <type=amount...>', 'other resources, e.g. GPU=1 (unit from the type, or TYPE=AMOUNT:UNIT)')
    .option('--technology <list>', 'technologies in order of preference, comma-separated (default: any)')
    .option('--require <req...>', "required properties of the host's machine layer: key, key=v, key!=v, key>=v, key<=v, key=a|b")
    .option('--mode <mode>', 'AUTOMATIC (the scheduler picks), DIRECT (--host names them) or APPROVAL (a site admin decides)')
    .option('--guarantee <g>', 'BEST_EFFORT (may overbook) or GUARANTEED (never does, holds a lease)')
    .option('--anti-affinity <a>', 'NONE, HOST or SITE: spread between replicas')
    .option('--replicas <n>', 'how many replicas')
    .option('--host <id...>', 'DIRECT: the hosts, one per replica')
    .option('--lease <seconds>', 'lease length');
}

/** The AllocationRequestInput from the command's options. */
async function requestInput(ctx: CommandContext, o: RequestOptions): Promise<AllocationRequestInput> {
  const resources: ResourceWantInput[] = [];
  const want = (name: string, type: string, text: string | undefined, unit = defaultUnitOf(type) as ResourceUnit) => {
    if (text !== undefined) resources.push({ type, unit, amount: parsedOption(name, text, (t) => parseAmount(t, unit)) });
  };
  want('--cpu', 'CPU', o.cpu);
  want('--memory', 'RAM', o.memory);
  want('--disk', 'DISK', o.disk);
  want('--bandwidth', 'NET_BANDWIDTH', o.bandwidth);
  for (const w of o.want ?? []) {
    const [type, rest] = keyValue('--want', w);
    const [amount, unit] = rest.split(':');
    want('--want', type.toUpperCase(), amount, enumOption<ResourceUnit>(unit) ?? (defaultUnitOf(type) as ResourceUnit));
  }
  if (!resources.length) throw new CliError('say what to allocate: --cpu, --memory, --disk, --bandwidth or --want TYPE=AMOUNT', 'BAD_USAGE', ExitCode.BAD_USAGE);
  const mode = enumOption<PlacementMode>(o.mode) ?? (o.host ? 'DIRECT' : undefined);
  return {
    groupId: await groupOf(ctx, o.group),
    resources,
    ...(mode ? { mode } : {}),
    ...(o.guarantee ? { guarantee: enumOption<AllocationGuarantee>(o.guarantee) } : {}),
    ...(o.technology ? { technologies: o.technology.split(',') } : {}),
    ...(o.require ? { requiredProperties: o.require.map(parseRequirement) } : {}),
    ...(o.antiAffinity ? { antiAffinity: enumOption<AntiAffinity>(o.antiAffinity) } : {}),
    ...(o.replicas ? { replicas: intOption('--replicas', o.replicas) } : {}),
    ...(o.host ? { hostIds: o.host } : {}),
    ...(o.lease ? { leaseSeconds: intOption('--lease', o.lease) } : {}),
  };
}

function allocationTable(rows: Allocation[]): string {
  return table(rows, [
    { header: 'ID', value: (a) => a.id },
    { header: 'REQUEST', value: (a) => a.requestId },
    { header: 'HOST', value: (a) => a.hostId },
    { header: 'TECHNOLOGY', value: (a) => a.technology },
    { header: 'STATUS', value: (a) => a.status },
    { header: 'GUARANTEE', value: (a) => a.guarantee },
    { header: 'SCORE', value: (a) => a.score.toFixed(3) },
    { header: 'EXPIRES', value: (a) => a.expiresAt },
  ]);
}

function showRequest(r: AllocationRequest): string {
  const wants = r.spec.resources.map((w) => `${w.type} ${humanAmount(w.amount, w.unit)}`).join(', ');
  return `${details([['request', r.id], ['status', r.status], ['group', r.groupId], ['mode', r.mode], ['guarantee', r.guarantee], ['resources', wants], ['technologies', r.spec.technologies], ['replicas', r.spec.replicas], ['anti-affinity', r.spec.antiAffinity], ['lease', r.leaseSeconds == null ? null : `${r.leaseSeconds} s`], ['requested by', r.requestedBy], ['decided by', r.decidedBy], ['reason', r.reason]])}\nAllocations:\n${allocationTable(r.allocations)}`;
}

function showAllocation(a: Allocation): string {
  return details([['allocation', a.id], ['status', a.status], ['request', a.requestId], ['group', a.groupId], ['host', a.hostId], ['technology', a.technology], ['guarantee', a.guarantee], ['score', a.score.toFixed(3)], ['expires', a.expiresAt], ['ended', a.endedAt], ['created', a.createdAt]]);
}

/** `rsp alloc request|candidates|approve|reject|renew|release|list|requests|show`: placement. */
export function registerAlloc(program: Command): void {
  const alloc = program.command('alloc').description('allocations: capacity placed on hosts for a group (placement, approval, leases)');

  requestOptions(
    alloc
      .command('request')
      .description('ask for capacity: placed at once (AUTOMATIC, DIRECT) or left for a site admin (APPROVAL); --file places many at once')
      .option('--file <json>', 'a JSON array of AllocationRequestInput objects, placed with allocateMany'),
  ).action(async (opts: RequestOptions & { file?: string }, cmd: Command) => {
    const ctx = contextOf(cmd);
    if (opts.file) {
      const requests = parsedOption('--file', opts.file, (f) => {
        const parsed = JSON.parse(readFileSync(f, 'utf8')) as unknown;
        if (!Array.isArray(parsed)) throw new Error('expected a JSON array of requests');
        return parsed;
      });
      const { allocateMany } = await ctx.client.request(AllocateManyDocument, { requests: requests as AllocationRequestInput[] });
      emit(ctx.json, allocateMany, () =>
        table(allocateMany, [
          { header: '#', value: (r) => r.index },
          { header: 'REQUEST', value: (r) => r.request?.id },
          { header: 'STATUS', value: (r) => r.request?.status ?? 'ERROR' },
          { header: 'HOSTS', value: (r) => r.request?.allocations.map((a) => a.hostId) },
          { header: 'ERROR', value: (r) => (r.error ? `${r.error.message} [${r.error.code}]` : null) },
        ]),
      );
      if (allocateMany.some((r) => r.error)) process.exitCode = ExitCode.FAILURE;
      return;
    }
    const { allocate } = await ctx.client.request(AllocateDocument, { request: await requestInput(ctx, opts) });
    emit(ctx.json, allocate, () => showRequest(allocate));
  });

  requestOptions(alloc.command('candidates').description('dry run: the hosts that could take the request, best first, and why each other host was rejected')).action(async (opts: RequestOptions, cmd: Command) => {
    const ctx = contextOf(cmd);
    const { placementCandidates: p } = await ctx.client.request(PlacementCandidatesDocument, { request: await requestInput(ctx, opts) });
    emit(ctx.json, p, () =>
      [
        'Candidates (best first):',
        table(
          p.candidates.map((c, i) => ({ ...c, rank: i + 1 })),
          [
            { header: 'RANK', value: (c) => c.rank },
            { header: 'HOST', value: (c) => c.hostId },
            { header: 'HOSTNAME', value: (c) => c.hostname },
            { header: 'SITE', value: (c) => c.siteId },
            { header: 'TECHNOLOGY', value: (c) => c.technology },
            { header: 'SCORE', value: (c) => c.score.toFixed(3) },
          ],
        ),
        'Rejected:',
        table(p.rejected, [
          { header: 'HOST', value: (r) => r.hostId },
          { header: 'HOSTNAME', value: (r) => r.hostname },
          { header: 'FILTER', value: (r) => r.filter },
          { header: 'REASON', value: (r) => r.reason },
        ]),
      ].join('\n'),
    );
  });

  alloc
    .command('approve <request-id>')
    .description('approve a PENDING request (site admins), on the hosts named or where the scheduler chooses')
    .option('--host <id...>', 'the hosts, one per replica')
    .option('--reason <text>', 'why')
    .action(async (id: string, opts: { host?: string[]; reason?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { approveAllocation: r } = await ctx.client.request(AllocationApproveDocument, { id, hostIds: opts.host ?? null, reason: opts.reason ?? null });
      emit(ctx.json, r, () => showRequest(r));
    });

  alloc
    .command('reject <request-id>')
    .description('reject a PENDING request (site admins), saying why')
    .requiredOption('--reason <text>', 'why')
    .action(async (id: string, opts: { reason: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { rejectAllocation: r } = await ctx.client.request(AllocationRejectDocument, { id, reason: opts.reason });
      emit(ctx.json, r, () => showRequest(r));
    });

  alloc
    .command('renew <allocation-id>')
    .description("extend an allocation's lease from now")
    .option('--lease <seconds>', "lease length (default: the request's)")
    .action(async (id: string, opts: { lease?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { renewAllocation: a } = await ctx.client.request(AllocationRenewDocument, { id, leaseSeconds: intOption('--lease', opts.lease) ?? null });
      emit(ctx.json, a, () => `Renewed allocation ${a.id} until ${a.expiresAt ?? '-'}\n`);
    });

  alloc
    .command('release <allocation-id>')
    .description('release an allocation: its capacity goes back')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { releaseAllocation: a } = await ctx.client.request(AllocationReleaseDocument, { id });
      emit(ctx.json, a, () => `Released allocation ${a.id} on host ${a.hostId}\n`);
    });

  alloc
    .command('list')
    .description('list allocations, newest first')
    .option('--group <id>', 'only of this group')
    .option('--host <id>', 'only on this host')
    .option('--request <id>', 'only of this request')
    .option('--status <s>', 'ACTIVE, RELEASED or EXPIRED')
    .option('--limit <n>', 'at most this many', '50')
    .action(async (opts: { group?: string; host?: string; request?: string; status?: string; limit: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { allocations } = await ctx.client.request(AllocationListDocument, { first: intOption('--limit', opts.limit)!, groupId: opts.group ?? null, hostId: opts.host ?? null, requestId: opts.request ?? null, status: enumOption<AllocationStatus>(opts.status) });
      emit(ctx.json, allocations.nodes, () => allocationTable(allocations.nodes));
    });

  alloc
    .command('requests')
    .description('list allocation requests (site admins see every group\'s; PENDING ones wait for them)')
    .option('--group <id>', 'only of this group')
    .option('--status <s>', 'PENDING, PLACED or REJECTED')
    .option('--decide', 'only the PENDING ones you may decide (site admins: all; host admins: those for their hosts)')
    .option('--limit <n>', 'at most this many', '50')
    .action(async (opts: { group?: string; status?: string; decide?: boolean; limit: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const first = intOption('--limit', opts.limit)!;
      if (opts.decide && (opts.group || opts.status)) throw new CliError('--decide lists PENDING requests of any group: leave out --group and --status', 'BAD_USAGE', ExitCode.BAD_USAGE);
      const { allocationRequests } = opts.decide
        ? { allocationRequests: (await ctx.client.request(ApprovalRequestListDocument, { first })).approvalRequests }
        : await ctx.client.request(AllocationRequestListDocument, { first, groupId: opts.group ?? null, status: enumOption<AllocationRequestStatus>(opts.status) });
      emit(ctx.json, allocationRequests.nodes, () =>
        table(allocationRequests.nodes, [
          { header: 'ID', value: (r) => r.id },
          { header: 'GROUP', value: (r) => r.groupId },
          { header: 'STATUS', value: (r) => r.status },
          { header: 'MODE', value: (r) => r.mode },
          { header: 'RESOURCES', value: (r) => r.spec.resources.map((w) => `${w.type} ${humanAmount(w.amount, w.unit)}`).join(', ') },
          { header: 'REPLICAS', value: (r) => r.spec.replicas },
          { header: 'PLACED ON', value: (r) => r.allocations.map((a) => a.hostId) },
          { header: 'REASON', value: (r) => r.reason },
        ]),
      );
    });

  alloc
    .command('show <id>')
    .description('show an allocation request (with its allocations) or an allocation')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      try {
        const { allocationRequest: r } = await ctx.client.request(AllocationRequestShowDocument, { id });
        emit(ctx.json, r, () => showRequest(r));
      } catch (e) {
        if (!(e instanceof CliError) || e.code !== 'NOT_FOUND') throw e;
        const { allocation: a } = await ctx.client.request(AllocationShowDocument, { id });
        emit(ctx.json, a, () => showAllocation(a));
      }
    });
}
