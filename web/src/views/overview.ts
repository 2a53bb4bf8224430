import { request } from '../api/graphql';
import { subscribe } from '../api/live';
import { OverviewDocument, SiteMetricsDocument, SiteNamesDocument } from '../api/queries';
import { h, link, replace, Scope } from '../ui/dom';
import { ago, byteRate, num } from '../ui/format';
import { hostsUp } from '../ui/host-state';
import { LiveChart } from '../ui/live-chart';
import { badge, errorBox, loading, panel, progressBar, stat, table } from '../ui/widgets';
import { groupName, interventionText, loadInto, reloadOnEvents } from './common';
import type { View } from './context';

/** `/`: counts of sites, hosts, environments, firing alerts, the latest operations, and guests on my group's hosts. */
export const overviewView: View = ({ scope, groupNames }) => {
  const body = h('div', null, loading());
  const reload = loadInto(scope, body, () => request(OverviewDocument, {}), (d) => {
    const hosts = d.sites.nodes.flatMap((s) => s.hosts.nodes);
    const up = hostsUp(hosts);
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
      d.guests.totalCount
        ? panel(
            'Guests on my hosts',
            table(
              ['Environment', 'Group', 'Host', 'Status', 'Intervention'],
              d.guests.nodes.map((e) => [link(`/environments/${e.id}`, e.name), groupName(groupNames, e.groupId), link(`/hosts/${e.hostId}`, 'host'), badge(e.status), interventionText(e, groupNames)]),
            ),
          )
        : null,
      d.alerts.length ? panel('Firing alerts', table(['Alert', 'Value', 'Since'], d.alerts.map((a) => [a.message, String(a.value), ago(a.firedAt)]))) : null,
    ].filter((n): n is HTMLElement => n !== null);
  });
  reloadOnEvents(scope, ['OPERATION', 'ENVIRONMENT', 'ALERT'], reload);
  return h('div', null, h('h1', null, 'Overview'), body, siteCharts(scope));
};

/** A panel per site (up to 20) with live charts of its hosts added up (siteMetrics). */
function siteCharts(scope: Scope): HTMLElement {
  const box = h('div', null);
  request(SiteNamesDocument, {}).then(
    (d) => {
      if (scope.ended) return;
      replace(
        box,
        d.sites.nodes.map((site) => {
          const note = h('p', { class: 'muted small live-note' }, 'Waiting for the site’s samples…');
          const cpu = new LiveChart({ title: `CPU of ${site.name}`, series: [{ label: 'busy', color: '#2f7de1' }], format: (v) => `${num(v)} %`, range: [0, 100], height: 150 });
          const memory = new LiveChart({ title: `Memory of ${site.name}`, series: [{ label: 'used', color: '#8e44ad' }], format: (v) => `${num(v)} %`, range: [0, 100], height: 150 });
          const network = new LiveChart({ title: `Network of ${site.name}`, series: [{ label: 'received', color: '#16a085' }, { label: 'sent', color: '#e67e22' }], format: byteRate, height: 150 });
          scope.add(() => [cpu, memory, network].forEach((c) => c.destroy()));
          scope.add(
            subscribe(
              SiteMetricsDocument,
              { id: site.id },
              ({ siteMetrics: s }) => {
                const at = Date.parse(s.at);
                cpu.push(at, [s.cpuUsage * 100]);
                memory.push(at, [s.memoryTotalBytes > 0 ? (s.memoryUsedBytes / s.memoryTotalBytes) * 100 : 0]);
                network.push(at, [s.networkRxBytesPerSecond, s.networkTxBytesPerSecond]);
                replace(note, `Live: ${s.hosts} host${s.hosts === 1 ? '' : 's'}, ${s.environments} running environment${s.environments === 1 ? '' : 's'}`);
              },
              (e) => replace(note, errorBox(e)),
            ),
          );
          return panel([`Site ${site.name}`, h('span', { class: 'muted' }, ` ${site.location}`)], note, h('div', { class: 'charts charts-3' }, cpu.el, memory.el, network.el));
        }),
      );
    },
    (e: unknown) => replace(box, errorBox(e)),
  );
  return box;
}
