import type { Command } from 'commander';
import {
  ExchangeFieldsFragment,
  type ExchangeStatus,
  NeedFieldsFragment,
  NeedGrantDocument,
  NeedListDocument,
  NeedPublishDocument,
  NeedWithdrawDocument,
  OfferAcceptDocument,
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
    { header: 'LEFT', value: (n) => humanAmount(n.remaining, n.unit) },
    { header: 'STATUS', value: (n) => n.status },
    { header: 'TECHNOLOGIES', value: (n) => n.technologies },
    { header: 'DESCRIPTION', value: (n) => n.description },
  ]);
}

/** What `rsp offer accept` and `rsp need grant` print: the share made and what is left. */
function exchangeText(verb: string, e: ExchangeFieldsFragment): string {
  const unit = e.offer?.unit ?? e.need?.unit ?? 'COUNT';
  const lines = [`${verb}: ${humanAmount(e.amount, unit)} on host ${e.hostId} → share ${e.share.id} of group ${e.share.groupId} (quotas ${JSON.stringify(e.share.quotas)})`];
  if (e.offer) lines.push(`offer ${e.offer.id}: ${humanAmount(e.offer.remaining, e.offer.unit)} left, ${e.offer.status}`);
  if (e.need) lines.push(`need ${e.need.id}: ${humanAmount(e.need.remaining, e.need.unit)} still asked, ${e.need.status}`);
  return `${lines.join('\n')}\n`;
}

/** The `--open` filter of `list`. */
function statusOf(open: boolean | undefined): ExchangeStatus | null {
  return open ? 'OPEN' : null;
}

/** `rsp offer publish|list|accept|withdraw` and `rsp need publish|list|grant|withdraw|satisfiable`. */
export function registerOffer(program: Command): void {
  const offer = program.command('offer').description('capacity groups offer to others');

  offer
    .command('publish <type> <amount>')
    .description('offer capacity, e.g. "rsp offer publish RAM 16GiB --terms \'non-profits only\'"')
    .option('--unit <unit>', 'CORES, MHZ, BYTES, BITS_PER_SECOND or COUNT (default: from the type)')
    .option('--group <id>', "the group (default: your token's group)")
    .option('--host <id>', 'on this host')
    .option('--technology <list>', 'for these technologies (each must run on the host), comma-separated')
    .option('--terms <text>', 'the terms')
    .action(async (type: string, amount: string, opts: { unit?: string; group?: string; host?: string; technology?: string; terms?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const input = {
        groupId: await groupOf(ctx, opts.group),
        ...amountOf(type, amount, opts.unit),
        ...(opts.host ? { hostId: opts.host } : {}),
        ...(opts.technology ? { technologies: opts.technology.split(',') } : {}),
        ...(opts.terms ? { terms: opts.terms } : {}),
      };
      const { publishOffer: o } = await ctx.client.request(OfferPublishDocument, { input });
      emit(ctx.json, o, () => `Published offer ${o.id}: ${o.resourceType} ${humanAmount(o.amount, o.unit)}\n`);
    });

  offer
    .command('list')
    .description('list offers')
    .option('--group <id>', 'only of this group')
    .option('--open', 'only those with something left')
    .action(async (opts: { group?: string; open?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { offers } = await ctx.client.request(OfferListDocument, { groupId: opts.group ?? null, status: statusOf(opts.open) });
      emit(ctx.json, offers, () =>
        table(offers, [
          { header: 'ID', value: (o) => o.id },
          { header: 'GROUP', value: (o) => o.groupId },
          { header: 'TYPE', value: (o) => o.resourceType },
          { header: 'AMOUNT', value: (o) => humanAmount(o.amount, o.unit) },
          { header: 'LEFT', value: (o) => humanAmount(o.remaining, o.unit) },
          { header: 'STATUS', value: (o) => o.status },
          { header: 'HOST', value: (o) => o.hostId },
          { header: 'TECHNOLOGIES', value: (o) => o.technologies },
          { header: 'TERMS', value: (o) => o.terms },
        ]),
      );
    });

  offer
    .command('accept <id>')
    .description("accept another group's offer (group admins): it becomes your group's share of its host")
    .option('--need <id>', "the need it covers (closed once covered); your group's by default")
    .option('--amount <amount>', 'how much of it (default: what the need asks, or all that is left), e.g. 4GiB')
    .action(async (id: string, opts: { need?: string; amount?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      let amount: number | undefined;
      if (opts.amount) {
        const { offers } = await ctx.client.request(OfferListDocument, { groupId: null, status: null });
        const unit = offers.find((o) => o.id === id)?.unit ?? 'COUNT';
        amount = parsedOption('--amount', opts.amount, (a) => parseAmount(a, unit));
      }
      const { acceptOffer: e } = await ctx.client.request(OfferAcceptDocument, { input: { offerId: id, ...(opts.need ? { needId: opts.need } : {}), ...(amount !== undefined ? { amount } : {}) } });
      emit(ctx.json, e, () => exchangeText(`Accepted offer ${id}`, e));
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
    .option('--open', 'only those still asking')
    .action(async (opts: { group?: string; open?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { needs } = await ctx.client.request(NeedListDocument, { groupId: opts.group ?? null, status: statusOf(opts.open) });
      emit(ctx.json, needs, () => needTable(needs));
    });

  need
    .command('grant <id>')
    .description("grant another group's need from one of your group's hosts (its admins): all it asks becomes that group's share there")
    .option('--host <id>', "from this host (default: the first of your group's hosts that can)")
    .action(async (id: string, opts: { host?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { grantNeed: e } = await ctx.client.request(NeedGrantDocument, { input: { needId: id, ...(opts.host ? { hostId: opts.host } : {}) } });
      emit(ctx.json, e, () => exchangeText(`Granted need ${id}`, e));
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
