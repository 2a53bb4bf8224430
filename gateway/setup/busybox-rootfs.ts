import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Where Debian's `busybox-static` puts its static binary. */
export const DEFAULT_BUSYBOX = '/bin/busybox';

/** Files to add to the root filesystem: path inside it → content (text, or bytes for a binary file) and mode; missing parent directories are made. */
export type ExtraFiles = Record<string, { text: string | Uint8Array; mode?: number }>;

/** What `buildBusyboxRootfs` builds from and where it writes. */
export interface BusyboxRootfsOptions {
  /** The static busybox binary (default `/bin/busybox`). */
  busybox?: string;
  /** The tarball to write (replaced atomically). */
  out: string;
  /** Files added to the root filesystem. */
  extraFiles?: ExtraFiles;
  /** `/etc/os-release`'s NAME. */
  osName?: string;
}

/**
 * Builds a minimal root filesystem tarball from the host's static busybox (Debian `busybox-static`):
 * `/bin/busybox`, one symlink per applet (`busybox --list-full`), `/etc/passwd`, `/etc/group`,
 * `/etc/os-release`, the usual empty directories, and the extra files. Needs no network. Returns
 * the tarball's path.
 */
export async function buildBusyboxRootfs({ busybox = DEFAULT_BUSYBOX, out, extraFiles = {}, osName = 'RSP busybox image' }: BusyboxRootfsOptions): Promise<string> {
  if (!existsSync(busybox)) throw new Error(`${busybox} is missing: install Debian's busybox-static (apt-get install busybox-static)`);
  await mkdir(dirname(out), { recursive: true });
  const root = await mkdtemp(join(dirname(out), '.busybox-'));
  try {
    for (const dir of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'tmp', 'proc', 'sys', 'dev', 'root', 'run', 'var/run', 'data']) await mkdir(join(root, dir), { recursive: true });
    await chmod(join(root, 'tmp'), 0o1777);
    await copyFile(busybox, join(root, 'bin/busybox'));
    await chmod(join(root, 'bin/busybox'), 0o755);
    const { stdout } = await run(busybox, ['--list-full']);
    for (const applet of stdout.split('\n').map((l) => l.trim()).filter(Boolean)) {
      if (applet === 'bin/busybox') continue;
      await mkdir(dirname(join(root, applet)), { recursive: true });
      await symlink('/bin/busybox', join(root, applet)).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'EEXIST') throw e;
      });
    }
    await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    await writeFile(join(root, 'etc/group'), 'root:x:0:\n');
    await writeFile(join(root, 'etc/os-release'), `NAME="${osName}"\nID=busybox\n`);
    for (const [path, file] of Object.entries(extraFiles)) {
      await rm(join(root, path), { force: true });
      await mkdir(dirname(join(root, path)), { recursive: true });
      await writeFile(join(root, path), file.text, { mode: file.mode ?? 0o644 });
      await chmod(join(root, path), file.mode ?? 0o644);
    }
    const partial = `${out}.${process.pid}`;
    await run('tar', ['--numeric-owner', '--owner=0', '--group=0', '--sort=name', '--mtime=@0', '-C', root, '-cf', partial, '.']);
    await rename(partial, out);
    return out;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** The version busybox reports (`BusyBox v1.36.1 …` → `1.36.1`); `latest` when it says none. */
export async function busyboxVersion(busybox = DEFAULT_BUSYBOX): Promise<string> {
  const { stdout, stderr } = await run(busybox, ['--help']).catch((e: { stdout?: string; stderr?: string }) => ({ stdout: e.stdout ?? '', stderr: e.stderr ?? '' }));
  return /BusyBox v(\d+(?:\.\d+)*)/.exec(`${stdout}\n${stderr}`)?.[1] ?? 'latest';
}
