import { request } from '../api/graphql';
import { ReplicateNowDocument, Replica, ReplicationDocument, ReplicationPolicy, ReplicationTarget } from '../api/queries';
import type { Viewer } from '../api/session';
import { Child, h, Kept, link, replace } from '../ui/dom';
import { sortBy } from '../ui/data-table';
import { ago, bytes, duration, shortId, until, when } from '../ui/format';
import { followOperation } from '../ui/operation-dock';
import { badge, chip, errorBox, loading, panel, table } from '../ui/widgets';
import type { Tone } from '../ui/widgets';
import { groupName, loadInto, notFoundState, reloadOnEvents } from './common';
import type { View, ViewContext } from './context';
import { policyForm, restoreForm } from './forms/replication';

/** Tones of a policy's state (RUNNING is work in progress here, not a healthy environment). */
const STATE_TONES: Record<ReplicationPolicy['status']['state'], Tone> = { OK: 'ok', FAILED: 'bad', RUNNING: 'busy', PENDING: 'idle', DISABLED: 'warn' };

/** A policy's state as a badge. */
export function replicationBadge(state: ReplicationPolicy['status']['state']): HTMLElement {
  return badge(state, STATE_TONES[state]);
}

/** Names of the hosts and sites a target may point at (ids when unknown). */
export interface TargetNames {
  hosts: Map<string, string>;
  sites: Map<string, string>;
  groups: Map<string, string>;
}

/** Where replicas go, in words: a host (linked), a site, a group, or the artifact store only. */
export function targetLabel(target: ReplicationTarget, names: TargetNames): Child {
  const id = target.id ?? '';
  switch (target.kind) {
    case 'HOST':
      return ['host ', link(`/hosts/${id}`, names.hosts.get(id) ?? shortId(id))];
    case 'SITE':
      return `any host of site ${names.sites.get(id) ?? shortId(id)}`;
    case 'GROUP':
      return `any host of group ${groupName(names.groups, id)}`;
    default:
      return 'the artifact store only';
  }
}

/**
 * The "Replicate now" button of a policy: runs the mutation, follows the operation in the dock
 * and calls `changed` now and when it ends. Disabled for VIEWER tokens and while a run is on.
 */
function replicateNowButton(p: ReplicationPolicy, viewer: Viewer, changed: () => void): HTMLElement {
  const box = h('div', { class: 'actions' });
  const readOnly = !viewer.siteAdmin && viewer.role === 'VIEWER';
  const button = h(
    'button',
    {
      type: 'button',
      class: 'primary',
      disabled: readOnly || p.status.state === 'RUNNING',
      title: readOnly ? 'Your token has the VIEWER role: it may not run replication' : p.status.state === 'RUNNING' ? `${p.name} is running` : `Replicate ${p.name} now`,
      onclick: async () => {
        button.disabled = true;
        box.querySelector('.error')?.remove();
        try {
          const { op } = await request(ReplicateNowDocument, { id: p.id });
          followOperation(op, `Replicate ${p.name}`, changed);
          changed();
        } catch (e) {
          box.append(errorBox(e));
          button.disabled = false;
        }
      },
    },
    // Read out as "Replicate <policy> now"; seen as "Replicate now".
    'Replicate ',
    h('span', { class: 'visually-hidden' }, `${p.name} `),
    'now',
  );
  box.append(button);
  return box;
}

/** A replica's verification: the verify job's state (OK / DAMAGED, with what is left damaged) and when, or when a restore last checked it. */
function verification(r: Replica): Child {
  const at = r.lastVerifiedAt ?? r.verifiedAt;
  const time = at ? h('span', { title: when(at) }, ` ${ago(at)}`) : null;
  if (!r.verifyState) return at ? h('span', { title: when(at) }, ago(at)) : '—';
  const left = r.verifyProblems.filter((x) => !x.repaired);
  const repaired = r.verifyProblems.length - left.length;
  const detail = left.length ? h('span', { class: 'error-text', title: left.slice(0, 5).map((x) => `${x.chunk ? `chunk ${x.chunk.slice(0, 12)}` : 'manifest'}: ${x.reason}`).join('\n') }, ` ${left.length} damaged`) : repaired ? h('span', { class: 'muted' }, ` ${repaired} repaired`) : null;
  return h('span', { class: 'verification', dataset: { verifyState: r.verifyState } }, badge(r.verifyState, r.verifyState === 'OK' ? 'ok' : 'bad'), time, detail);
}

/** The last restore drill of a policy: PASSED / FAILED, when, and why it failed. */
function drillLabel(p: ReplicationPolicy): Child {
  const d = p.lastDrill;
  if (!d) return p.drillSchedule ? 'never yet' : 'never';
  return [badge(d.state, d.state === 'PASSED' ? 'ok' : 'bad'), ' ', h('span', { title: when(d.at) }, ago(d.at)), d.message ? h('div', { class: 'error-text' }, d.message) : null];
}

/** Replicas as a table, newest first; `withEnvironment` adds the environment's name, `restore` a restore form per replica. */
function replicaTable(replicas: Replica[], names: TargetNames, empty: string, withEnvironment = false, restore?: (r: Replica) => HTMLElement): HTMLElement {
  return table(
    ['Made', ...(withEnvironment ? ['Environment'] : []), 'Size', 'New', 'Chunks', 'Target', 'Verified', ...(restore ? [''] : [])],
    replicas.map((r) => [
      sortBy(h('span', { title: when(r.createdAt) }, ago(r.createdAt)), r.createdAt),
      ...(withEnvironment ? [r.environmentName] : []),
      sortBy(bytes(r.bytes), r.bytes),
      sortBy(bytes(r.newBytes), r.newBytes),
      sortBy(String(r.chunks), r.chunks),
      [targetLabel(r.target, names), r.encrypted ? [' ', chip('encrypted')] : null],
      verification(r),
      ...(restore ? [restore(r)] : []),
    ]),
    empty,
    { label: 'replicas' },
  );
}

/** A policy: its settings, the status of its runs, Replicate now, and its replicas. */
function policyCard(p: ReplicationPolicy, replicas: Replica[], environment: Child, names: TargetNames, ctx: ViewContext, changed: () => void, restore: (r: Replica) => HTMLElement): HTMLElement {
  const s = p.status;
  const time = (iso: string | null, text: string) => (iso ? h('span', { title: when(iso) }, text) : text);
  const settings = h('dl', { class: 'facts' },
    h('dt', null, 'Target'), h('dd', null, targetLabel(p.target, names)),
    h('dt', null, 'Schedule'), h('dd', null, h('code', null, p.schedule), p.enabled ? null : [' ', chip('disabled')]),
    h('dt', null, 'Kind'), h('dd', null, p.kind.toLowerCase(), p.encrypted ? [' ', chip('encrypted')] : null, p.snapshotBeforeCopy ? [' ', chip('snapshot before copy')] : null),
    h('dt', null, 'Keeps'), h('dd', null, `${p.keep} replica${p.keep === 1 ? '' : 's'}`),
    h('dt', null, 'Automatic failover'), h('dd', null, p.autoFailover ? 'on' : 'off'),
    h('dt', null, 'Last sync'), h('dd', null, time(s.lastSyncAt, ago(s.lastSyncAt))),
    h('dt', null, 'Last try'), h('dd', null, time(s.lastTryAt, ago(s.lastTryAt))),
    h('dt', null, 'Last duration'), h('dd', null, duration(s.lastDurationMs)),
    h('dt', null, 'Failures'), h('dd', null, s.failCount ? h('span', { class: 'error-text' }, `${s.failCount} since the last success`) : 'none'),
    h('dt', null, 'Next run'), h('dd', null, s.nextRunAt ? time(s.nextRunAt, until(s.nextRunAt)) : p.enabled ? '—' : 'not scheduled (disabled)'),
    h('dt', null, 'Restore drill'), h('dd', null, drillLabel(p)),
    h('dt', null, 'Next drill'), h('dd', null, p.nextDrillAt ? [time(p.nextDrillAt, until(p.nextDrillAt)), ' ', h('code', null, p.drillSchedule ?? '')] : 'not scheduled'),
  );
  return h(
    'article',
    { class: 'card', dataset: { policy: p.name, state: s.state, replicas: String(replicas.length), lastSync: s.lastSyncAt ?? '', drill: p.lastDrill?.state ?? '', damaged: String(replicas.filter((r) => r.verifyState === 'DAMAGED').length) } },
    h('header', { class: 'card-head' }, h('h2', null, p.name), replicationBadge(s.state), h('span', { class: 'muted' }, 'of ', environment)),
    s.lastError ? h('div', { class: 'error' }, h('strong', null, `Failed ${s.failCount}×`), ' ', s.lastError) : null,
    h(
      'div',
      { class: 'policy-body' },
      h('div', null, settings, replicateNowButton(p, ctx.viewer, changed)),
      h('div', null, h('h3', null, `Replicas (${replicas.length})`), replicaTable(replicas, names, 'No replicas yet.', false, restore)),
    ),
  );
}

/**
 * `/replication` (every policy the token may see) and `/replication/environments/:id` (one
 * environment's): each policy's target, schedule, Proxmox-style status, last restore drill and
 * replicas with their verification (OK / DAMAGED), with Replicate now, a form for a new policy
 * and a restore form per replica; updated live from the
 * events stream (REPLICATION, and replication.run, replication.drill and replica.verify operations).
 * An environment id the token may not see, and that none of its replicas names, shows "No
 * environment with this id".
 */
export const replicationView: View = (ctx) => {
  const [environmentId] = ctx.params;
  const title = h('h1', null, 'Replication');
  const body = h('div', null, loading());
  const create = h('div', null);
  // One restore form per replica, kept across reloads (live, from the events) so that an open
  // form and what is typed in it survive.
  const kept = new Kept();
  const reload = loadInto(ctx.scope, body, () => request(ReplicationDocument, { environmentId: environmentId ?? null }), (d) => {
    const envs = new Map(d.environments.nodes.map((e) => [e.id, e]));
    const names: TargetNames = { hosts: new Map(d.hosts.nodes.map((x) => [x.id, x.hostname])), sites: new Map(d.sites.nodes.map((x) => [x.id, x.name])), groups: ctx.groupNames };
    // Made once: a reload (live, from the events) must not wipe what is being typed.
    if (!create.childElementCount) create.append(policyForm(d.environments.nodes, environmentId, names, () => reload()));
    const envLink = (id: string): Child => {
      const env = envs.get(id);
      return env ? link(`/environments/${id}`, env.name) : h('span', { title: id }, shortId(id));
    };
    if (environmentId) {
      replace(title, 'Replication of ', envLink(environmentId));
      document.title = `Replication of ${envs.get(environmentId)?.name ?? shortId(environmentId)} · RSP`;
    }
    kept.sweep();
    const restore = (r: Replica): HTMLElement => kept.get(`restore ${r.id}`, () => restoreForm(r, names, () => reload()));
    const loose = d.replicas.filter((r) => !r.policyId || !d.replicationPolicies.some((p) => p.id === r.policyId));
    return [
      d.replicationPolicies.length
        ? h('div', { class: 'policies' }, d.replicationPolicies.map((p) => policyCard(p, d.replicas.filter((r) => r.policyId === p.id), envLink(p.environmentId), names, ctx, () => reload(), restore)))
        : h('p', { class: 'empty' }, 'No replication policies you may see. Create one with ', h('code', null, 'rsp replicate policy create'), ' or the createReplicationPolicy mutation.'),
      loose.length ? panel('Replicas without a policy', replicaTable(loose, names, 'None.', true)) : null,
    ].filter((n): n is HTMLElement => n !== null);
  }, { notFound: () => gone() });
  const watched = new Set(['replication.run', 'replication.drill', 'replica.verify']);
  reloadOnEvents(ctx.scope, ['REPLICATION', 'OPERATION'], reload, (e) => e.kind === 'REPLICATION' || watched.has(e.operation?.kind ?? ''));
  const page = h('div', null, title, create, body);
  // An environment id the gateway does not know (or the token may not see): one statement instead of an empty list and a form.
  const gone = () => {
    document.title = 'No such environment · RSP';
    replace(page, notFoundState('environment', environmentId ?? '', { href: '/replication', label: 'All replication →' }));
  };
  return page;
};
