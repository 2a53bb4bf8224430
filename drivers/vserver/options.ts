import { join } from 'node:path';
import { namePrefixOf } from '../host/name-prefix';

/** How the vserver driver finds util-vserver on a host. */
export interface VserverDriverOptions {
  /** Registry name; default `vserver`. */
  name?: string;
  /** Prefix of guest names, so several agents can share one host (e.g. `rsp-b-`). Default `rsp-`. */
  namePrefix?: string;
  /** The `vserver` tool; default `vserver` on PATH (/usr/sbin/vserver with util-vserver). */
  vserverTool?: string;
  /** The `vserver-stat` tool; default `vserver-stat` on PATH. */
  statTool?: string;
  /** The config tree root; default /etc/vservers. */
  confDir?: string;
  /** Where guests' root directories (vdir) live; default /vservers. */
  rootDir?: string;
  /** The cgroup mount util-vserver's cgroup support uses; guests' cgroups are `<root>/<controller>/<name>`. Default /sys/fs/cgroup. */
  cgroupRoot?: string;
  /** Extra environment for the tools (the test emulation reads its paths from it). */
  toolEnv?: Record<string, string>;
  /** Where imported images are stored; default `<rootDir>/.rsp-images`. */
  imageDir?: string;
  /**
   * Whether disk limits (`dlimits/`) are offered. util-vserver's kernel enforces them; the test
   * emulation records them but cannot, so tests against it set this to false. Default true.
   */
  diskLimits?: boolean;
  /** Default deadline of calls, ms. Default 60 000. */
  timeoutMs?: number;
  /**
   * Who makes the guests (the installation or agent, see `PluginContext.owner`): recorded in their
   * `rsp.json`; the driver lists, finds and removes only guests of this owner or of none (made
   * before owners existed). Default: none — recorded as none, other owners' guests not seen.
   */
  owner?: string;
}

export type ResolvedVserverOptions = Required<Omit<VserverDriverOptions, 'toolEnv' | 'owner'>> & { toolEnv: Record<string, string>; owner?: string };

export function resolveVserverOptions(options: VserverDriverOptions = {}): ResolvedVserverOptions {
  const rootDir = options.rootDir ?? '/vservers';
  return {
    name: options.name ?? 'vserver',
    namePrefix: namePrefixOf(options.namePrefix),
    vserverTool: options.vserverTool ?? 'vserver',
    statTool: options.statTool ?? 'vserver-stat',
    confDir: options.confDir ?? '/etc/vservers',
    rootDir,
    cgroupRoot: options.cgroupRoot ?? '/sys/fs/cgroup',
    toolEnv: options.toolEnv ?? {},
    imageDir: options.imageDir ?? join(rootDir, '.rsp-images'),
    diskLimits: options.diskLimits ?? true,
    timeoutMs: options.timeoutMs ?? 60_000,
    ...(options.owner ? { owner: options.owner } : {}),
  };
}
