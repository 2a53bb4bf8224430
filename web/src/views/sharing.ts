import { GraphQLRequestError, request } from '../api/graphql';
import {
  HostChoiceFieldsFragment,
  Need,
  NeedGrantDocument,
  NeedPublishDocument,
  NeedWithdrawDocument,
  Offer,
  OfferAcceptDocument,
  OfferPublishDocument,
  OfferWithdrawDocument,
  ShareFieldsFragment,
  ShareGrantDocument,
  ShareKind,
  ShareRevokeDocument,
  SharingDocument,
} from '../api/queries';
import { h, Kept } from '../ui/dom';
import { amount, shortId } from '../ui/format';
import { field, formOutput, input, runAction, select } from '../ui/form';
import { chip, loading, panel, table } from '../ui/widgets';
import { groupOptions } from './allocations';
import { AMOUNT_UNITS, typedAmount, typedList } from './amounts';
import { groupName, loadInto, reloadOnEvents } from './common';
import { left } from './groups';
import type { View, ViewContext } from './context';

/** A host as offered in choices. */
type HostChoice = HostChoiceFieldsFragment;
/** A share as listed. */
type Share = ShareFieldsFragment;

/** What the page's forms and tables need to name things. */
interface Names {
  ctx: ViewContext;
  hosts: HostChoice[];
  changed: () => void;
  /** Row controls and outputs kept across reloads (a choice made in a row, an error shown, survive a live reload). */
  kept: Kept;
}

/** A host's name (its id's start when the caller may not see it). */
function hostName(hosts: HostChoice[], id: string | null | undefined): string {
  if (!id) return 'any of its hosts';
  return hosts.find((x) => x.id === id)?.hostname ?? shortId(id);
}

/** A share's quotas in words. */
function quotaText(s: Share): string {
  const entries = Object.entries(s.quotas);
  if (!entries.length) return '—';
  return entries.map(([type, v]) => `${type} ${typeof v === 'number' ? amount(v, AMOUNT_UNITS[type]?.unit ?? 'COUNT') : String(v)}`).join(', ');
}

/** A button that runs `action` (its errors shown in `out` with their code) and reloads the page's data when it succeeds. */
function actionButton(label: string, accessibleName: string, out: HTMLElement, names: Names, action: () => Promise<unknown>, tone = 'secondary'): HTMLButtonElement {
  const button = h('button', { type: 'button', class: tone, 'aria-label': accessibleName }, label);
  button.addEventListener('click', () =>
    void runAction(button, out, async () => {
      await action();
      names.changed();
    }),
  );
  return button;
}

/** The shares of every host with a Revoke button each, then `form`. */
function sharesPanel(shares: Share[], names: Names, form: HTMLElement): HTMLElement {
  const { ctx, hosts } = names;
  const out = names.kept.get('shares output', formOutput);
  const rows = shares.map((s) => {
    const label = `${groupName(ctx.groupNames, s.groupId)} on ${hostName(hosts, s.hostId)}`;
    return [hostName(hosts, s.hostId), groupName(ctx.groupNames, s.groupId), s.kind.toLowerCase(), quotaText(s), String(s.cpuWeight), actionButton('Revoke', `Revoke share of ${label}`, out, names, () => request(ShareRevokeDocument, { id: s.id }))];
  });
  return panel('Shares', h('p', { class: 'muted small' }, 'A share is a group’s slice of a host: it sets the group’s quota there. Site admins and the admins of the host’s owner group grant and revoke them.'), table(['Host', 'Group', 'Kind', 'Quotas', 'CPU weight', ''], rows, 'No shares yet: grant one below.'), out, form);
}

/** The form granting a share of a host to a group. */
function grantForm(names: Names): HTMLElement {
  const { ctx, hosts } = names;
  const host = select('host', hosts.map((x): [string, string] => [x.id, x.hostname]));
  const group = select('group', [...ctx.groupNames].map(([id, name]): [string, string] => [id, name]));
  const kind = select('kind', [['HALF', 'Half (half RAM/disk/bandwidth, half CPU weight)'], ['FULL', 'Full'], ['CUSTOM', 'Custom (quotas below)']], 'HALF');
  const weight = input('cpuWeight', { type: 'number', min: 1, max: 10000, step: 1, placeholder: '100' });
  const quotas = input('quotas', { type: 'text', autocomplete: 'off', placeholder: '{"RAM": 8589934592}' });
  const grant = h('button', { type: 'submit', class: 'primary' }, 'Grant share');
  const grantOut = formOutput();
  return h(
    'form',
    {
      class: 'form',
      'aria-label': 'Grant a share',
      onsubmit: (event: Event) => {
        event.preventDefault();
        void runAction(grant, grantOut, async () => {
          const custom = kind.value === 'CUSTOM';
          let parsed: Record<string, unknown> | undefined;
          if (custom && quotas.value.trim()) {
            try {
              parsed = JSON.parse(quotas.value) as Record<string, unknown>;
            } catch {
              throw new GraphQLRequestError('Quotas must be a JSON object of resource type → amount in its unit', 'BAD_USER_INPUT');
            }
          }
          await request(ShareGrantDocument, { input: { hostId: host.value, groupId: group.value, kind: kind.value as ShareKind, ...(custom && weight.value ? { cpuWeight: Number(weight.value) } : {}), ...(parsed ? { quotas: parsed } : {}) } });
          names.changed();
        });
      },
    },
    h('h3', null, 'Grant a share'),
    h('div', { class: 'form-grid' }, field('Host', host), field('To group', group), field('Kind', kind), field('CPU weight', weight, 'Custom only: 1–10000, 100 is a full share'), field('Quotas (JSON)', quotas, 'Custom only: resource type → amount in its unit')),
    h('div', { class: 'actions' }, grant),
    grantOut,
  );
}

/** The fields of a resource amount: its type and how much, in the unit people think in. */
function amountFields(): { type: HTMLSelectElement; value: HTMLInputElement; fields: HTMLElement[] } {
  const type = select('resourceType', Object.entries(AMOUNT_UNITS).map(([t, u]): [string, string] => [t, `${t} (${u.label})`]), 'RAM');
  const value = input('amount', { type: 'number', min: 0, step: 'any', required: true, inputmode: 'decimal' });
  return { type, value, fields: [field('Resource', type), field('Amount', value, 'In the unit next to the resource')] };
}

/** Open offers (accept others', withdraw the caller's), then `form`. */
function offersPanel(offers: Offer[], needs: Need[], names: Names, form: HTMLElement): HTMLElement {
  const { ctx, hosts } = names;
  const out = names.kept.get('offers output', formOutput);
  const rows = offers.map((o) => {
    const who = `${groupName(ctx.groupNames, o.groupId)}’s ${o.resourceType} offer (${shortId(o.id)})`;
    const mine = o.groupId === ctx.viewer.groupId;
    const choices: Array<[string, string]> = [['', 'No need: for my group'], ...needs.filter((n) => n.resourceType === o.resourceType && n.groupId !== o.groupId).map((n): [string, string] => [n.id, `${groupName(ctx.groupNames, n.groupId)}: ${left(n)}`])];
    const make = () => {
      if (mine) return actionButton('Withdraw', `Withdraw ${who}`, out, names, () => request(OfferWithdrawDocument, { id: o.id }));
      const forNeed = select('need', choices, '', { 'aria-label': `Need covered by ${who}` });
      return h('div', { class: 'actions' }, forNeed, actionButton('Accept', `Accept ${who}`, out, names, () => request(OfferAcceptDocument, { input: { offerId: o.id, ...(forNeed.value ? { needId: forNeed.value } : {}) } }), 'primary'));
    };
    const actions = names.kept.get(`offer ${o.id} ${JSON.stringify(choices)}`, make);
    return [groupName(ctx.groupNames, o.groupId), hostName(hosts, o.hostId), o.resourceType, left(o), o.technologies.length ? o.technologies.map(chip) : 'what its host runs', o.terms || '—', actions];
  });
  return panel('Offers', table(['Group', 'Host', 'Resource', 'Left', 'Technologies', 'Terms', ''], rows, 'No open offers: publish one below.'), out, form);
}

/** The form publishing an offer of a group. */
function offerForm(names: Names): HTMLElement {
  const { ctx, hosts } = names;
  const group = select('group', groupOptions(ctx), ctx.viewer.groupId ?? undefined);
  const host = select('host', [['', 'Any host of the group that can take it'], ...hosts.map((x): [string, string] => [x.id, x.hostname])], '');
  const { type, value, fields } = amountFields();
  const technologies = input('technologies', { type: 'text', autocomplete: 'off', placeholder: 'docker, lxc' });
  const terms = input('terms', { type: 'text', autocomplete: 'off' });
  const publish = h('button', { type: 'submit', class: 'primary' }, 'Publish offer');
  const publishOut = formOutput();
  return h(
    'form',
    {
      class: 'form',
      'aria-label': 'Publish an offer',
      onsubmit: (event: Event) => {
        event.preventDefault();
        void runAction(publish, publishOut, async () => {
          const techs = typedList(technologies.value);
          await request(OfferPublishDocument, { input: { groupId: group.value, resourceType: type.value, ...typedAmount(type.value, value.value), ...(host.value ? { hostId: host.value } : {}), ...(techs.length ? { technologies: techs } : {}), ...(terms.value.trim() ? { terms: terms.value.trim() } : {}) } });
          names.changed();
        });
      },
    },
    h('h3', null, 'Publish an offer'),
    h('div', { class: 'form-grid' }, field('Group', group), field('On host', host), ...fields, field('Technologies', technologies, 'Comma-separated, each run by the host; empty: what it runs'), field('Terms', terms)),
    h('div', { class: 'actions' }, publish),
    publishOut,
  );
}

/** Open needs (grant others' from a host, withdraw the caller's), then `form`. */
function needsPanel(needs: Need[], names: Names, form: HTMLElement): HTMLElement {
  const { ctx, hosts } = names;
  const out = names.kept.get('needs output', formOutput);
  const rows = needs.map((n) => {
    const who = `${groupName(ctx.groupNames, n.groupId)}’s ${n.resourceType} need (${shortId(n.id)})`;
    const mine = n.groupId === ctx.viewer.groupId;
    const choices: Array<[string, string]> = [['', 'My group’s first host that can'], ...hosts.filter((x) => ctx.viewer.siteAdmin || x.ownerGroupId === ctx.viewer.groupId).map((x): [string, string] => [x.id, x.hostname])];
    const make = () => {
      if (mine) return actionButton('Withdraw', `Withdraw ${who}`, out, names, () => request(NeedWithdrawDocument, { id: n.id }));
      const from = select('from', choices, '', { 'aria-label': `Host granting ${who}` });
      return h('div', { class: 'actions' }, from, actionButton('Grant', `Grant ${who}`, out, names, () => request(NeedGrantDocument, { input: { needId: n.id, ...(from.value ? { hostId: from.value } : {}) } }), 'primary'));
    };
    const actions = names.kept.get(`need ${n.id} ${JSON.stringify(choices)}`, make);
    return [groupName(ctx.groupNames, n.groupId), n.resourceType, left(n), n.technologies.length ? n.technologies.map(chip) : 'any', n.description || '—', actions];
  });
  return panel('Needs', table(['Group', 'Resource', 'Still asked', 'Technologies', 'Why', ''], rows, 'No open needs: publish one below.'), out, form);
}

/** The form publishing a need of a group. */
function needForm(names: Names): HTMLElement {
  const { ctx } = names;
  const group = select('group', groupOptions(ctx), ctx.viewer.groupId ?? undefined);
  const { type, value, fields } = amountFields();
  const technologies = input('technologies', { type: 'text', autocomplete: 'off', placeholder: 'lxc, docker' });
  const description = input('description', { type: 'text', autocomplete: 'off' });
  const publish = h('button', { type: 'submit', class: 'primary' }, 'Publish need');
  const publishOut = formOutput();
  return h(
    'form',
    {
      class: 'form',
      'aria-label': 'Publish a need',
      onsubmit: (event: Event) => {
        event.preventDefault();
        void runAction(publish, publishOut, async () => {
          const techs = typedList(technologies.value);
          await request(NeedPublishDocument, { input: { groupId: group.value, resourceType: type.value, ...typedAmount(type.value, value.value), ...(techs.length ? { technologies: techs } : {}), ...(description.value.trim() ? { description: description.value.trim() } : {}) } });
          names.changed();
        });
      },
    },
    h('h3', null, 'Publish a need'),
    h('div', { class: 'form-grid' }, field('Group', group), ...fields, field('Technologies', technologies, 'Acceptable ones in order, comma-separated; empty: any'), field('Why', description)),
    h('div', { class: 'actions' }, publish),
    publishOut,
  );
}

/**
 * `/sharing`: shares (grant, revoke), open offers (publish, accept, withdraw) and open needs
 * (publish, grant, withdraw); the API decides who may, and its refusals show with their code.
 */
export const sharingView: View = (ctx) => {
  const body = h('div', null, loading());
  let forms: { grant: HTMLElement; offer: HTMLElement; need: HTMLElement } | undefined;
  const kept = new Kept();
  const reload = loadInto(ctx.scope, body, () => request(SharingDocument, {}), (d) => {
    kept.sweep();
    const names: Names = { ctx, hosts: d.hosts.nodes, changed: () => reload(), kept };
    // The forms are made once, so that a reload (after an action, or live) keeps what is typed in them.
    forms ??= { grant: grantForm(names), offer: offerForm(names), need: needForm(names) };
    return [sharesPanel(d.shares, names, forms.grant), offersPanel(d.offers, d.needs, names, forms.offer), needsPanel(d.needs, names, forms.need)];
  });
  reloadOnEvents(ctx.scope, ['EXCHANGE'], reload);
  return h('div', null, h('h1', null, 'Sharing'), h('p', { class: 'muted' }, 'Shares of hosts, and the capacity groups offer and need.'), body);
};
