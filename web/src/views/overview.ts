import { request } from '../api/graphql';
import { Alert, OVERVIEW, Operation } from '../api/queries';
import { h, link } from '../ui/dom';
import { ago } from '../ui/format';
import { badge, loading, panel, progressBar, stat, table } from '../ui/widgets';
import { loadInto, reloadOnEvents } from './common';
import type { View } from './context';

interface OverviewData {
  sites: { totalCount: number; nodes: Array<{ id: string; name: string; hosts: { nodes: Array<{ id: string; state: string }> } }> };
  environments: { totalCount: number; nodes: Array<{ id: string; status: string }> };
  alerts: Alert[];
  operations: { nodes: Operation[] };
}

/** `/`: counts of sites, hosts, environments, firing alerts, and the latest operations. */
export const overviewView: View = ({ scope }) => {
  const body = h('div', null, loading());
  const reload = loadInto(scope, body, () => request<OverviewData>(OVERVIEW), (d) => {
    const hosts = d.sites.nodes.flatMap((s) => s.hosts.nodes);
    const up = hosts.filter((x) => x.state === 'UP').length;
    const running = d.environments.nodes.filter((e) => e.status === 'RUNNING').length;
    return [
      h(
        'div',
        { class: 'stats' },
        stat('Sites', d.sites.totalCount, link('/sites', 'Sites & hosts →')),
        stat('Hosts up', `${up} / ${hosts.length}`),
        stat('Environments running', `${running} / ${d.environments.totalCount}`),
        stat('Firing alerts', d.alerts.length, link('/alerts', 'Alerts →')),
      ),
      panel(
        'Latest operations',
        table(
          ['Kind', 'State', 'Progress', 'Updated'],
          d.operations.nodes.map((o) => [o.kind, badge(o.state), progressBar(o.progress, o.state), ago(o.updatedAt)]),
          'No operations yet.',
        ),
        h('p', null, link('/operations', 'All operations →')),
      ),
      d.alerts.length ? panel('Firing alerts', table(['Alert', 'Value', 'Since'], d.alerts.map((a) => [a.message, String(a.value), ago(a.firedAt)]))) : null,
    ].filter((n): n is HTMLElement => n !== null);
  });
  reloadOnEvents(scope, ['OPERATION', 'ENVIRONMENT', 'ALERT'], reload);
  return h('div', null, h('h1', null, 'Overview'), body);
};
