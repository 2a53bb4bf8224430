import type { Command } from 'commander';
import {
  NeedFieldsFragment,
  NeedListDocument,
  NeedPublishDocument,
  NeedWithdrawDocument,
  OfferListDocument,
  OfferPublishDocument,
  OfferWithdrawDocument,
  ResourceUnit,
  SatisfiableNeedsDocument,
} from '../../../client/generated/graphql';
import { defaultUnitOf, emit, humanAmount, parseAmount, table } from '../output';
import { contextOf, enumOption, groupOf, parsedOption } from './context';

/** The type, unit and amount of `rsp offer|need publish <type> <amount> [--unit]`. */
function amountOf(type: string, amount: string, unit: string | undefined): { resourceType: string; unit: ResourceUnit; amount: number } {
  const resourceType = type.toUpperCase();
  const u = enumOption<ResourceUnit>(unit ?? defaultUnitOf(resourceType))!;
  return { resourceType, unit: u, amount: parsedOption('<amount>', amount, (a) => parseAmount(a, u)) };
}

function needTable(needs: NeedFieldsFragment[]): string {
  return table(needs, [
    { header: 'ID', value: (n) => n.id },
    { header: 'GROUP', value: (n) => n.groupId },
    { header: 'TYPE', value: (n) => n.resourceType },
    { header: 'AMOUNT', value: (n) => humanAmount(n.amount, n.unit) },
    { header: 'TECHNOLOGIES', value: (n) => n.technologies },
    { header: 'DESCRIPTION', value: (n) => n.description },
  ]);
}

/** `rsp offer publish|list|withdraw` and `rsp need publish|list|withdraw|satisfiable`. */
export function registerOffer(program: Command): void {
  const offer = program.command('offer').description('capacity groups offer to others');

  offer
    .command('publish <type> <amount>')
    .description('offer capacity, e.g. "rsp offer publish RAM 16GiB --terms \'non-profits only\'"')
    .option('--unit <unit>', 'CORES, MHZ, BYTES, BITS_PER_SECOND or COUNT (default: from the type)')
    .option('--group <id>', "the group (default: your token's group)")
    .option('--host <id>', 'on this host')
    .option('--terms <text>', 'the terms')
    .action(async (type: string, amount: string, opts: { unit?: string; group?: string; host?: string; terms?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const input = { groupId: await groupOf(ctx, opts.group), ...amountOf(type, amount, opts.unit), ...(opts.host ? { hostId: opts.host } : {}), ...(opts.terms ? { terms: opts.terms } : {}) };
      const { publishOffer: o } = await ctx.client.request(OfferPublishDocument, { input });
      emit(ctx.json, o, () => `Published offer ${o.id}: ${o.resourceType} ${humanAmount(o.amount, o.unit)}\n`);
    });

  offer
    .command('list')
    .description('list offers')
    .option('--group <id>', 'only of this group')
    .action(async (opts: { group?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { offers } = await ctx.client.request(OfferListDocument, { groupId: opts.group ?? null });
      emit(ctx.json, offers, () =>
        table(offers, [
          { header: 'ID', value: (o) => o.id },
          { header: 'GROUP', value: (o) => o.groupId },
          { header: 'TYPE', value: (o) => o.resourceType },
          { header: 'AMOUNT', value: (o) => humanAmount(o.amount, o.unit) },
          { header: 'HOST', value: (o) => o.hostId },
          { header: 'TERMS', value: (o) => o.terms },
        ]),
      );
    });

  offer
    .command('withdraw <id>')
    .description('withdraw an offer')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      await ctx.client.request(OfferWithdrawDocument, { id });
      emit(ctx.json, { id, withdrawn: true }, () => `Withdrew offer ${id}\n`);
    });

  const need = program.command('need').description('capacity groups ask for');

  need
    .command('publish <type> <amount>')
    .description('ask for capacity, e.g. "rsp need publish CPU 4 --technology lxc,docker"')
    .option('--unit <unit>', 'CORES, MHZ, BYTES, BITS_PER_SECOND or COUNT (default: from the type)')
    .option('--group <id>', "the group (default: your token's group)")
    .option('--technology <list>', 'acceptable technologies in order, comma-separated')
    .option('--description <text>', 'what it is for')
    .action(async (type: string, amount: string, opts: { unit?: string; group?: string; technology?: string; description?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const input = { groupId: await groupOf(ctx, opts.group), ...amountOf(type, amount, opts.unit), ...(opts.technology ? { technologies: opts.technology.split(',') } : {}), ...(opts.description ? { description: opts.description } : {}) };
      const { publishNeed: n } = await ctx.client.request(NeedPublishDocument, { input });
      emit(ctx.json, n, () => `Published need ${n.id}: ${n.resourceType} ${humanAmount(n.amount, n.unit)}\n`);
    });

  need
    .command('list')
    .description('list needs')
    .option('--group <id>', 'only of this group')
    .action(async (opts: { group?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { needs } = await ctx.client.request(NeedListDocument, { groupId: opts.group ?? null });
      emit(ctx.json, needs, () => needTable(needs));
    });

  need
    .command('withdraw <id>')
    .description('withdraw a need')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      await ctx.client.request(NeedWithdrawDocument, { id });
      emit(ctx.json, { id, withdrawn: true }, () => `Withdrew need ${id}\n`);
    });

  need
    .command('satisfiable')
    .description("needs that other groups' current offers can cover, with those offers")
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { satisfiableNeeds } = await ctx.client.request(SatisfiableNeedsDocument);
      emit(ctx.json, satisfiableNeeds, () =>
        table(satisfiableNeeds, [
          { header: 'NEED', value: (s) => s.need.id },
          { header: 'GROUP', value: (s) => s.need.groupId },
          { header: 'TYPE', value: (s) => s.need.resourceType },
          { header: 'NEEDED', value: (s) => humanAmount(s.need.amount, s.need.unit) },
          { header: 'OFFERED', value: (s) => humanAmount(s.offered, s.need.unit) },
          { header: 'OFFERS', value: (s) => s.offers.map((o) => o.id) },
        ]),
      );
    });
}
