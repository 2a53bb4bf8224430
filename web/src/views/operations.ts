import { request } from '../api/graphql';
import { subscribe } from '../api/live';
import { Operation, OperationsDocument, OperationUpdatedDocument } from '../api/queries';
import { h, replace } from '../ui/dom';
import { sortBy } from '../ui/data-table';
import { ago, shortId } from '../ui/format';
import { badge, errorBox, loading, progressBar, table } from '../ui/widgets';
import { loadInto } from './common';
import type { View } from './context';

/** `/operations`: the operations the caller may see, newest first, updated live. */
export const operationsView: View = ({ scope }) => {
  const body = h('div', null, loading());
  const byId = new Map<string, Operation>();
  let loaded = false;
  const render = () =>
    replace(
      body,
      table(
        ['Kind', 'Target', 'State', 'Progress', 'Message', 'Updated'],
        [...byId.values()]
          .sort((a, b) => b.createdAt.localeCompare(a.createdAt))
          .map((o) => [o.kind, o.targetId ? h('span', { title: o.targetId }, `${(o.targetType ?? '').toLowerCase()} ${shortId(o.targetId)}`) : '—', badge(o.state), sortBy(progressBar(o.progress, o.state), o.progress), o.error ? h('span', { class: 'error-text' }, `${o.error.code}: ${o.error.message}`) : o.message ?? '', sortBy(ago(o.updatedAt), o.updatedAt)]),
        'No operations yet. Creating, starting, migrating or replicating an environment starts one, and it shows here with its progress.',
        { label: 'operations', filter: true },
      ),
    );
  loadInto(scope, body, () => request(OperationsDocument, {}), (d) => {
    for (const o of d.operations.nodes) if (!byId.has(o.id)) byId.set(o.id, o);
    loaded = true;
    render();
    return [...body.childNodes];
  });
  const stop = subscribe(
    OperationUpdatedDocument,
    { id: null },
    (d) => {
      byId.set(d.operationUpdated.id, d.operationUpdated);
      if (loaded) render();
    },
    (e) => body.prepend(errorBox(e)),
  );
  scope.add(stop);
  return h('div', null, h('h1', null, 'Operations'), body);
};
