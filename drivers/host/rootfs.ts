import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, lstat, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BadInputError } from '../errors';
import type { ImportedImage, InterfaceSpec, VolumeSpec } from '../contract';
import { VOLUME_NAME_PATTERN } from '../contract';
import { runToolOk } from './run-tool';

/**
 * Root filesystem helpers shared by the drivers that keep a container's root filesystem as a
 * plain directory on the host (LXC with the `dir` backend, vserver): unpack an image tarball,
 * write the seed-002 host↔image interface files, store imported images.
 */

/** Unpacks a root filesystem tarball (any compression GNU tar recognises) into `target`, which must exist. */
export async function unpackRootfs(tarball: string, target: string, signal?: AbortSignal): Promise<void> {
  const info = await stat(tarball).catch(() => undefined);
  if (!info?.isFile()) throw new BadInputError(`root filesystem image ${tarball} does not exist or is not a file`, { image: tarball });
  await runToolOk('tar', ['-x', '--numeric-owner', '-f', tarball, '-C', target], { signal, describe: `unpacking ${tarball}` });
}

/** The `init` RSP gives an image with no command: waits, and exits cleanly on TERM, PWR or INT. */
export const RSP_INIT_SCRIPT = "#!/bin/sh\n# RSP default init: idle until asked to stop.\ntrap 'exit 0' TERM PWR INT\nwhile true; do sleep 1 & wait $!; done\n";

/** Directories of a read-only root that stay writable, as tmpfs (with their mount options). */
export const WRITABLE_TMPFS: Record<string, string> = { '/tmp': 'rw,nosuid,nodev,mode=1777', '/run': 'rw,nosuid,nodev,mode=755' };

/**
 * Makes directory `path` (absolute, as seen inside) in a root filesystem from the host's side,
 * never following a link the image holds: a component that is a symbolic link, or not a
 * directory, is BAD_USER_INPUT.
 */
export async function mkdirInside(rootfs: string, path: string): Promise<void> {
  let at = rootfs;
  for (const part of path.split('/').filter((p) => p && p !== '.')) {
    if (part === '..') throw new BadInputError(`path ${path} leaves the root filesystem`, { path });
    at = join(at, part);
    const found = await lstat(at).catch(() => undefined);
    if (!found) await mkdir(at, { mode: 0o755 });
    else if (!found.isDirectory()) throw new BadInputError(`${path}: ${at.slice(rootfs.length)} in the image is not a directory (a link or a file), so nothing can be mounted there`, { path });
  }
}

/** Quotes one word for a POSIX shell script. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Config values as `KEY=VALUE` lines; keys must be shell-variable names, values have no newline. */
export function assertConfigValues(config: Record<string, string> | undefined): void {
  for (const [key, value] of Object.entries(config ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new BadInputError(`config key "${key}" is not a valid variable name`, { key });
    if (/[\n\r\0]/.test(value)) throw new BadInputError(`config value of ${key} may not contain a newline or NUL`, { key });
  }
}

/** Checks volumes: safe names, absolute paths without whitespace (fstab-style configs cannot hold it). */
export function assertVolumes(volumes: VolumeSpec[] | undefined): void {
  for (const v of volumes ?? []) {
    if (!VOLUME_NAME_PATTERN.test(v.name)) throw new BadInputError(`volume name "${v.name}" is not valid`, { volume: v.name });
    for (const p of [v.hostPath, v.mountPath]) {
      if (!p.startsWith('/') || /[\s\0]/.test(p) || p.split('/').includes('..')) {
        throw new BadInputError(`volume ${v.name}: "${p}" must be an absolute path without whitespace or ".."`, { volume: v.name, path: p });
      }
    }
  }
}

/**
 * Writes the seed-002 interface into a root filesystem: /etc/hostname, /etc/hosts,
 * /etc/resolv.conf (DNS), /etc/rsp/config.env (config values), /etc/rsp/env.sh (the same values
 * as shell exports), /sbin/rsp-init (the default main process), /sbin/rsp-start (runs its
 * arguments with env.sh loaded) and /etc/rsp/command (the spec's command, if any).
 */
export async function writeInterfaceFiles(rootfs: string, iface: InterfaceSpec, command?: string[]): Promise<void> {
  await mkdir(join(rootfs, 'etc', 'rsp'), { recursive: true });
  await mkdir(join(rootfs, 'sbin'), { recursive: true });
  await writeFile(join(rootfs, 'etc', 'hostname'), `${iface.hostname}\n`);
  await writeFile(join(rootfs, 'etc', 'hosts'), `127.0.0.1\tlocalhost\n127.0.1.1\t${iface.hostname}\n`);
  if (iface.dns?.length) await writeFile(join(rootfs, 'etc', 'resolv.conf'), iface.dns.map((s) => `nameserver ${s}\n`).join(''));
  await writeFile(join(rootfs, 'etc', 'rsp', 'config.env'), Object.entries(configValues(iface)).map(([k, v]) => `${k}=${v}\n`).join(''));
  await writeFile(join(rootfs, 'etc', 'rsp', 'env.sh'), Object.entries(configValues(iface)).map(([k, v]) => `export ${k}=${shellQuote(v)}\n`).join(''));
  await writeFile(join(rootfs, 'sbin', 'rsp-start'), '#!/bin/sh\n# RSP: run the arguments with the config values in the environment.\n. /etc/rsp/env.sh\nexec "$@"\n');
  await chmod(join(rootfs, 'sbin', 'rsp-start'), 0o755);
  await writeFile(join(rootfs, 'sbin', 'rsp-init'), RSP_INIT_SCRIPT);
  await chmod(join(rootfs, 'sbin', 'rsp-init'), 0o755);
  if (command?.length) {
    await writeFile(join(rootfs, 'etc', 'rsp', 'command'), `#!/bin/sh\nexec ${command.map(shellQuote).join(' ')}\n`);
    await chmod(join(rootfs, 'etc', 'rsp', 'command'), 0o755);
  }
}

/** Config values plus what the interface itself says (hostname, syslog address). */
export function configValues(iface: InterfaceSpec): Record<string, string> {
  const values: Record<string, string> = { RSP_HOSTNAME: iface.hostname, ...(iface.config ?? {}) };
  if (iface.log?.target === 'syslog') values.RSP_SYSLOG_ADDRESS = iface.log.address;
  return values;
}

/** Stores an image stream as `<dir>/<sha256>.tar`, returning its digest; the ref is the file's path. */
export async function storeImage(source: Readable, dir: string): Promise<ImportedImage> {
  await mkdir(dir, { recursive: true });
  const partial = join(dir, `.partial-${randomBytes(6).toString('hex')}`);
  const hash = createHash('sha256');
  let size = 0;
  try {
    await pipeline(
      source,
      async function* (chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          hash.update(chunk);
          size += chunk.length;
          yield chunk;
        }
      },
      createWriteStream(partial),
    );
    const hex = hash.digest('hex');
    const ref = join(dir, `${hex}.tar`);
    await rename(partial, ref);
    return { ref, digest: `sha256:${hex}`, sizeBytes: size };
  } finally {
    await rm(partial, { force: true });
  }
}

/** Opens a stored image for reading. */
export async function openImage(ref: string): Promise<Readable> {
  const info = await stat(ref).catch(() => undefined);
  if (!info?.isFile()) throw new BadInputError(`image ${ref} does not exist`, { image: ref });
  return createReadStream(ref);
}
