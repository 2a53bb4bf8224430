import type { EnvironmentInterface } from '../persistence/entities';
import type { EnvironmentRequest, VolumeRequest } from './protocol';

/**
 * The label an agent puts on every environment it makes (`InProcessAgent`, in-process or remote):
 * its agent id. Two gateway replicas' in-process agents on one engine share an owner and see each
 * other's environments; the split-brain guard removes only those with its agent's mark (or none).
 */
export const LABEL_AGENT = 'rsp.agent';

/** What an environment record holds that its host agent needs to make it. */
export interface RecordedEnvironment {
  id: string;
  groupId: string;
  limits: EnvironmentRequest['limits'];
  volumes: VolumeRequest[];
  iface: EnvironmentInterface;
  command: string[] | null;
}

/**
 * The request that makes a recorded environment on its agent: its limits, volumes, interface and
 * command, labelled with its group. An assigned address names the host's managed network, the
 * address and the gateway; the driver makes that network when it is missing.
 */
export function environmentRequest(env: RecordedEnvironment): EnvironmentRequest {
  const { address } = env.iface;
  const network = address ? { mode: 'bridge' as const, network: address.network, ipv4: address.ipv4, gateway: address.gateway, ...(address.ipv6 ? { ipv6: address.ipv6, gateway6: address.gateway6 } : {}) } : { mode: env.iface.network };
  return {
    id: env.id,
    limits: env.limits,
    volumes: env.volumes.map((v) => ({ name: v.name, kind: v.kind, mountPath: v.mountPath, readOnly: v.readOnly })),
    iface: {
      hostname: env.iface.hostname,
      dns: env.iface.dns,
      network,
      config: env.iface.config,
      log: { target: 'local' },
      ...(env.iface.ports?.length ? { ports: env.iface.ports } : {}),
      ...(env.iface.readOnlyRoot ? { readOnlyRoot: true } : {}),
    },
    ...(env.command ? { command: env.command } : {}),
    labels: { 'rsp.group': env.groupId },
  };
}
