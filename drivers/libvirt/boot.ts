import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import { chmod, copyFile, mkdir, rename, rm, stat } from 'node:fs/promises';
import { release } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { BadInputError } from '../errors';
import type { InterfaceSpec } from '../contract';
import { managedNetworkOf } from '../host/managed-network';
import { assertConfigValues, configValues } from '../host/rootfs';

/**
 * Direct kernel boot of VMs: finding a kernel on the host, staging it where the hypervisor's user
 * can read it, and the kernel command line that carries the seed-002 interface into the guest.
 */

/** A kernel (and initramfs) to boot VMs with, and the command line they all get. */
export interface KernelBoot {
  path: string;
  initrd?: string;
  cmdline?: string;
}

/** x86's COMMAND_LINE_SIZE: the kernel truncates anything longer. */
export const MAX_CMDLINE_BYTES = 2048;

/** The command line a root filesystem image boots with when the caller gives none. */
export const ROOTFS_CMDLINE = 'console=ttyS0 root=/dev/vda rw panic=-1 quiet';

/**
 * The kernel command line of one environment: the driver's `base` line, `rsp.hostname=<hostname>`,
 * on a managed network with an IPv6 side `rsp.ipv6=<address>/64 rsp.gateway6=<gateway>` (the static
 * address the guest's init gives its NIC: libvirt's DHCP has no way to hand it out), and one `rsp.config.<KEY>=<value>` per config value (hostname and syslog address included, as
 * `configValues` gives them), values percent-encoded (`percentEncode`) so no space, quote or
 * newline reaches the kernel's parser. The guest's init decodes them (e.g. into /etc/rsp/config.env).
 * BAD_USER_INPUT when a key is not a variable name or the line would pass the kernel's 2048 bytes.
 */
export function kernelCmdline(base: string | undefined, iface: InterfaceSpec): string {
  assertConfigValues(iface.config);
  const ipv6 = iface.network?.mode === 'bridge' ? managedNetworkOf(iface.network)?.ipv6 : undefined;
  const words = [base, `rsp.hostname=${iface.hostname}`, ...(ipv6 ? [`rsp.ipv6=${ipv6.address}/64`, `rsp.gateway6=${ipv6.gateway}`] : []), ...Object.entries(configValues(iface)).map(([k, v]) => `rsp.config.${k}=${percentEncode(v)}`)];
  const line = words.filter(Boolean).join(' ');
  if (Buffer.byteLength(line) >= MAX_CMDLINE_BYTES) {
    throw new BadInputError(`config values do not fit on the kernel command line (${Buffer.byteLength(line)} of ${MAX_CMDLINE_BYTES - 1} bytes once encoded)`, { bytes: Buffer.byteLength(line) });
  }
  return line;
}

/**
 * The base command line of a guest whose root disk is read-only: `base` with its `rw`/`ro` words
 * replaced by one `ro`, so the kernel (or the image's initramfs) mounts the root read-only rather
 * than failing on a read-only device.
 */
export function readOnlyRootCmdline(base: string | undefined): string {
  return [...(base ?? '').split(' ').filter((w) => w && w !== 'rw' && w !== 'ro'), 'ro'].join(' ');
}

/** `encodeURIComponent`, plus ! ' ( ) * : what is left is letters, digits, - _ . ~ and %XX. */
export function percentEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * The host's own kernel for direct boot: `/boot/vmlinuz-<running release>` when readable, else the
 * newest readable `/boot/vmlinuz-*`, with the `/boot/initrd.img-<release>` of the same release when
 * there is one (Debian's initramfs loads virtio and ext4, which its kernel has as modules).
 */
export function hostKernel(bootDir = '/boot'): KernelBoot | undefined {
  const readable = (p: string) => {
    try {
      accessSync(p, constants.R_OK);
      return true;
    } catch {
      return false;
    }
  };
  let names: string[] = [];
  try {
    names = readdirSync(bootDir).filter((n) => /^vmlinuz-/.test(n)).sort();
  } catch {
    return undefined;
  }
  const running = `vmlinuz-${release()}`;
  const ordered = [...(names.includes(running) ? [running] : []), ...names.reverse()];
  const kernel = ordered.find((n) => readable(join(bootDir, n)));
  if (!kernel) return undefined;
  const initrd = join(bootDir, `initrd.img-${kernel.slice('vmlinuz-'.length)}`);
  return { path: join(bootDir, kernel), initrd: existsSync(initrd) && readable(initrd) ? initrd : undefined };
}

/**
 * Copies the kernel and initrd into `<dataDir>/boot/` (mode 0644) once per source version, and
 * returns the copies: the hypervisor runs as its own user (libvirt-qemu), which may not read
 * `/boot` files, and libvirt relabels the files a domain boots from — never the host's own.
 */
export async function stageKernel(kernel: KernelBoot, dataDir: string): Promise<KernelBoot> {
  const dir = join(dataDir, 'boot');
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o755);
  const stage = async (source: string): Promise<string> => {
    const info = await stat(source).catch(() => undefined);
    if (!info?.isFile()) throw new BadInputError(`boot file ${source} does not exist or is not a file`, { path: source });
    if (dirname(source) === dir) return source;
    const target = join(dir, `${basename(source)}-${info.size}-${Math.floor(info.mtimeMs)}`);
    if (existsSync(target)) return target;
    const partial = `${target}.${randomBytes(4).toString('hex')}`;
    try {
      await copyFile(source, partial);
      await chmod(partial, 0o644);
      await rename(partial, target);
    } finally {
      await rm(partial, { force: true });
    }
    return target;
  };
  return { path: await stage(kernel.path), initrd: kernel.initrd && (await stage(kernel.initrd)), cmdline: kernel.cmdline };
}

/** The first ancestor of `path` (itself included) the hypervisor's user cannot traverse (no o+x), if any. */
export async function untraversable(path: string): Promise<string | undefined> {
  for (let p = path; ; p = dirname(p)) {
    const info = await stat(p).catch(() => undefined);
    if (info && (info.mode & 0o001) === 0) return p;
    if (dirname(p) === p) return undefined;
  }
}
