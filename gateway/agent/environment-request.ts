import type { EnvironmentRequest, VolumeRequest } from './protocol';

/** What an environment record holds that its host agent needs to make it. */
export interface RecordedEnvironment {
  id: string;
  groupId: string;
  limits: EnvironmentRequest['limits'];
  volumes: VolumeRequest[];
  iface: { hostname: string; dns: string[]; network: 'none' | 'bridge'; config: Record<string, string> };
  command: string[] | null;
}

/** The request that makes a recorded environment on its agent: its limits, volumes, interface and command, labelled with its group. */
export function environmentRequest(env: RecordedEnvironment): EnvironmentRequest {
  return {
    id: env.id,
    limits: env.limits,
    volumes: env.volumes.map((v) => ({ name: v.name, kind: v.kind, mountPath: v.mountPath, readOnly: v.readOnly })),
    iface: { hostname: env.iface.hostname, dns: env.iface.dns, network: { mode: env.iface.network }, config: env.iface.config, log: { target: 'local' } },
    ...(env.command ? { command: env.command } : {}),
    labels: { 'rsp.group': env.groupId },
  };
}
