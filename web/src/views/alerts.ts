import { request } from '../api/graphql';
import { subscribe } from '../api/live';
import { Alert, AlertsDocument, EventsDocument } from '../api/queries';
import { h, replace } from '../ui/dom';
import { sortBy } from '../ui/data-table';
import { ago, num, shortId } from '../ui/format';
import { badge, loading, table } from '../ui/widgets';
import { loadInto } from './common';
import type { View } from './context';

/** `/alerts`: the alerts the caller may see, firing first, updated live from the events stream. */
export const alertsView: View = ({ scope }) => {
  const body = h('div', null, loading());
  const byId = new Map<string, Alert>();
  let loaded = false;
  const render = () => {
    const alerts = [...byId.values()].sort((a, b) => (a.state === b.state ? (b.firedAt ?? '').localeCompare(a.firedAt ?? '') : a.state === 'FIRING' ? -1 : 1));
    replace(
      body,
      table(
        ['State', 'Alert', 'Target', 'Metric', 'Value', 'Threshold', 'Fired', 'Resolved'],
        alerts.map((a) => [badge(a.state), a.message, h('span', { title: a.targetId }, `${a.targetType.toLowerCase()} ${shortId(a.targetId)}`), a.metric, sortBy(num(a.value), a.value), sortBy(num(a.threshold), a.threshold), sortBy(ago(a.firedAt), a.firedAt ?? ''), sortBy(a.resolvedAt ? ago(a.resolvedAt) : '—', a.resolvedAt ?? '')]),
        h('span', null, 'No alerts. An alert fires when a rule’s metric crosses its threshold; add a rule with the ', h('code', null, 'createAlertRule'), ' mutation (in the GraphQL IDE at ', h('a', { href: '/graphql' }, '/graphql'), ').'),
        { label: 'alerts', filter: true },
      ),
    );
  };
  loadInto(scope, body, () => request(AlertsDocument, {}), (d) => {
    for (const a of d.alerts) if (!byId.has(a.id)) byId.set(a.id, a);
    loaded = true;
    render();
    return [...body.childNodes];
  });
  const stop = subscribe(
    EventsDocument,
    {},
    (d) => {
      if (d.events.alert) byId.set(d.events.alert.id, d.events.alert);
      if (loaded && d.events.alert) render();
    },
    () => undefined,
  );
  scope.add(stop);
  return h('div', null, h('h1', null, 'Alerts'), body);
};
