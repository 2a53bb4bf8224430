import { request } from '../api/graphql';
import { GroupsDocument } from '../api/queries';
import { h } from '../ui/dom';
import { sortBy } from '../ui/data-table';
import { amount } from '../ui/format';
import { chip, loading, table } from '../ui/widgets';
import { loadInto } from './common';
import type { View } from './context';

/** What is left of an offer or need, and of how much when part of it was taken. */
export function left(x: { remaining: number; amount: number; unit: string }): string {
  return x.remaining < x.amount ? `${amount(x.remaining, x.unit)} of ${amount(x.amount, x.unit)}` : amount(x.amount, x.unit);
}

/** Scrolls to the element `id` on the page (without a navigation: the router follows the address bar). */
function jumpTo(event: Event, id: string): void {
  event.preventDefault();
  document.getElementById(id)?.scrollIntoView({ behavior: 'smooth', block: 'start' });
}

/** `/groups`: every group, what it hosts and needs, its labor, its open offers and needs. */
export const groupsView: View = ({ scope, viewer }) => {
  const body = h('div', null, loading());
  loadInto(scope, body, () => request(GroupsDocument, {}), (d) => [
    table(
      ['Group', 'Slug', 'Hosts with', 'Needs', 'Open offers', 'Open needs'],
      d.groups.nodes.map((g) => {
        const offers = d.offers.filter((o) => o.groupId === g.id && o.status === 'OPEN').length;
        const needs = d.needs.filter((n) => n.groupId === g.id && n.status === 'OPEN').length;
        return [h('a', { href: `#group-${g.slug}`, onclick: (e: Event) => jumpTo(e, `group-${g.slug}`) }, g.name), g.slug, g.techHosts.join(', ') || '—', g.noTechPreference ? 'any technology' : g.techNeeds.join(', ') || '—', sortBy(String(offers), offers), sortBy(String(needs), needs)];
      }),
      h('span', null, 'No groups yet. A site admin creates one with ', h('code', null, 'rsp group create <slug> "<name>"'), '.'),
      { label: 'groups' },
    ),
    h('div', { class: 'cards' }, d.groups.nodes.map((g) => {
      const offers = d.offers.filter((o) => o.groupId === g.id && o.status === 'OPEN');
      const needs = d.needs.filter((n) => n.groupId === g.id && n.status === 'OPEN');
      return h(
        'article',
        { class: `card${g.id === viewer.groupId ? ' card-mine' : ''}`, id: `group-${g.slug}`, dataset: { group: g.slug } },
        h('header', { class: 'card-head' }, h('h2', null, g.name), h('span', { class: 'muted' }, g.slug), g.id === viewer.groupId ? chip('your group') : null),
        g.description ? h('p', null, g.description) : null,
        h('dl', { class: 'facts' },
          h('dt', null, 'Hosts with'), h('dd', null, g.techHosts.length ? g.techHosts.map(chip) : '—'),
          h('dt', null, 'Needs'), h('dd', null, g.noTechPreference ? 'any technology' : g.techNeeds.length ? g.techNeeds.map(chip) : '—'),
          h('dt', null, 'Labor'), h('dd', null, g.labor.length ? g.labor.map((l) => `${l.people} × ${l.hoursPerWeek} h/week ${l.kind.toLowerCase()}`).join(', ') : '—'),
          h('dt', null, 'External backups'), h('dd', null, g.externalBackups ? 'yes' : 'no'),
          g.contact ? [h('dt', null, 'Contact'), h('dd', null, g.contact)] : null,
        ),
        h('h3', null, 'Offers'),
        table(['Resource', 'Left', 'Technologies', 'Terms'], offers.map((o) => [o.resourceType, sortBy(left(o), o.remaining), o.technologies.join(', ') || 'what its host runs', o.terms || '—']), h('span', null, 'No open offers. A group admin publishes one with ', h('code', null, 'rsp offer publish'), '.'), { label: `offers of ${g.name}` }),
        h('h3', null, 'Needs'),
        table(['Resource', 'Still asked', 'Technologies', 'Why'], needs.map((n) => [n.resourceType, sortBy(left(n), n.remaining), n.technologies.join(', ') || 'any', n.description || '—']), h('span', null, 'No open needs. A group admin publishes one with ', h('code', null, 'rsp need publish'), '.'), { label: `needs of ${g.name}` }),
      );
    })),
  ]);
  return h('div', null, h('h1', null, 'Groups'), body);
};
