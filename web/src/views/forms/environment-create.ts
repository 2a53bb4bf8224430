import { GraphQLRequestError, request } from '../../api/graphql';
import { EnvCreateDocument, FormChoicesDocument, FormChoicesQuery, LimitsInput, PlacementCandidatesDocument, ResourceWantInput, StartEnvironmentDocument } from '../../api/queries';
import { h, link } from '../../ui/dom';
import { checked, field, form, input, keyValues, numberOf, select, textarea, valueOf } from '../../ui/form';
import { followOperation } from '../../ui/operation-dock';
import { errorBox, loading, panel } from '../../ui/widgets';
import { loadInto } from '../common';
import type { View, ViewContext } from '../context';
import { parsePorts, parseVolumes } from './entries';
import { groupOptions } from './image-upload';

/** The host choice that asks placement (the dry run's best candidate) instead of naming a host. */
const PLACEMENT = '';

const MIB = 2 ** 20;
const GIB = 2 ** 30;

/** The resources that limits claim, as placement weighs them (CPU cores, RAM and DISK bytes). */
function wants(limits: LimitsInput): ResourceWantInput[] {
  const out: ResourceWantInput[] = [];
  if (limits.cpuQuota) out.push({ type: 'CPU', amount: limits.cpuQuota, unit: 'CORES' });
  if (limits.memoryBytes) out.push({ type: 'RAM', amount: limits.memoryBytes, unit: 'BYTES' });
  if (limits.diskBytes) out.push({ type: 'DISK', amount: limits.diskBytes, unit: 'BYTES' });
  return out;
}

/**
 * The host placement chooses for these limits: the dry run's best-ranked candidate
 * (placementCandidates), or a CONFLICT that lists why each host was rejected.
 */
async function placedHost(groupId: string, technology: string, limits: LimitsInput): Promise<string> {
  const resources = wants(limits);
  if (!resources.length) throw new GraphQLRequestError('Give a CPU, memory or disk limit so that placement can weigh the hosts, or choose a host', 'BAD_USER_INPUT');
  const { placementCandidates: p } = await request(PlacementCandidatesDocument, { request: { groupId, resources, technologies: [technology] } });
  const best = p.candidates[0];
  if (!best) throw new GraphQLRequestError(`No host fits: ${p.rejected.map((r) => `${r.hostname} (${r.filter}: ${r.reason})`).join('; ') || 'no hosts'}`, 'CONFLICT');
  return best.hostId;
}

/** The create form over the images and hosts the token may see. */
function environmentForm(ctx: ViewContext, d: FormChoicesQuery, imageId: string | null): HTMLFormElement {
  const images = d.images.filter((i) => i.digest);
  const hosts = d.hosts.nodes.filter((x) => x.state === 'UP');
  return form({
    label: 'New environment',
    submit: 'Create',
    body: [
      field('Group', select('group', groupOptions(ctx), ctx.viewer.groupId ?? undefined), 'Its share is charged; its members run it.'),
      // The class's '-' is escaped: browsers compile a pattern with the v flag, where a bare '-' ending a class is invalid (the pattern is then ignored).
      field('Name', input('name', { required: true, placeholder: 'web', pattern: '[a-z0-9]([a-z0-9\\-]*[a-z0-9])?', autocomplete: 'off' }), 'A DNS label, unique in the group.'),
      field('Image', select('image', images.map((i) => [i.id, `${i.name}:${i.version} (${i.technology})`]), imageId ?? undefined, { required: true })),
      field('Host', select('host', [[PLACEMENT, 'Let placement choose'], ...hosts.map((x): [string, string] => [x.id, `${x.hostname} (${x.drivers.join(', ')})`])])),
      field('CPU limit (cores)', input('cpu', { type: 'number', min: 0, step: 0.1, inputmode: 'decimal' })),
      field('Memory limit (MiB)', input('memory', { type: 'number', min: 0, step: 1, inputmode: 'numeric' })),
      field('Disk limit (GiB)', input('disk', { type: 'number', min: 0, step: 0.1, inputmode: 'decimal' })),
      field('Network', select('network', [['', 'Default of the driver'], ['bridge', 'bridge: an address of the host’s range'], ['none', 'none: loopback only']])),
      field('Published ports', input('ports', { placeholder: '8080:80, 5353:53/udp', autocomplete: 'off' }), 'hostPort:port[/udp], reachable from outside the host.'),
      h('div', { class: 'field-wide' }, field('Volumes', textarea('volumes', { placeholder: 'data:/data\nconf:/etc/app:ro' }), 'One per line: name:/mount/path, :ro for read-only. They survive rebuilds.')),
      h('div', { class: 'field-wide' }, field('Config values', textarea('config', { placeholder: 'SITE=alpha\nMODE=production' }), 'KEY=value per line: environment variables and /etc/rsp/config.env.')),
      field('Start once created', input('start', { type: 'checkbox', checked: true })),
    ],
    onSubmit: async (el) => {
      const image = images.find((i) => i.id === valueOf(el, 'image'));
      if (!image) throw new GraphQLRequestError('Choose an image (upload one on the Images page)', 'BAD_USER_INPUT');
      const groupId = valueOf(el, 'group');
      const limits: LimitsInput = { cpuQuota: numberOf(el, 'cpu'), memoryBytes: numberOf(el, 'memory', MIB), diskBytes: numberOf(el, 'disk', GIB) };
      const volumes = parseVolumes(valueOf(el, 'volumes'));
      const ports = parsePorts(valueOf(el, 'ports'));
      const config = keyValues(valueOf(el, 'config'));
      const hostId = valueOf(el, 'host') || (await placedHost(groupId, image.technology, limits));
      const name = valueOf(el, 'name');
      const { createEnvironment: created } = await request(EnvCreateDocument, {
        input: {
          groupId,
          hostId,
          name,
          imageId: image.id,
          limits,
          ...(volumes.length ? { volumes } : {}),
          ...(ports.length ? { ports } : {}),
          ...(Object.keys(config).length ? { config } : {}),
          ...(valueOf(el, 'network') ? { network: valueOf(el, 'network') } : {}),
        },
      });
      const env = created.environment;
      const start = checked(el, 'start');
      followOperation(created.operation, `Create ${env.name}`, (op) => {
        if (op.state !== 'SUCCEEDED' || !start) return;
        request(StartEnvironmentDocument, { id: env.id }).then(
          ({ op: started }) => followOperation(started, `Start ${env.name}`),
          (e: unknown) => el.append(errorBox(e)),
        );
      });
      el.reset();
      return ['Creating ', link(`/environments/${env.id}`, env.name), ` on ${d.hosts.nodes.find((x) => x.id === env.hostId)?.hostname ?? 'its host'}: follow it below.`];
    },
  });
}

/** `/environments/new` (`?image=<id>` chooses the image): the create form. */
export const environmentCreateView: View = (ctx) => {
  const imageId = new URLSearchParams(location.search).get('image');
  document.title = 'New environment · RSP';
  const body = h('div', null, loading());
  loadInto(ctx.scope, body, () => request(FormChoicesDocument, {}), (d) =>
    d.images.some((i) => i.digest)
      ? environmentForm(ctx, d, imageId)
      : h('p', { class: 'empty' }, 'No image with content yet: ', link('/images', 'upload one first'), '.'),
  );
  return h('div', null, h('h1', null, 'New environment'), panel('From an image', body));
};
