import { request } from '../api/graphql';
import { SitesDocument } from '../api/queries';
import { h, Kept, link } from '../ui/dom';
import { sortBy } from '../ui/data-table';
import { ago, bytes, num } from '../ui/format';
import { badge, loading, table } from '../ui/widgets';
import { environmentActions, groupName, loadInto, reloadOnEvents } from './common';
import type { View } from './context';

/** `/environments`: every environment the token may see (destroyed ones left out), with its status and actions. */
export const environmentsView: View = (ctx) => {
  const body = h('div', null, loading());
  // Each Delete's confirm step stays open across the live reloads.
  const kept = new Kept();
  const reload = loadInto(ctx.scope, body, () => request(SitesDocument, {}), (d) => {
    kept.sweep();
    const hostnames = new Map(d.sites.nodes.flatMap((s) => s.hosts.nodes.map((x) => [x.id, x.hostname] as const)));
    const envs = d.environments.nodes.filter((e) => e.status !== 'DESTROYED');
    return table(
      ['Environment', 'Status', 'Host', 'Group', 'Driver', 'CPU', 'Memory', 'Created', ''],
      envs.map((e) => [
        link(`/environments/${e.id}`, e.name),
        sortBy(badge(e.status), e.status),
        link(`/hosts/${e.hostId}`, hostnames.get(e.hostId) ?? e.hostId.slice(0, 8)),
        groupName(ctx.groupNames, e.groupId),
        `${e.driver} (${e.technology})`,
        sortBy(e.limits.cpuQuota ? `${num(e.limits.cpuQuota)} CPUs` : 'no quota', e.limits.cpuQuota ?? 0),
        sortBy(e.limits.memoryBytes ? bytes(e.limits.memoryBytes) : 'no limit', e.limits.memoryBytes ?? 0),
        sortBy(h('span', { title: new Date(e.createdAt).toLocaleString() }, ago(e.createdAt)), e.createdAt),
        environmentActions(e, ctx.viewer, () => reload(), kept),
      ]),
      h('span', null, 'No environments yet. Create one from an image with ', h('code', null, 'rsp env create web --host <host-id> --image <image-id> --memory 256MiB'), ' (', h('code', null, 'rsp image import'), ' adds an image).'),
      { label: 'environments', filter: true },
    );
  });
  reloadOnEvents(ctx.scope, ['ENVIRONMENT'], reload);
  return h('div', null, h('h1', null, 'Environments'), body);
};
