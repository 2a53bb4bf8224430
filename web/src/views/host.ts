import { request } from '../api/graphql';
import { subscribe } from '../api/live';
import { HostDocument, HostMetricsDocument, HostSample } from '../api/queries';
import { h, replace } from '../ui/dom';
import { byteRate, bytes, num } from '../ui/format';
import { LiveChart } from '../ui/live-chart';
import { agentInfo, chip, errorBox, hostBadge, loading, panel } from '../ui/widgets';
import { groupName, loadInto, reloadOnEvents } from './common';
import type { View } from './context';
import { environmentTable, resourceMeters } from './sites';

/** The charts of a host's live samples. */
function hostCharts(): { charts: LiveChart[]; push: (s: HostSample) => void } {
  const cpu = new LiveChart({ title: 'CPU', series: [{ label: 'busy', color: '#2f7de1' }], format: (v) => `${num(v)} %`, range: [0, 100] });
  const memory = new LiveChart({ title: 'Memory', series: [{ label: 'used', color: '#8e44ad' }], format: bytes });
  const network = new LiveChart({ title: 'Network', series: [{ label: 'received', color: '#16a085' }, { label: 'sent', color: '#e67e22' }], format: byteRate });
  const load = new LiveChart({ title: 'Load', series: [{ label: '1 min', color: '#c0392b' }, { label: '5 min', color: '#d4a017' }, { label: '15 min', color: '#7f8c8d' }], format: num });
  return {
    charts: [cpu, memory, network, load],
    push: (s) => {
      const at = Date.parse(s.at);
      cpu.push(at, [s.cpu.usage * 100]);
      memory.push(at, [s.memory.usedBytes]);
      network.push(at, [s.networks.reduce((n, i) => n + i.rxBytesPerSecond, 0), s.networks.reduce((n, i) => n + i.txBytesPerSecond, 0)]);
      load.push(at, [s.load.one, s.load.five, s.load.fifteen]);
    },
  };
}

/** `/hosts/:id`: a host's state, capacity, live metrics and environments. */
export const hostView: View = (ctx) => {
  const [id] = ctx.params;
  const head = h('div', null, loading());
  const envs = h('div', null);
  const live = h('p', { class: 'muted small live-note' }, 'Connecting to the live samples…');
  const { charts, push } = hostCharts();
  ctx.scope.add(() => charts.forEach((c) => c.destroy()));

  const reload = loadInto(ctx.scope, head, () => request(HostDocument, { id }), (d) => {
    const host = d.host;
    document.title = `${host.hostname} · RSP`;
    replace(envs, environmentTable(d.environments.nodes, ctx, () => reload()));
    return [
      h('h1', null, host.hostname, ' ', hostBadge(host.state)),
      h(
        'p',
        { class: 'muted' },
        `${host.arch} · ${host.shareUnits} share units · owned by ${groupName(ctx.groupNames, host.ownerGroupId)} · drivers `,
        host.drivers.map(chip),
      ),
      h('p', null, agentInfo(host.agentConnection)),
      resourceMeters(host),
    ];
  });

  let samples = 0;
  const stop = subscribe(
    HostMetricsDocument,
    { id },
    (d) => {
      push(d.hostMetrics);
      samples++;
      replace(live, `Live: ${samples} sample${samples === 1 ? '' : 's'}, last at ${new Date(d.hostMetrics.at).toLocaleTimeString()}, ${d.hostMetrics.cpu.cores.length} cores, ${bytes(d.hostMetrics.memory.totalBytes)} memory`);
    },
    (e) => replace(live, errorBox(e)),
  );
  ctx.scope.add(stop);
  reloadOnEvents(ctx.scope, ['ENVIRONMENT'], reload);

  return h('div', null, head, panel('Live metrics', live, h('div', { class: 'charts' }, charts.map((c) => c.el))), panel('Environments', envs));
};
