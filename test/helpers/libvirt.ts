import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { BUSYBOX } from '../fixtures/busybox-rootfs';

const run = promisify(execFile);

/** A directory the hypervisor's user can traverse (mkdtemp makes 0700 ones). */
export async function hypervisorReadableDir(prefix: string, parent = tmpdir()): Promise<string> {
  const dir = await mkdtemp(join(parent, prefix));
  await chmod(dir, 0o755);
  return dir;
}

/** A small empty qcow2 base image (what environments' overlays are backed by), in `dir`. */
export async function makeBaseImage(dir: string, sizeBytes = 16 * 1024 * 1024): Promise<string> {
  const path = join(dir, 'base.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', path, String(sizeBytes)]);
  await chmod(path, 0o444); // never written: every environment writes into its own overlay
  return path;
}

/**
 * The test guest's /init: mounts /proc and /sys, sets the hostname RSP put on the kernel command
 * line (`rsp.hostname=`), prints a banner on the serial console, then writes a little to tmpfs
 * every second (so CPU and memory counters move).
 */
export const GUEST_INIT = `#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /tmp
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox --install -s /bin
h=$(sed -n 's/.*rsp\\.hostname=\\([^ ]*\\).*/\\1/p' /proc/cmdline)
hostname "$h"
echo "RSP-GUEST-UP hostname=$(hostname)"
i=0
while true; do i=$((i+1)); dd if=/dev/zero of=/tmp/f bs=64k count=16 2>/dev/null; sleep 1; done
`;

/** Builds a newc cpio initramfs holding /init and /bin/busybox. */
export async function buildInitramfs(dir: string): Promise<string> {
  const root = join(dir, 'initramfs');
  await mkdir(join(root, 'bin'), { recursive: true });
  await copyFile(BUSYBOX, join(root, 'bin', 'busybox'));
  await chmod(join(root, 'bin', 'busybox'), 0o755);
  await writeFile(join(root, 'init'), GUEST_INIT, { mode: 0o755 });
  const image = execFileSync('cpio', ['-o', '-H', 'newc', '-R', '0:0', '--quiet'], { cwd: root, input: '.\nbin\nbin/busybox\ninit\n', maxBuffer: 64 * 1024 * 1024 });
  const out = join(dir, 'initramfs.cpio');
  await writeFile(out, image, { mode: 0o644 });
  await rm(root, { recursive: true, force: true });
  return out;
}


/** The kernel a test guest boots: RSP_TEST_GUEST_KERNEL, else the newest /boot/vmlinuz-* (Debian's linux-image-amd64). */
export function guestKernel(): string | undefined {
  const asked = process.env.RSP_TEST_GUEST_KERNEL;
  if (asked) return existsSync(asked) ? asked : undefined;
  let names: string[] = [];
  try {
    names = readdirSync('/boot').filter((n) => /^vmlinuz-/.test(n)).sort();
  } catch {
    return undefined;
  }
  const newest = names[names.length - 1];
  return newest ? `/boot/${newest}` : undefined;
}
