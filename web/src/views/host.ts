import { request } from '../api/graphql';
import { subscribe } from '../api/live';
import { HostDocument, HostDriversDocument, HostHistoryDocument, HostHistoryQuery, HostMetricsDocument, HostSample } from '../api/queries';
import { h, Kept, replace } from '../ui/dom';
import { byteRate, bytes, num } from '../ui/format';
import { LiveChart } from '../ui/live-chart';
import { agentInfo, chip, errorBox, hostBadge, loading, panel, table } from '../ui/widgets';
import { groupName, loadInto, notFoundState, reloadOnEvents } from './common';
import type { View } from './context';
import { hostActions, retiredNotice } from './host-actions';
import { chartsHead, chartsWithPast, PastChart, scaled } from './metric-charts';
import { environmentTable, resourceMeters } from './sites';

/** The charts of a host: the past from its metric history, then its live samples. */
function hostCharts(): Array<PastChart<HostHistoryQuery, HostSample>> {
  const sum = (s: HostSample, of: (n: HostSample['networks'][number]) => number) => s.networks.reduce((n, i) => n + of(i), 0);
  return [
    { chart: new LiveChart({ title: 'CPU', series: [{ label: 'busy', color: '#2f7de1' }], format: (v) => `${num(v)} %`, range: [0, 100] }), history: (a) => [scaled(a.cpu, 100)], live: (s) => [s.cpu.usage * 100] },
    { chart: new LiveChart({ title: 'Memory', series: [{ label: 'used', color: '#8e44ad' }], format: bytes }), history: (a) => [a.memory.points], live: (s) => [s.memory.usedBytes] },
    {
      chart: new LiveChart({ title: 'Network', series: [{ label: 'received', color: '#16a085' }, { label: 'sent', color: '#e67e22' }], format: byteRate }),
      history: (a) => [a.rx.points, a.tx.points],
      live: (s) => [sum(s, (i) => i.rxBytesPerSecond), sum(s, (i) => i.txBytesPerSecond)],
    },
    // Only the 1 min load is stored: the past shows it alone, the live samples all three.
    {
      chart: new LiveChart({ title: 'Load', series: [{ label: '1 min', color: '#c0392b' }, { label: '5 min', color: '#d4a017' }, { label: '15 min', color: '#7f8c8d' }], format: num }),
      history: (a) => [a.load.points],
      live: (s) => [s.load.one, s.load.five, s.load.fifteen],
    },
  ];
}

/** `/hosts/:id`: a host's state, capacity, live metrics and environments. */
export const hostView: View = (ctx) => {
  const [id] = ctx.params;
  const head = h('div', null, loading());
  const envs = h('div', null);
  const live = h('p', { class: 'muted small live-note' }, 'Connecting to the live samples…');
  const charts = hostCharts();
  ctx.scope.add(() => charts.forEach((c) => c.chart.destroy()));
  const past = h('p', { class: 'muted small history-note' });
  const { picker, push } = chartsWithPast(ctx.scope, { charts, note: past, load: (from, step) => request(HostHistoryDocument, { id, from: from.toISOString(), step }) });

  // Each environment's Delete (an open confirm step) is kept across the live reloads too.
  const kept = new Kept();
  const reload = loadInto(ctx.scope, head, () => request(HostDocument, { id }), (d) => {
    kept.sweep();
    const host = d.host;
    document.title = `${host.hostname} · RSP`;
    replace(envs, environmentTable(d.environments.nodes, ctx, () => reload(), kept));
    return [
      h('h1', null, host.hostname, ' ', hostBadge(host.state)),
      h(
        'p',
        { class: 'muted' },
        `${host.arch} · ${host.shareUnits} share unit${host.shareUnits === 1 ? '' : 's'} · owned by ${groupName(ctx.groupNames, host.ownerGroupId)} · drivers `,
        host.drivers.map(chip),
      ),
      h('p', null, agentInfo(host.agentConnection)),
      kept.get(`actions ${host.state}`, () => hostActions(host, () => reload(), () => replace(page, retiredNotice(host.hostname)))),
      resourceMeters(host),
    ];
  }, { notFound: () => gone() });

  // Asked of the host's agent: an agent that does not answer leaves its error in this panel only.
  const drivers = h('div', null, loading());
  loadInto(ctx.scope, drivers, () => request(HostDriversDocument, { hostId: id }), (d) =>
    table(
      ['Driver', 'Technology', 'Available', 'Image formats', 'Features'],
      d.drivers.map((x) => [
        h('strong', null, x.name),
        x.technology,
        x.available ? `yes${x.version ? ` (${x.version})` : ''}` : h('span', { title: x.reason ?? '' }, `no${x.reason ? `: ${x.reason}` : ''}`),
        x.imageFormats.map(chip),
        x.features.length ? x.features.map(chip) : '—',
      ]),
      'Its agent reports no driver.',
    ),
  );

  let samples = 0;
  const stop = subscribe(
    HostMetricsDocument,
    { id },
    (d) => {
      push(Date.parse(d.hostMetrics.at), d.hostMetrics);
      samples++;
      replace(live, `Live: ${samples} sample${samples === 1 ? '' : 's'}, last at ${new Date(d.hostMetrics.at).toLocaleTimeString()}, ${d.hostMetrics.cpu.cores.length} cores, ${bytes(d.hostMetrics.memory.totalBytes)} memory`);
    },
    (e) => replace(live, errorBox(e)),
  );
  ctx.scope.add(stop);
  reloadOnEvents(ctx.scope, ['ENVIRONMENT'], reload, (e) => e.environment?.hostId === id);

  const page = h('div', null, head, panel('Metrics', chartsHead(picker, past), live, h('div', { class: 'charts' }, charts.map((c) => c.chart.el))), panel('Drivers', drivers), panel('Environments', envs));
  // An unknown host (or one the token may not see): one statement instead of the page, its charts and their errors.
  const gone = () => {
    stop();
    document.title = 'No such host · RSP';
    replace(page, notFoundState('host', id, { href: '/hosts', label: 'All hosts →' }));
  };
  return page;
};
