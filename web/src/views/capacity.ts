import { request } from '../api/graphql';
import { CapacityDocument, Resource } from '../api/queries';
import { h, link } from '../ui/dom';
import { sortBy } from '../ui/data-table';
import { amount } from '../ui/format';
import { hostBadge, loading, meter, panel, table } from '../ui/widgets';
import { loadInto, reloadOnEvents } from './common';
import type { View } from './context';

/** `/capacity`: free and used capacity per resource type over all hosts, then per host. */
export const capacityView: View = ({ scope }) => {
  const body = h('div', null, loading());
  const reload = loadInto(scope, body, () => request(CapacityDocument, {}), (d) => {
    const hosts = new Map(d.hosts.nodes.map((x) => [x.id, x]));
    const byType = new Map<string, Resource[]>();
    for (const r of d.resources.nodes) byType.set(`${r.type}\u0000${r.unit}`, [...(byType.get(`${r.type}\u0000${r.unit}`) ?? []), r]);
    if (!byType.size) return h('p', { class: 'empty' }, 'No resources are described yet. Register a host (', h('code', null, 'rsp host create'), ') and describe what it has with ', h('code', null, 'rsp resource create'), '.');
    return [...byType.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([key, rs]) => {
      const [type, unit] = key.split('\u0000') as [string, string];
      const capacity = rs.reduce((n, r) => n + r.capacity, 0);
      const used = rs.reduce((n, r) => n + r.used, 0);
      return panel(
        [type, h('span', { class: 'muted' }, ` ${amount(capacity - used, unit)} free of ${amount(capacity, unit)}`)],
        h('div', { class: 'meters', dataset: { resourceType: type } }, meter(used, capacity, `${amount(used, unit)} used`)),
        table(
          ['Host', 'State', 'Capacity', 'Used', 'Free', 'Use'],
          rs.map((r) => {
            const host = hosts.get(r.hostId);
            return [link(`/hosts/${r.hostId}`, host?.hostname ?? r.hostId.slice(0, 8)), host ? hostBadge(host.state) : '', sortBy(amount(r.capacity, unit), r.capacity), sortBy(amount(r.used, unit), r.used), sortBy(amount(r.free, unit), r.free), sortBy(meter(r.used, r.capacity, r.description || type), r.capacity > 0 ? r.used / r.capacity : 0)];
          }),
          'No host has this resource.',
          { label: `${type} per host` },
        ),
      );
    });
  });
  reloadOnEvents(scope, ['OPERATION'], reload);
  return h('div', null, h('h1', null, 'Capacity'), h('p', { class: 'muted' }, 'Capacity is (total − reserved) × allocation ratio; used is what allocations hold.'), body);
};
