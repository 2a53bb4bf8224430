import type { Command } from 'commander';
import { defaultUnitOf, emit, humanAmount, parseAmount, table } from '../output';
import { contextOf, groupOf, parsedOption } from './context';

interface Offer {
  id: string;
  groupId: string;
  hostId: string | null;
  resourceType: string;
  unit: string;
  amount: number;
  terms: string;
}
const OFFER_FIELDS = 'id groupId hostId resourceType unit amount terms';

interface Need {
  id: string;
  groupId: string;
  resourceType: string;
  unit: string;
  amount: number;
  technologies: string[];
  description: string;
}
const NEED_FIELDS = 'id groupId resourceType unit amount technologies description';

/** The type, unit and amount of `rsp offer|need publish <type> <amount> [--unit]`. */
function amountOf(type: string, amount: string, unit: string | undefined): { resourceType: string; unit: string; amount: number } {
  const resourceType = type.toUpperCase();
  const u = (unit ?? defaultUnitOf(resourceType)).toUpperCase();
  return { resourceType, unit: u, amount: parsedOption('<amount>', amount, (a) => parseAmount(a, u)) };
}

function needTable(needs: Need[]): string {
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
      const { publishOffer: o } = await ctx.client.request<{ publishOffer: Offer }>(`mutation ($i: PublishOfferInput!) { publishOffer(input: $i) { ${OFFER_FIELDS} } }`, { i: input });
      emit(ctx.json, o, () => `Published offer ${o.id}: ${o.resourceType} ${humanAmount(o.amount, o.unit)}\n`);
    });

  offer
    .command('list')
    .description('list offers')
    .option('--group <id>', 'only of this group')
    .action(async (opts: { group?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { offers } = await ctx.client.request<{ offers: Offer[] }>(`query ($g: ID) { offers(groupId: $g) { ${OFFER_FIELDS} } }`, { g: opts.group ?? null });
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
      await ctx.client.request('mutation ($id: ID!) { withdrawOffer(id: $id) }', { id });
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
      const { publishNeed: n } = await ctx.client.request<{ publishNeed: Need }>(`mutation ($i: PublishNeedInput!) { publishNeed(input: $i) { ${NEED_FIELDS} } }`, { i: input });
      emit(ctx.json, n, () => `Published need ${n.id}: ${n.resourceType} ${humanAmount(n.amount, n.unit)}\n`);
    });

  need
    .command('list')
    .description('list needs')
    .option('--group <id>', 'only of this group')
    .action(async (opts: { group?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { needs } = await ctx.client.request<{ needs: Need[] }>(`query ($g: ID) { needs(groupId: $g) { ${NEED_FIELDS} } }`, { g: opts.group ?? null });
      emit(ctx.json, needs, () => needTable(needs));
    });

  need
    .command('withdraw <id>')
    .description('withdraw a need')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      await ctx.client.request('mutation ($id: ID!) { withdrawNeed(id: $id) }', { id });
      emit(ctx.json, { id, withdrawn: true }, () => `Withdrew need ${id}\n`);
    });

  need
    .command('satisfiable')
    .description("needs that other groups' current offers can cover, with those offers")
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { satisfiableNeeds } = await ctx.client.request<{ satisfiableNeeds: Array<{ need: Need; offers: Offer[]; offered: number }> }>(`{ satisfiableNeeds { need { ${NEED_FIELDS} } offers { ${OFFER_FIELDS} } offered } }`);
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
