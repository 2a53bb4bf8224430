import { join } from 'node:path';
import { namePrefixOf } from '../host/name-prefix';

/** How the LXC driver is set up on a host. */
export interface LxcDriverOptions {
  /** Registry name; default `lxc`. */
  name?: string;
  /** Prefix of container names, so several agents can share one engine (e.g. `rsp-b-`). Default `rsp-`. */
  namePrefix?: string;
  /** Where container directories live (`lxc-* -P`). Default `<dataDir>/lxc`, else /var/lib/lxc. */
  lxcPath?: string;
  /** RSP's data directory; imported images go to `<dataDir>/images/lxc`. */
  dataDir?: string;
  /** Where imported images are stored; default `<dataDir>/images/lxc` or `<lxcPath>/.rsp-images`. */
  imageDir?: string;
  /** Bridge used for `network.mode = bridge` when the spec names none. Default `lxcbr0`. */
  defaultBridge?: string;
  /** Directory holding the `lxc-*` tools; default: found on PATH. */
  toolDir?: string;
  /** Where cgroups are mounted. Default /sys/fs/cgroup. */
  cgroupRoot?: string;
  /** Default deadline of engine calls, ms. Default 60 000. */
  timeoutMs?: number;
  /**
   * Who makes the containers (the installation or agent, see `PluginContext.owner`): recorded in
   * their `rsp.json`; the driver lists, finds and removes only containers of this owner or of
   * none (made before owners existed). Default: none.
   */
  owner?: string;
}

/** The options with every default filled in. */
export interface ResolvedLxcOptions {
  name: string;
  namePrefix: string;
  lxcPath: string;
  imageDir: string;
  defaultBridge: string;
  cgroupRoot: string;
  timeoutMs: number;
  owner?: string;
  tool(name: LxcTool): string;
}

/** The lxc-* tools the driver runs. */
export type LxcTool = 'lxc-start' | 'lxc-stop' | 'lxc-info' | 'lxc-destroy' | 'lxc-attach' | 'lxc-console' | 'lxc-snapshot' | 'lxc-wait';

/** The driver's options with their defaults filled in (its folders under `dataDir` when given, else LXC's own /var/lib/lxc). */
export function resolveLxcOptions(options: LxcDriverOptions = {}): ResolvedLxcOptions {
  const lxcPath = options.lxcPath ?? (options.dataDir ? join(options.dataDir, 'lxc') : '/var/lib/lxc');
  return {
    name: options.name ?? 'lxc',
    namePrefix: namePrefixOf(options.namePrefix),
    lxcPath,
    imageDir: options.imageDir ?? (options.dataDir ? join(options.dataDir, 'images', 'lxc') : join(lxcPath, '.rsp-images')),
    defaultBridge: options.defaultBridge ?? 'lxcbr0',
    cgroupRoot: options.cgroupRoot ?? '/sys/fs/cgroup',
    timeoutMs: options.timeoutMs ?? 60_000,
    ...(options.owner ? { owner: options.owner } : {}),
    tool: (tool) => (options.toolDir ? join(options.toolDir, tool) : tool),
  };
}
