import { request } from '../api/graphql';
import { subscribe } from '../api/live';
import { OverviewDocument, SiteHistoryDocument, SiteHistoryQuery, SiteMetricsDocument, SiteNamesDocument, SiteSample } from '../api/queries';
import { h, link, replace, Scope } from '../ui/dom';
import { sortBy } from '../ui/data-table';
import { ago, byteRate, num } from '../ui/format';
import { hostsUp } from '../ui/host-state';
import { LiveChart } from '../ui/live-chart';
import { badge, errorBox, loading, panel, progressBar, stat, table } from '../ui/widgets';
import { groupName, interventionText, loadInto, reloadOnEvents } from './common';
import type { View } from './context';
import { chartsHead, chartsWithPast, PastChart, scaled } from './metric-charts';

/** `/`: counts of sites, hosts, environments, firing alerts, the latest operations, and guests on my group's hosts. */
export const overviewView: View = ({ scope, groupNames }) => {
  const body = h('div', null, loading());
  const reload = loadInto(scope, body, () => request(OverviewDocument, {}), (d) => {
    const hosts = d.sites.nodes.flatMap((s) => s.hosts.nodes);
    const up = hostsUp(hosts);
    const hostnames = new Map(hosts.map((x) => [x.id, x.hostname]));
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
          d.operations.nodes.map((o) => [o.kind, badge(o.state), sortBy(progressBar(o.progress, o.state), o.progress), sortBy(ago(o.updatedAt), o.updatedAt)]),
          'No operations yet. Starting, stopping or creating an environment starts one.',
          { label: 'latest operations' },
        ),
        h('p', null, link('/operations', 'All operations →')),
      ),
      d.guests.totalCount
        ? panel(
            'Guests on my hosts',
            table(
              ['Environment', 'Group', 'Host', 'Status', 'Intervention'],
              d.guests.nodes.map((e) => [link(`/environments/${e.id}`, e.name), groupName(groupNames, e.groupId), link(`/hosts/${e.hostId}`, hostnames.get(e.hostId) ?? e.hostId), badge(e.status), interventionText(e, groupNames)]),
              undefined,
              { label: 'guests on my hosts' },
            ),
          )
        : null,
      d.alerts.length ? panel('Firing alerts', table(['Alert', 'Value', 'Since'], d.alerts.map((a) => [a.message, sortBy(String(a.value), a.value), sortBy(ago(a.firedAt), a.firedAt ?? '')]), undefined, { label: 'firing alerts' })) : null,
    ].filter((n): n is HTMLElement => n !== null);
  });
  reloadOnEvents(scope, ['OPERATION', 'ENVIRONMENT', 'ALERT'], reload);
  return h('div', null, h('h1', null, 'Overview'), body, siteCharts(scope));
};

/** A panel per site (up to 20) with charts of its hosts added up: the stored last hour, then live (siteMetrics). */
function siteCharts(scope: Scope): HTMLElement {
  const box = h('div', null);
  request(SiteNamesDocument, {}).then(
    (d) => {
      if (scope.ended) return;
      replace(
        box,
        d.sites.nodes.map((site) => {
          const note = h('p', { class: 'muted small live-note' }, 'Waiting for the site’s samples…');
          const charts: Array<PastChart<SiteHistoryQuery, SiteSample>> = [
            { chart: new LiveChart({ title: `CPU of ${site.name}`, series: [{ label: 'busy', color: '#2f7de1' }], format: (v) => `${num(v)} %`, range: [0, 100], height: 150 }), history: (a) => [scaled(a.cpu, 100)], live: (s) => [s.cpuUsage * 100] },
            {
              chart: new LiveChart({ title: `Memory of ${site.name}`, series: [{ label: 'used', color: '#8e44ad' }], format: (v) => `${num(v)} %`, range: [0, 100], height: 150 }),
              history: (a) => [scaled(a.memory, 100)],
              live: (s) => [s.memoryTotalBytes > 0 ? (s.memoryUsedBytes / s.memoryTotalBytes) * 100 : 0],
            },
            {
              chart: new LiveChart({ title: `Network of ${site.name}`, series: [{ label: 'received', color: '#16a085' }, { label: 'sent', color: '#e67e22' }], format: byteRate, height: 150 }),
              history: (a) => [a.rx.points, a.tx.points],
              live: (s) => [s.networkRxBytesPerSecond, s.networkTxBytesPerSecond],
            },
          ];
          scope.add(() => charts.forEach((c) => c.chart.destroy()));
          const past = h('p', { class: 'muted small history-note' });
          const { picker, push } = chartsWithPast(scope, { charts, note: past, load: (from, step) => request(SiteHistoryDocument, { id: site.id, from: from.toISOString(), step }) });
          scope.add(
            subscribe(
              SiteMetricsDocument,
              { id: site.id },
              ({ siteMetrics: s }) => {
                push(Date.parse(s.at), s);
                replace(note, `Live: ${s.hosts} host${s.hosts === 1 ? '' : 's'}, ${s.environments} running environment${s.environments === 1 ? '' : 's'}`);
              },
              (e) => replace(note, errorBox(e)),
            ),
          );
          return panel([`Site ${site.name}`, h('span', { class: 'muted' }, ` ${site.location}`)], chartsHead(picker, past), note, h('div', { class: 'charts charts-3' }, charts.map((c) => c.chart.el)));
        }),
      );
    },
    (e: unknown) => replace(box, errorBox(e)),
  );
  return box;
}
