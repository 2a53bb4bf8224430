import { request } from '../api/graphql';
import { Host, SitesDocument } from '../api/queries';
import { h, link } from '../ui/dom';
import { sortBy } from '../ui/data-table';
import { amount } from '../ui/format';
import { agentStateLabel } from '../ui/host-state';
import { chip, hostBadge, loading, meter, table } from '../ui/widgets';
import { groupName, loadInto, reloadOnEvents } from './common';
import type { View } from './context';

/** The resource types shown as a column of capacity bars, in this order. */
const CAPACITY_COLUMNS = [
  ['CPU', 'CPU'],
  ['RAM', 'Memory'],
  ['DISK', 'Disk'],
] as const;

/** A host's use of one resource type as a bar (sorted by the share used), or a dash when it has none. */
function capacityCell(host: Host, type: string) {
  const r = host.resources.find((x) => x.type === type);
  if (!r) return sortBy('—', -1);
  return sortBy(meter(r.used, r.capacity, `${amount(r.used, r.unit)} of ${amount(r.capacity, r.unit)}`), r.capacity > 0 ? r.used / r.capacity : 0);
}

/** What an empty hosts list says: how a machine becomes a host. */
function noHosts(): HTMLElement {
  return h(
    'div',
    null,
    h('p', null, 'No hosts yet. On a machine that should run environments:'),
    h('pre', { class: 'howto' }, h('code', null, 'rsp agent token create box2-agent              # here, as a site admin: a join token\nrsp agent --gateway <this gateway URL> --token <join-token> --drivers docker   # on the machine\nrsp host create box2 --site <site-id> --owner <group-id> --agent box2-agent')),
    h('p', null, 'A gateway started on an empty database registers its own machine (unless ', h('code', null, 'RSP_BOOTSTRAP=off'), '); ', h('code', null, 'rsp init'), ' does it for an explicit set-up.'),
  );
}

/** `/hosts`: every host the token may see, one sortable, filterable row each, with its capacity bars. */
export const hostsView: View = (ctx) => {
  const body = h('div', null, loading());
  const reload = loadInto(ctx.scope, body, () => request(SitesDocument, {}), (d) => {
    const hosts = d.sites.nodes.flatMap((site) => site.hosts.nodes.map((host) => ({ site, host })));
    const envs = new Map<string, number>();
    for (const e of d.environments.nodes) if (e.status !== 'DESTROYED') envs.set(e.hostId, (envs.get(e.hostId) ?? 0) + 1);
    return table(
      ['Host', 'State', 'Site', 'Owner', 'Agent', 'Drivers', ...CAPACITY_COLUMNS.map(([, label]) => label), 'Environments'],
      hosts.map(({ site, host }) => [
        link(`/hosts/${host.id}`, host.hostname),
        sortBy(hostBadge(host.state), host.state),
        site.name,
        groupName(ctx.groupNames, host.ownerGroupId),
        agentStateLabel(host.agentConnection.state),
        host.drivers.map(chip),
        ...CAPACITY_COLUMNS.map(([type]) => capacityCell(host, type)),
        sortBy(String(envs.get(host.id) ?? 0), envs.get(host.id) ?? 0),
      ]),
      noHosts(),
      { label: 'hosts', filter: true },
    );
  });
  reloadOnEvents(ctx.scope, ['ENVIRONMENT', 'HOST'], reload);
  return h('div', null, h('h1', null, 'Hosts'), body);
};
