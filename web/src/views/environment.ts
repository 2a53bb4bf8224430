import { request } from '../api/graphql';
import { subscribe } from '../api/live';
import { EnvironmentHistoryDocument, EnvironmentHistoryQuery, EnvironmentSample, EnvironmentDocument, EnvironmentDriversDocument, EnvironmentMetricsDocument, EnvironmentReplicationDocument } from '../api/queries';
import { h, Kept, link, replace } from '../ui/dom';
import { sortBy } from '../ui/data-table';
import { ago, bitRate, byteRate, bytes, num } from '../ui/format';
import { LiveChart } from '../ui/live-chart';
import { terminalPanel } from '../ui/terminal';
import { badge, errorBox, loading, panel, progressBar, table } from '../ui/widgets';
import { environmentActions, groupName, interventionText, loadInto, notFoundState, reloadOnEvents } from './common';
import type { View } from './context';
import { chartsHead, chartsWithPast, PastChart } from './metric-charts';
import { replicationBadge, targetLabel } from './replication';

/** Drivers of virtual machines: their page proposes the serial console rather than a command (other drivers' pages offer their console when they have one). */
const VM_DRIVERS = new Set(['libvirt-kvm', 'libvirt-qemu', 'libvirt-xen', 'uml']);

/** `/environments/:id`: an environment's status, limits, actions, live metrics and operations. */
export const environmentView: View = (ctx) => {
  const [id] = ctx.params;
  const head = h('div', null, loading());
  const ops = h('div', null);
  const live = h('p', { class: 'muted small live-note' }, 'Samples arrive while the environment runs.');
  const charts: Array<PastChart<EnvironmentHistoryQuery, EnvironmentSample>> = [
    { chart: new LiveChart({ title: 'CPU', series: [{ label: 'cores busy', color: '#2f7de1' }], format: num }), history: (a) => [a.cpu.points], live: (s) => [s.cpuUsage] },
    { chart: new LiveChart({ title: 'Memory', series: [{ label: 'used', color: '#8e44ad' }], format: bytes }), history: (a) => [a.memory.points], live: (s) => [s.memoryBytes] },
    {
      chart: new LiveChart({ title: 'Network', series: [{ label: 'received', color: '#16a085' }, { label: 'sent', color: '#e67e22' }], format: byteRate }),
      history: (a) => [a.rx.points, a.tx.points],
      live: (s) => [s.networkRxBytesPerSecond, s.networkTxBytesPerSecond],
    },
  ];
  ctx.scope.add(() => charts.forEach((c) => c.chart.destroy()));
  const past = h('p', { class: 'muted small history-note' });
  const { picker, push } = chartsWithPast(ctx.scope, { charts, note: past, load: (from, step) => request(EnvironmentHistoryDocument, { id, from: from.toISOString(), step }) });

  const terminal = terminalPanel(ctx.scope, { environmentId: id, command: 'sh' });
  const kept = new Kept();
  let consoleChecked = false;
  const reload = loadInto(ctx.scope, head, () => request(EnvironmentDocument, { id, target: id }), (d) => {
    const env = d.environment;
    kept.sweep();
    document.title = `${env.name} · RSP`;
    replace(ops, table(['Kind', 'State', 'Progress', 'Message', 'Updated'], d.operations.nodes.map((o) => [o.kind, badge(o.state), sortBy(progressBar(o.progress, o.state), o.progress), o.error ? `${o.error.code}: ${o.error.message}` : o.message ?? '', sortBy(ago(o.updatedAt), o.updatedAt)]), 'No operations yet: Start, Stop or Restart above starts one.', { label: 'operations of this environment' }));
    const l = env.limits;
    terminal.propose(VM_DRIVERS.has(env.driver) ? 'console' : 'command');
    if (!consoleChecked) {
      consoleChecked = true;
      // The console is offered where the environment's driver has one (VMs, Docker, LXC); a failed look leaves it to the gateway's answer.
      request(EnvironmentDriversDocument, { hostId: env.hostId }).then(
        (r) => {
          const driver = r.drivers.find((d) => d.name === env.driver);
          if (driver) terminal.offerConsole(driver.operations.includes('console') ? null : `The ${env.driver} driver has no console for its environments.`);
        },
        () => undefined,
      );
    }
    terminal.setUnavailable(
      !ctx.viewer.siteAdmin && ctx.viewer.role === 'VIEWER'
        ? 'Your token has the VIEWER role: a terminal needs MEMBER.'
        : env.status === 'RUNNING'
          ? null
          : `A terminal opens in a running environment; this one is ${env.status}.`,
    );
    return [
      h('h1', null, env.name, ' ', badge(env.status)),
      h('p', { class: 'muted' }, `${env.driver} (${env.technology}) on `, link(`/hosts/${env.hostId}`, 'its host'), ` · group ${groupName(ctx.groupNames, env.groupId)} · hostname ${env.iface.hostname} · network ${env.iface.network}${env.addresses.length ? ` · address ${env.addresses.map((a) => `${a.address}/${a.prefix}`).join(', ')}` : ''}${env.iface.ports.length ? ` · ports ${env.iface.ports.map((p) => `${p.hostPort}→${p.port}/${p.protocol}`).join(', ')}` : ''} · ${env.iface.readOnlyRoot ? 'read-only root' : 'writable root'} · created ${ago(env.createdAt)}`),
      env.lastError ? h('div', { class: 'error' }, h('strong', null, 'Last error'), ' ', env.lastError) : null,
      env.intervention ? h('div', { class: 'error' }, h('strong', null, 'Host owners'), ' ', interventionText(env, ctx.groupNames)) : null,
      env.drift ? h('div', { class: 'warning' }, h('strong', null, 'Drift'), ' ', env.drift) : null,
      kept.get(`actions ${env.status}`, () => environmentActions(env, ctx.viewer, () => reload())),
      h('dl', { class: 'facts' },
        h('dt', null, 'CPU'), h('dd', null, `${l.cpuQuota ? `${num(l.cpuQuota)} CPUs` : 'no quota'}, weight ${l.cpuWeight ?? '—'}`),
        h('dt', null, 'Memory'), h('dd', null, l.memoryBytes ? bytes(l.memoryBytes) : 'no limit'),
        h('dt', null, 'Disk'), h('dd', null, l.diskBytes ? bytes(l.diskBytes) : 'no limit'),
        h('dt', null, 'Network'), h('dd', null, l.networkBitsPerSecond ? bitRate(l.networkBitsPerSecond) : 'no limit'),
        h('dt', null, 'Volumes'), h('dd', null, env.volumes.length ? env.volumes.map((v) => `${v.name} (${v.kind}) → ${v.mountPath}${v.readOnly ? ' ro' : ''}`).join(', ') : '—'),
      ),
    ].filter((n) => n !== null);
  }, { notFound: () => gone() });

  const replication = h('div', null, loading());
  const reloadReplication = loadInto(ctx.scope, replication, () => request(EnvironmentReplicationDocument, { id }), (d) => [
    table(
      ['Policy', 'State', 'Target', 'Schedule', 'Last sync', 'Replicas'],
      d.replicationPolicies.map((p) => [link(`/replication/environments/${id}`, p.name), replicationBadge(p.status.state), targetLabel(p.target, { hosts: new Map(d.hosts.nodes.map((x) => [x.id, x.hostname])), sites: new Map(d.sites.nodes.map((x) => [x.id, x.name])), groups: ctx.groupNames }), h('code', null, p.schedule), ago(p.status.lastSyncAt), String(d.replicas.filter((r) => r.policyId === p.id).length)]),
      h('span', null, 'No replication policies for this environment. Create one with ', h('code', null, `rsp replicate policy create ${id} --schedule "every 1 hours"`), '.'),
      { label: 'replication policies' },
    ),
    h('p', null, link(`/replication/environments/${id}`, 'Replication of this environment →')),
  ]);
  reloadOnEvents(ctx.scope, ['REPLICATION'], reloadReplication, (e) => e.replication?.environmentId === id);

  let samples = 0;
  const stop = subscribe(
    EnvironmentMetricsDocument,
    { id },
    (d) => {
      const s = d.environmentMetrics;
      push(Date.parse(s.at), s);
      samples++;
      replace(live, `Live: ${samples} sample${samples === 1 ? '' : 's'}, ${s.pids ?? '?'} processes${s.memoryLimitBytes ? `, memory limit ${bytes(s.memoryLimitBytes)}` : ''}`);
    },
    (e) => replace(live, errorBox(e)),
  );
  ctx.scope.add(stop);
  reloadOnEvents(ctx.scope, ['ENVIRONMENT', 'OPERATION'], reload, (e) => e.environment?.id === id || e.operation?.targetId === id);

  const page = h('div', null, head, panel('Metrics', chartsHead(picker, past), live, h('div', { class: 'charts' }, charts.map((c) => c.chart.el))), panel('Terminal', terminal.element), panel('Replication', replication), panel('Operations', ops));
  // An unknown environment (or one the token may not see): one statement instead of the page, its charts and their errors.
  const gone = () => {
    stop();
    document.title = 'No such environment · RSP';
    replace(page, notFoundState('environment', id, { href: '/environments', label: 'All environments →' }));
  };
  return page;
};
