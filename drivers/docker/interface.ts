import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerCreateOptions, HostConfig } from 'dockerode';
import type { InterfaceSpec, VolumeSpec } from '../contract';
import { BadInputError } from '../errors';
import { WRITABLE_TMPFS } from '../host/rootfs';

/**
 * The seed 002 host↔image interface, the Docker way:
 * - hostname → the container's hostname;
 * - DNS servers → `/etc/resolv.conf` (Docker's `Dns`);
 * - network → `none`, the default `bridge`, or a named Docker network (`bridge` field), with a
 *   static IPv4 address on a user-defined network (a managed one is made by `ManagedNetworks`);
 *   on a named network the DNS servers are written to the container's `/etc/resolv.conf` (bind
 *   mounted from the state directory), as on Docker's default bridge;
 * - published ports → port bindings on every host address;
 * - a read-only root → `ReadonlyRootfs`, with a tmpfs on `/tmp` and `/run`;
 * - log destination → the `local` log driver, or `syslog` with its address;
 * - config values → environment variables, and the file `/etc/rsp/config.env` (KEY=VALUE lines),
 *   bind-mounted read-only from the driver's state directory;
 * - volumes → bind mounts of directories outside the image (created by the caller).
 */
export const CONFIG_ENV_PATH = '/etc/rsp/config.env';

const CONFIG_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Checks the interface and volumes; BAD_USER_INPUT on the first problem. */
export function assertInterface(iface: InterfaceSpec, volumes: VolumeSpec[] = []): void {
  if (!/^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,62})$/.test(iface.hostname)) throw new BadInputError(`"${iface.hostname}" is not a valid hostname`, { hostname: iface.hostname });
  for (const [key, value] of Object.entries(iface.config ?? {})) {
    if (!CONFIG_KEY.test(key)) throw new BadInputError(`config key "${key}" is not a valid environment variable name`, { key });
    if (/[\n\r\0]/.test(value)) throw new BadInputError(`config value of ${key} contains a line break or NUL`, { key });
  }
  for (const volume of volumes) {
    if (!volume.hostPath.startsWith('/') || !volume.mountPath.startsWith('/')) throw new BadInputError(`volume ${volume.name}: hostPath and mountPath must be absolute`, { volume: volume.name });
    if (volume.hostPath.includes(':') || volume.mountPath.includes(':')) throw new BadInputError(`volume ${volume.name}: paths may not contain ":"`, { volume: volume.name });
  }
  if (iface.network?.ipv4 && !iface.network.bridge && !iface.network.network) throw new BadInputError('a static IPv4 address needs a named Docker network (network.bridge or network.network)', {});
  const published = new Set<string>();
  for (const p of iface.ports ?? []) {
    if (![p.hostPort, p.port].every((n) => Number.isInteger(n) && n >= 1 && n <= 65535)) throw new BadInputError(`port ${p.hostPort}→${p.port}: ports are 1–65535`, { hostPort: p.hostPort, port: p.port });
    if (p.protocol !== 'tcp' && p.protocol !== 'udp') throw new BadInputError(`port ${p.hostPort}: protocol is tcp or udp, not ${String(p.protocol)}`, { protocol: p.protocol });
    if (published.has(`${p.hostPort}/${p.protocol}`)) throw new BadInputError(`host port ${p.hostPort}/${p.protocol} is published twice`, { hostPort: p.hostPort });
    published.add(`${p.hostPort}/${p.protocol}`);
  }
  if (iface.ports?.length && iface.network?.mode === 'none') throw new BadInputError('published ports need a network (network.mode bridge)', {});
}

/** Directories of a read-only root that stay writable, as tmpfs. */
export { WRITABLE_TMPFS };

/** The `config.env` text for `config`. */
export function configEnvText(config: Record<string, string> | undefined): string {
  return Object.entries(config ?? {}).map(([k, v]) => `${k}=${v}\n`).join('');
}

/** Writes the environment's `config.env` under `stateDir/<id>/`; returns the directory. */
export async function writeConfigFiles(stateDir: string, id: string, iface: InterfaceSpec): Promise<string> {
  const dir = join(stateDir, id);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'config.env'), configEnvText(iface.config), { mode: 0o644 });
  if (ownResolvConf(iface)) await writeFile(join(dir, 'resolv.conf'), iface.dns!.map((d) => `nameserver ${d}\n`).join(''), { mode: 0o644 });
  return dir;
}

/** Removes what `writeConfigFiles` wrote. */
export async function removeConfigFiles(stateDir: string, id: string): Promise<void> {
  await rm(join(stateDir, id), { recursive: true, force: true });
}

/** True when the container gets RSP's own `/etc/resolv.conf`: DNS servers asked for on a named network, where Docker would write its embedded resolver instead. */
function ownResolvConf(iface: InterfaceSpec): boolean {
  const named = iface.network?.network ?? iface.network?.bridge;
  return !!iface.dns?.length && iface.network?.mode === 'bridge' && !!named && named !== 'bridge';
}

/** The Docker network mode of a container with interface `iface`: `none`, a named network, or the default `bridge`. */
export function networkModeOf(iface: InterfaceSpec): string {
  const network = iface.network ?? { mode: 'bridge' as const };
  return network.mode === 'none' ? 'none' : (network.network ?? network.bridge ?? 'bridge');
}

/** The parts of the container's create options that carry the interface and volumes. */
export function interfaceToCreateOptions(iface: InterfaceSpec, volumes: VolumeSpec[], configDir: string): Partial<ContainerCreateOptions> & { HostConfig: Partial<HostConfig> } {
  const binds = [`${join(configDir, 'config.env')}:${CONFIG_ENV_PATH}:ro`, ...volumes.map((v) => `${v.hostPath}:${v.mountPath}${v.readOnly ? ':ro' : ''}`)];
  if (ownResolvConf(iface)) binds.push(`${join(configDir, 'resolv.conf')}:/etc/resolv.conf:ro`);
  const network = iface.network ?? { mode: 'bridge' as const };
  const networkMode = networkModeOf(iface);
  const host: Partial<HostConfig> = {
    Binds: binds,
    NetworkMode: networkMode,
    LogConfig: iface.log?.target === 'syslog' ? { Type: 'syslog', Config: { 'syslog-address': iface.log.address } } : { Type: 'local', Config: {} },
  };
  if (iface.dns?.length) host.Dns = iface.dns;
  if (iface.readOnlyRoot) {
    host.ReadonlyRootfs = true;
    host.Tmpfs = { ...WRITABLE_TMPFS };
  }
  const options: Partial<ContainerCreateOptions> & { HostConfig: Partial<HostConfig> } = {
    Hostname: iface.hostname,
    Env: Object.entries(iface.config ?? {}).map(([k, v]) => `${k}=${v}`),
    HostConfig: host,
  };
  if (iface.ports?.length) {
    options.ExposedPorts = Object.fromEntries(iface.ports.map((p) => [`${p.port}/${p.protocol}`, {}]));
    const bindings: Record<string, Array<{ HostPort: string }>> = {};
    for (const p of iface.ports) (bindings[`${p.port}/${p.protocol}`] ??= []).push({ HostPort: String(p.hostPort) });
    host.PortBindings = bindings;
  }
  if (network.mode === 'bridge' && network.ipv4) {
    // The hostname as an alias: Docker's embedded DNS on the network answers it to the other containers there.
    options.NetworkingConfig = { EndpointsConfig: { [networkMode]: { IPAMConfig: { IPv4Address: network.ipv4.split('/')[0], ...(network.ipv6 ? { IPv6Address: network.ipv6.split('/')[0] } : {}) }, Aliases: [iface.hostname] } } };
  }
  return options;
}
