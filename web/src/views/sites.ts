import { request } from '../api/graphql';
import { Environment, Host, SitesDocument } from '../api/queries';
import { h, Kept, link } from '../ui/dom';
import { amount } from '../ui/format';
import { agentInfo, badge, chip, hostBadge, loading, meter, panel, table } from '../ui/widgets';
import { environmentActions, groupName, interventionText, loadInto, reloadOnEvents } from './common';
import type { View, ViewContext } from './context';

/** The environments of a host as a table with their status and actions (their Delete buttons in `kept` across reloads). */
export function environmentTable(envs: Environment[], ctx: ViewContext, changed: () => void, kept?: Kept): HTMLElement {
  return table(
    ['Environment', 'Status', 'Driver', 'Group', 'Intervention', ''],
    envs.map((e) => [link(`/environments/${e.id}`, e.name), badge(e.status), e.driver, groupName(ctx.groupNames, e.groupId), interventionText(e, ctx.groupNames), environmentActions(e, ctx.viewer, changed, kept)]),
    h('span', null, 'No environments you may see on this host. Create one with ', h('code', null, 'rsp env create <name> --host <host-id> --image <image-id>'), '.'),
    { label: 'environments' },
  );
}

/** Used of capacity for a host's main resources, as meters. */
export function resourceMeters(host: Host): HTMLElement {
  const main = host.resources.filter((r) => ['CPU', 'RAM', 'DISK', 'NET_BANDWIDTH'].includes(r.type));
  return h('div', { class: 'meters' }, main.map((r) => meter(r.used, r.capacity, `${r.type} ${amount(r.used, r.unit)} of ${amount(r.capacity, r.unit)}`)));
}

/** `/sites`: sites → hosts → environments, with host state, capacity and environment actions. */
export const sitesView: View = (ctx) => {
  const body = h('div', null, loading());
  // Each Delete's confirm step stays open across the live reloads.
  const kept = new Kept();
  const reload = loadInto(ctx.scope, body, () => request(SitesDocument, {}), (d) => {
    kept.sweep();
    if (!d.sites.nodes.length) return h('p', { class: 'empty' }, 'No sites yet. A site admin creates one with ', h('code', null, 'rsp site create <name> --owner <group-id>'), '.');
    return d.sites.nodes.map((site) =>
      panel(
        [site.name, h('span', { class: 'muted' }, ` ${site.location || ''} · ${site.placementPolicy.toLowerCase()} · owned by ${groupName(ctx.groupNames, site.ownerGroupId)}`)],
        site.hosts.nodes.length
          ? site.hosts.nodes.map((host) =>
              h(
                'div',
                { class: 'host', dataset: { host: host.hostname } },
                h(
                  'div',
                  { class: 'host-head' },
                  h('h3', null, link(`/hosts/${host.id}`, host.hostname)),
                  hostBadge(host.state),
                  h('span', { class: 'muted' }, host.arch),
                  host.drivers.map(chip),
                  agentInfo(host.agentConnection),
                ),
                resourceMeters(host),
                environmentTable(d.environments.nodes.filter((e) => e.hostId === host.id), ctx, () => reload(), kept),
              ),
            )
          : h('p', { class: 'empty' }, 'No hosts in this site yet. Run ', h('code', null, 'rsp agent --gateway <url> --token <join-token> --drivers docker'), ' on the machine, then ', h('code', null, `rsp host create <name> --site ${site.id} --owner <group-id> --agent <agent-name>`), '.'),
      ),
    );
  });
  reloadOnEvents(ctx.scope, ['ENVIRONMENT'], reload);
  return h('div', null, h('h1', null, 'Sites, hosts and environments'), body);
};
