import { GraphQLRequestError } from '../../api/graphql';
import type { PortInput, VolumeInput } from '../../api/queries';

/** `name:/mount/path[:ro]` lines as volumes (kept outside the image: they survive rebuilds). */
export function parseVolumes(text: string): VolumeInput[] {
  return text.split('\n').map((l) => l.trim()).filter(Boolean).map((line) => {
    const [name, mountPath, flag] = line.split(':');
    if (!name || !mountPath?.startsWith('/') || (flag && flag !== 'ro')) throw new GraphQLRequestError(`Volume "${line}" is not name:/mount/path or name:/mount/path:ro`, 'BAD_USER_INPUT');
    return { name, mountPath, readOnly: flag === 'ro', kind: 'data' };
  });
}

/** `hostPort:port[/udp]` entries (comma or space separated) as published ports. */
export function parsePorts(text: string): PortInput[] {
  return text.split(/[\s,]+/).filter(Boolean).map((entry) => {
    const m = /^(\d+):(\d+)(?:\/(tcp|udp))?$/.exec(entry);
    if (!m) throw new GraphQLRequestError(`Port "${entry}" is not hostPort:port or hostPort:port/udp`, 'BAD_USER_INPUT');
    return { hostPort: Number(m[1]), port: Number(m[2]), protocol: m[3] ?? 'tcp' };
  });
}
