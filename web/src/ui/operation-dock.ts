import { request } from '../api/graphql';
import { subscribe } from '../api/live';
import { Operation, OperationDocument, OperationUpdatedDocument, TERMINAL_STATES } from '../api/queries';
import { h, replace } from './dom';
import { badge, progressBar } from './widgets';

/** Where operations started from this page show their progress until dismissed. */
const dock = h('aside', { class: 'dock', 'aria-live': 'polite', 'aria-label': 'Operations in progress' });

/** The dock's element (put once in the layout). */
export function operationDock(): HTMLElement {
  return dock;
}

/** Empties the dock (at logout). */
export function clearDock(): void {
  dock.replaceChildren();
}

/** Whether `next` is newer than `current` (a terminal state always wins over a running one). */
function newer(current: Operation | undefined, next: Operation): boolean {
  if (!current) return true;
  if (TERMINAL_STATES.has(current.state)) return false;
  return TERMINAL_STATES.has(next.state) || next.updatedAt >= current.updatedAt;
}

/**
 * Shows an operation in the dock and follows it live (operationUpdated) until it ends, then
 * calls `onEnd` with its last state. `label` says what it is about (e.g. "start web").
 */
export function followOperation(op: Operation, label: string, onEnd?: (op: Operation) => void): void {
  let current: Operation | undefined;
  let ended = false;
  let stop: () => void = () => undefined;
  const body = h('div', { class: 'dock-body' });
  const item = h(
    'div',
    { class: 'dock-item', dataset: { operation: op.id } },
    h('div', { class: 'dock-head' }, h('strong', null, label), h('button', { class: 'icon', type: 'button', title: 'Dismiss', 'aria-label': 'Dismiss', onclick: () => close() }, '×')),
    body,
  );
  dock.prepend(item);

  const show = (next: Operation) => {
    if (ended || !newer(current, next)) return;
    current = next;
    item.dataset.state = next.state;
    replace(
      body,
      h('div', { class: 'dock-line' }, badge(next.state), h('span', { class: 'muted' }, next.kind), h('span', { class: 'dock-pct' }, `${Math.round(next.progress * 100)} %`)),
      progressBar(next.progress, next.state),
      next.error ? h('div', { class: 'error-text' }, `${next.error.code}: ${next.error.message}`) : next.message ? h('div', { class: 'muted small' }, next.message) : null,
    );
    if (TERMINAL_STATES.has(next.state)) {
      ended = true;
      stop();
      onEnd?.(next);
      if (next.state === 'SUCCEEDED') setTimeout(() => close(), 20_000);
    }
  };
  const close = () => {
    stop();
    item.remove();
  };
  show(op);
  if (ended) return;
  stop = subscribe(OperationUpdatedDocument, { id: op.id }, (d) => show(d.operationUpdated), () => undefined);
  // It may have ended before the subscription started: read it once too.
  request(OperationDocument, { id: op.id }).then((d) => show(d.operation), () => undefined);
}
