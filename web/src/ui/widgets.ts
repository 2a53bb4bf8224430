import { GraphQLRequestError } from '../api/graphql';
import { dataTable, type TableCell, type TableOptions } from './data-table';
import { Child, h } from './dom';
import { percent } from './format';
import { agentLine, hostStateLabel, type AgentSummary } from './host-state';

/** Tone of a status badge. */
export type Tone = 'ok' | 'warn' | 'bad' | 'idle' | 'busy';

const STATUS_TONES: Record<string, Tone> = {
  UP: 'ok',
  RUNNING: 'ok',
  SUCCEEDED: 'ok',
  RESOLVED: 'ok',
  PLACED: 'ok',
  ACTIVE: 'ok',
  DOWN: 'bad',
  FAILED: 'bad',
  FIRING: 'bad',
  REJECTED: 'bad',
  MAINTENANCE: 'warn',
  DRAINING: 'warn',
  UNKNOWN: 'warn',
  CANCELLED: 'warn',
  PENDING: 'busy',
  CREATING: 'busy',
  STARTING: 'busy',
  STOPPING: 'busy',
  REBUILDING: 'busy',
  DESTROYING: 'busy',
  MIGRATING: 'busy',
  RESTORING: 'busy',
  FAILING_OVER: 'busy',
  SNAPSHOTTING: 'busy',
};

/** A coloured badge for a state (RUNNING, FAILED, UP…), labelled with the state unless `label` is given. */
export function badge(status: string, tone: Tone = STATUS_TONES[status] ?? 'idle', label: string = status): HTMLElement {
  return h('span', { class: `badge badge-${tone}`, dataset: { status } }, label);
}

/** A host's state badge: UNKNOWN (its agent has not reported yet) reads "waiting for its agent". */
export function hostBadge(state: Parameters<typeof hostStateLabel>[0]): HTMLElement {
  return badge(state, undefined, hostStateLabel(state));
}

/** A host's agent: id, version, connection state and last heartbeat, on one line. */
export function agentInfo(agent: AgentSummary): HTMLElement {
  return h('span', { class: 'muted small agent', dataset: { agentState: agent.state } }, agentLine(agent));
}

/** A small grey label. */
export function chip(text: string): HTMLElement {
  return h('span', { class: 'chip' }, text);
}

/** A bar of `used` over `total`, with its label; warns past 75 %, alarms past 90 %. */
export function meter(used: number, total: number, label: string): HTMLElement {
  const ratio = total > 0 ? Math.min(1, Math.max(0, used / total)) : 0;
  const tone = ratio >= 0.9 ? 'bad' : ratio >= 0.75 ? 'warn' : 'ok';
  return h(
    'div',
    { class: 'meter', role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': total, 'aria-valuenow': used, 'aria-label': label },
    h('div', { class: 'meter-track' }, h('div', { class: `meter-fill meter-${tone}`, style: `width:${(ratio * 100).toFixed(1)}%` })),
    h('div', { class: 'meter-label' }, h('span', null, label), h('span', { class: 'muted' }, percent(ratio, 0))),
  );
}

/** A progress bar from 0 to 1, named `label` (with its percentage) for screen readers. */
export function progressBar(progress: number, state: string, label = 'Progress'): HTMLElement {
  const ratio = Math.min(1, Math.max(0, progress));
  const tone = STATUS_TONES[state] ?? 'busy';
  return h(
    'div',
    { class: 'progress', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': Math.round(ratio * 100), 'aria-label': `${label}: ${Math.round(ratio * 100)} %` },
    h('div', { class: `progress-fill progress-${tone}`, style: `width:${(ratio * 100).toFixed(0)}%` }),
  );
}

/** A titled panel. */
export function panel(title: Child, ...body: Child[]): HTMLElement {
  return h('section', { class: 'panel' }, h('h2', { class: 'panel-title' }, title), ...body);
}

/** A figure with a label, for the overview. */
export function stat(label: string, value: Child, sub?: Child): HTMLElement {
  return h('div', { class: 'stat' }, h('div', { class: 'stat-label' }, label), h('div', { class: 'stat-value' }, value), sub ? h('div', { class: 'stat-sub' }, sub) : null);
}

/**
 * A table with a header row; `rows` are lists of cells. It is the shared sortable, filterable
 * table (see `dataTable`): `empty` says what to do when there are no rows.
 */
export function table(headers: string[], rows: TableCell[][], empty: Child = 'Nothing here yet.', options: Omit<TableOptions, 'empty'> = {}): HTMLElement {
  return dataTable(headers, rows, { ...options, empty });
}

/** "Loading…" while a view waits for the gateway. */
export function loading(what = 'Loading…'): HTMLElement {
  return h('p', { class: 'loading', 'aria-busy': 'true' }, what);
}

/** An error as the gateway said it, with its code (never a stack). */
export function errorBox(error: unknown): HTMLElement {
  const code = error instanceof GraphQLRequestError ? error.code : 'ERROR';
  const message = error instanceof Error ? error.message : String(error);
  const hint = code === 'FORBIDDEN' ? 'Your token may not see or do this.' : code === 'NETWORK' ? 'Is the gateway running?' : null;
  return h('div', { class: 'error', role: 'alert' }, h('strong', null, code), ' ', message, hint ? h('div', { class: 'muted' }, hint) : null);
}
