import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, copyFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
/** The static busybox (Debian's busybox-static) the LXC and vserver tests and benches build root filesystems from. */
export const BUSYBOX = '/bin/busybox';

/**
 * Builds a minimal root filesystem tarball from Debian's static busybox: /bin/busybox, one
 * symlink per applet from `busybox --list`, and a minimal /etc. Returns the tarball's path.
 */
export function buildBusyboxRootfs(dir = mkdtempSync(join(tmpdir(), 'rsp-busybox-')), extraFiles: Record<string, { text: string; mode?: number }> = {}): string {
  const tree = join(dir, 'tree');
  for (const d of ['bin', 'sbin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'root', 'var/run', 'usr/bin', 'usr/sbin']) mkdirSync(join(tree, d), { recursive: true });
  chmodSync(join(tree, 'tmp'), 0o1777);
  copyFileSync(BUSYBOX, join(tree, 'bin', 'busybox'));
  chmodSync(join(tree, 'bin', 'busybox'), 0o755);
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).trim().split('\n');
  for (const applet of applets) {
    if (applet && applet !== 'busybox') symlinkSync('busybox', join(tree, 'bin', applet));
  }
  writeFileSync(join(tree, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(tree, 'etc', 'group'), 'root:x:0:\n');
  writeFileSync(join(tree, 'etc', 'os-release'), 'NAME="RSP busybox test image"\nID=busybox\n');
  for (const [path, file] of Object.entries(extraFiles)) {
    writeFileSync(join(tree, path), file.text);
    chmodSync(join(tree, path), file.mode ?? 0o644);
  }
  const tarball = join(dir, 'busybox-rootfs.tar');
  execFileSync('tar', ['-c', '--numeric-owner', '-f', tarball, '-C', tree, '.']);
  rmSync(tree, { recursive: true, force: true });
  return tarball;
}
