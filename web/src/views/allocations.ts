import { request } from '../api/graphql';
import {
  AllocateDocument,
  AllocationApproveDocument,
  AllocationRejectDocument,
  AllocationRequestFieldsFragment,
  AllocationRequestInput,
  AllocationsDocument,
  HostChoiceFieldsFragment,
  PlacementCandidatesDocument,
  PlacementCandidatesQuery,
} from '../api/queries';
import { h, replace } from '../ui/dom';
import { ago, amount, num, shortId, when } from '../ui/format';
import { checkbox, field, formOutput, input, runAction, select } from '../ui/form';
import { badge, chip, loading, panel, table } from '../ui/widgets';
import { typedAmount, typedList } from './amounts';
import { groupName, loadInto, reloadOnEvents } from './common';
import type { View, ViewContext } from './context';

/** A request as listed. */
type AllocationRequest = AllocationRequestFieldsFragment;
/** A host as offered in choices. */
type HostChoice = HostChoiceFieldsFragment;
/** A dry run's answer. */
type Explanation = PlacementCandidatesQuery['placementCandidates'];

/** The groups a form may act for: all for site admins, the caller's own otherwise. */
export function groupOptions(ctx: ViewContext): Array<[string, string]> {
  if (ctx.viewer.siteAdmin) return [...ctx.groupNames].map(([id, name]) => [id, name]);
  return ctx.viewer.groupId ? [[ctx.viewer.groupId, groupName(ctx.groupNames, ctx.viewer.groupId)]] : [];
}

/** What a request asks for, in words. */
function asks(r: AllocationRequest): string {
  const wants = r.spec.resources.map((x) => `${amount(x.amount, x.unit)} ${x.type}`).join(', ');
  return `${wants}${r.spec.replicas > 1 ? ` × ${r.spec.replicas}` : ''}`;
}

/** A candidate's score in words: the technology preference and the fit under the site policy it adds up. */
function scoreReason(score: number, technology: string): string {
  const preference = Math.floor(score / 10);
  return `runs ${technology} (preference ${preference}), fit ${num(score - preference * 10)} under the site policy`;
}

/** The dry run's ranking: candidates best first (each with a box to ask for it) and the rejected hosts with the filter and reason. */
function candidatesTable(x: Explanation, picked: Set<string>): HTMLElement {
  const ranked = table(
    ['Rank', 'Host', 'Technology', 'Score', 'Why', 'Ask for it'],
    x.candidates.map((c, i) => {
      const { el, box } = checkbox('host', h('span', { class: 'visually-hidden' }, `Ask for ${c.hostname}`), { value: c.hostId, checked: picked.has(c.hostId) });
      box.addEventListener('change', () => (box.checked ? picked.add(c.hostId) : picked.delete(c.hostId)));
      return [String(i + 1), c.hostname, c.technology, num(c.score), scoreReason(c.score, c.technology), el];
    }),
    'No host can take this request: see why below.',
  );
  const rejected = table(['Host', 'Filter', 'Reason'], x.rejected.map((r) => [r.hostname, chip(r.filter), r.reason]), 'No host was rejected.');
  return h('div', { class: 'candidates', dataset: { candidates: String(x.candidates.length), rejected: String(x.rejected.length) } }, h('h3', null, `Candidates (${x.candidates.length})`), ranked, h('h3', null, `Rejected (${x.rejected.length})`), rejected);
}

/**
 * The request form: what to ask for, then "Show candidates" runs the placement dry run and
 * shows the ranking; "Request allocation" is enabled once the ranking matches the form.
 */
function requestForm(ctx: ViewContext, changed: () => void): HTMLElement {
  const group = select('group', groupOptions(ctx), ctx.viewer.groupId ?? undefined);
  const mode = select('mode', [['AUTOMATIC', 'Automatic: the scheduler places it now'], ['DIRECT', 'Direct: on the hosts I ask for'], ['APPROVAL', 'Approval: the owners decide']], 'AUTOMATIC');
  const guarantee = select('guarantee', [['BEST_EFFORT', 'Best effort (may overbook)'], ['GUARANTEED', 'Guaranteed (a lease)']], 'BEST_EFFORT');
  const cpu = input('cpu', { type: 'number', min: 0, step: 'any', value: '1', inputmode: 'decimal' });
  const ram = input('ram', { type: 'number', min: 0, step: 'any', value: '1', inputmode: 'decimal' });
  const disk = input('disk', { type: 'number', min: 0, step: 'any', value: '0', inputmode: 'decimal' });
  const technologies = input('technologies', { type: 'text', placeholder: 'docker, lxc', autocomplete: 'off' });
  const replicas = input('replicas', { type: 'number', min: 1, step: 1, value: '1' });
  const lease = input('lease', { type: 'number', min: 1, step: 1, placeholder: '3600' });
  const ranking = h('div', { class: 'ranking', 'aria-live': 'polite' });
  const out = formOutput();
  const picked = new Set<string>();
  const dryRun = h('button', { type: 'button', class: 'primary' }, 'Show candidates');
  const submit = h('button', { type: 'submit', class: 'secondary', disabled: true, title: 'Show the candidates first' }, 'Request allocation');
  let shown = '';

  const spec = (): AllocationRequestInput => {
    const resources = (
      [
        ['CPU', cpu.value],
        ['RAM', ram.value],
        ['DISK', disk.value],
      ] as const
    )
      .filter(([, v]) => Number(v) > 0)
      .map(([type, v]) => ({ type, ...typedAmount(type, v) }));
    const techs = typedList(technologies.value);
    return {
      groupId: group.value,
      guarantee: guarantee.value as AllocationRequestInput['guarantee'],
      resources,
      ...(techs.length ? { technologies: techs } : {}),
      replicas: Number(replicas.value) || 1,
      ...(lease.value ? { leaseSeconds: Number(lease.value) } : {}),
    };
  };
  const stale = () => {
    const fresh = shown === JSON.stringify(spec());
    submit.disabled = !fresh;
    submit.title = fresh ? 'Send the request' : 'Show the candidates first';
    ranking.classList.toggle('stale', !fresh && shown !== '');
  };

  dryRun.addEventListener('click', () =>
    void runAction(dryRun, out, async () => {
      const asked = spec();
      const d = await request(PlacementCandidatesDocument, { request: { ...asked, mode: 'AUTOMATIC' } });
      picked.clear();
      if (mode.value === 'DIRECT') d.placementCandidates.candidates.slice(0, asked.replicas ?? 1).forEach((c) => picked.add(c.hostId));
      replace(ranking, candidatesTable(d.placementCandidates, picked));
      shown = JSON.stringify(asked);
      stale();
    }),
  );
  const form = h(
    'form',
    {
      class: 'form request-form',
      'aria-label': 'Request an allocation',
      oninput: stale,
      onchange: stale,
      onsubmit: (event: Event) => {
        event.preventDefault();
        if (submit.disabled) return;
        void runAction(submit, out, async () => {
          const hostIds = [...picked];
          const d = await request(AllocateDocument, { request: { ...spec(), mode: mode.value as AllocationRequestInput['mode'], ...(hostIds.length ? { hostIds } : {}) } });
          const r = d.allocate;
          replace(
            out,
            h(
              'p',
              { class: 'notice', role: 'status', dataset: { request: r.id, status: r.status } },
              badge(r.status),
              ' ',
              r.status === 'PENDING' ? 'Request recorded: it waits for the owners to decide.' : `Placed on ${r.allocations.map((a) => a.hostId).map((id) => shortId(id)).join(', ') || 'its hosts'}.`,
            ),
          );
          changed();
        });
      },
    },
    h(
      'div',
      { class: 'form-grid' },
      field('Group', group, 'Whose share is charged'),
      field('Placement', mode),
      field('Guarantee', guarantee),
      field('CPU (cores)', cpu),
      field('Memory (GiB)', ram),
      field('Disk (GiB)', disk),
      field('Technologies', technologies, 'In order of preference, comma-separated; empty: any'),
      field('Replicas', replicas),
      field('Lease (seconds)', lease, 'Guaranteed only; default 3600'),
    ),
    h('div', { class: 'actions' }, dryRun, submit),
    ranking,
    out,
  );
  return form;
}

/** A pending request the caller may decide: what it asks, and approve (onto a host, or where the scheduler chooses) or reject with a reason. */
function decisionCard(r: AllocationRequest, hosts: HostChoice[], ctx: ViewContext, changed: () => void): HTMLElement {
  const who = `${groupName(ctx.groupNames, r.groupId)} (${shortId(r.id)})`;
  const named = r.spec.hostIds;
  const onto = select('onto', [['', 'Where the scheduler chooses'], ...hosts.map((x): [string, string] => [x.id, x.hostname])], named[0] ?? '');
  const reason = input('reason', { type: 'text', autocomplete: 'off', placeholder: 'Why (required to reject)' });
  const out = formOutput();
  const approve = h('button', { type: 'button', class: 'primary', 'aria-label': `Approve request of ${who}` }, 'Approve');
  const reject = h('button', { type: 'button', class: 'secondary', 'aria-label': `Reject request of ${who}` }, 'Reject');
  approve.addEventListener('click', () =>
    void runAction(approve, out, async () => {
      await request(AllocationApproveDocument, { id: r.id, hostIds: onto.value ? [onto.value] : named.length ? named : null, reason: reason.value.trim() || null });
      changed();
    }),
  );
  reject.addEventListener('click', () =>
    void runAction(reject, out, async () => {
      await request(AllocationRejectDocument, { id: r.id, reason: reason.value.trim() });
      changed();
    }),
  );
  const hostName = (id: string) => hosts.find((x) => x.id === id)?.hostname ?? shortId(id);
  return h(
    'article',
    { class: 'card', dataset: { request: r.id } },
    h('header', { class: 'card-head' }, h('h3', null, groupName(ctx.groupNames, r.groupId)), badge(r.status), h('span', { class: 'muted small', title: when(r.createdAt) }, `asked by ${r.requestedBy} ${ago(r.createdAt)}`)),
    h('dl', { class: 'facts' },
      h('dt', null, 'Asks'), h('dd', null, asks(r)),
      h('dt', null, 'Guarantee'), h('dd', null, r.guarantee.toLowerCase().replace('_', ' ')),
      h('dt', null, 'Technologies'), h('dd', null, r.spec.technologies.length ? r.spec.technologies.map(chip) : 'any'),
      h('dt', null, 'Hosts asked for'), h('dd', null, named.length ? named.map(hostName).join(', ') : 'none'),
    ),
    h('div', { class: 'form-grid' }, field('Approve onto', onto), field('Reason', reason)),
    h('div', { class: 'actions' }, approve, reject),
    out,
  );
}

/** The caller's group's requests (site admins: all), newest first. */
function requestTable(requests: AllocationRequest[], hosts: HostChoice[], ctx: ViewContext): HTMLElement {
  const hostName = (id: string) => hosts.find((x) => x.id === id)?.hostname ?? shortId(id);
  return table(
    ['Asked', 'Group', 'Mode', 'Status', 'Asks', 'Placed on', 'Decided'],
    requests.map((r) => [
      h('span', { title: when(r.createdAt) }, ago(r.createdAt)),
      groupName(ctx.groupNames, r.groupId),
      r.mode.toLowerCase(),
      badge(r.status),
      asks(r),
      r.allocations.map((a) => hostName(a.hostId)).join(', ') || '—',
      r.decidedBy ? `${r.decidedBy}${r.reason ? `: ${r.reason}` : ''}` : r.reason || '—',
    ]),
    'No allocation requests yet: ask for one above.',
  );
}

/**
 * `/allocations`: request an allocation after the placement dry run, the pending requests the
 * caller may decide (site admins, and the admins of groups owning hosts or sites), and the
 * group's requests; updated live from the events stream.
 */
export const allocationsView: View = (ctx) => {
  const lists = h('div', null, loading());
  // A pending request's card is kept while it stays pending, so that a live reload keeps its typed reason.
  const cards = new Map<string, HTMLElement>();
  const reload = loadInto(ctx.scope, lists, () => request(AllocationsDocument, { groupId: ctx.viewer.siteAdmin ? null : ctx.viewer.groupId ?? null }), (d) => {
    const hosts = d.hosts.nodes;
    const pending = d.approvalRequests.nodes;
    for (const id of cards.keys()) if (!pending.some((r) => r.id === id)) cards.delete(id);
    const card = (r: AllocationRequest) => cards.get(r.id) ?? cards.set(r.id, decisionCard(r, hosts, ctx, () => reload())).get(r.id)!;
    return [
      panel(
        `Waiting for your decision (${pending.length})`,
        pending.length ? h('div', { class: 'cards decisions' }, pending.map(card)) : h('p', { class: 'empty' }, 'No request waits for you. Site admins and the admins of groups owning hosts see here the requests they may approve or reject.'),
      ),
      panel(ctx.viewer.siteAdmin ? 'All requests' : 'Your group’s requests', requestTable(d.allocationRequests.nodes, hosts, ctx)),
    ];
  });
  reloadOnEvents(ctx.scope, ['ALLOCATION'], reload);
  return h('div', null, h('h1', null, 'Allocations'), panel('Request an allocation', requestForm(ctx, () => reload())), lists);
};
