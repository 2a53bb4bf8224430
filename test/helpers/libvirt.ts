import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';

import { LibvirtDriver } from '../../drivers/libvirt';
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
 * The start every test guest's /init shares: mounts /proc and /sys, sets the hostname RSP put on
 * the kernel command line (`rsp.hostname=`) and prints a banner on the serial console.
 */
const GUEST_INIT_PROLOGUE = `#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /tmp
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox --install -s /bin
h=$(sed -n 's/.*rsp\\.hostname=\\([^ ]*\\).*/\\1/p' /proc/cmdline)
hostname "$h"
echo "RSP-GUEST-UP hostname=$(hostname)"
`;

/** The test guest's /init: the shared prologue, then a little written to tmpfs every second (so CPU and memory counters move). */
export const GUEST_INIT = `${GUEST_INIT_PROLOGUE}i=0
while true; do i=$((i+1)); dd if=/dev/zero of=/tmp/f bs=64k count=16 2>/dev/null; sleep 1; done
`;

/**
 * The test guest's /init with a shell on its serial console: the shared prologue, then `sh`
 * reading and writing the console, started again whenever it exits.
 */
export const CONSOLE_GUEST_INIT = `${GUEST_INIT_PROLOGUE}while true; do sh; done
`;

/** The guest kernel's modules a virtio NIC needs, in load order (Debian builds them as modules). */
export const VIRTIO_NET_MODULES = [
  'drivers/virtio/virtio_ring.ko',
  'drivers/virtio/virtio.ko',
  'drivers/virtio/virtio_pci_legacy_dev.ko',
  'drivers/virtio/virtio_pci_modern_dev.ko',
  'drivers/virtio/virtio_pci.ko',
  'net/core/failover.ko',
  'drivers/net/net_failover.ko',
  'drivers/net/virtio_net.ko',
];

/**
 * The test guest's /init on a network: like GUEST_INIT, and it loads the virtio NIC's modules,
 * takes its address by DHCP (busybox udhcpc; its script sets the address and default route) and,
 * when the kernel command line has `rsp.ipv6=`/`rsp.gateway6=`, that static IPv6 address and route,
 * serves `hello-<hostname>` over HTTP on port 8080 (and a 6 MiB `/blob`), and swallows whatever
 * is sent to TCP port 9000 (one connection after another), before printing its banner. Given the
 * config values PEER (a hostname) and/or PEER_ADDRESS, it then fetches the peer's port 8080 every
 * two seconds — by address, and by name through the network's DNS (the default route's address) —
 * printing `PEER-BY-ADDRESS <address> <answer>` and `PEER-BY-NAME <name>=<address> <answer>`.
 */
export const NETWORK_GUEST_INIT = `#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /tmp /usr/share/udhcpc
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox --install -s /bin
h=$(sed -n 's/.*rsp\\.hostname=\\([^ ]*\\).*/\\1/p' /proc/cmdline)
hostname "$h"
for m in $(cat /lib/modules/order); do insmod "/lib/modules/$m"; done
cat > /usr/share/udhcpc/default.script <<'SCRIPT'
#!/bin/sh
case "$1" in
  bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/$mask" dev "$interface"; [ -n "$router" ] && ip route add default via "\${router%% *}";;
esac
SCRIPT
chmod +x /usr/share/udhcpc/default.script
ip link set lo up
ip link set eth0 up
udhcpc -i eth0 -q -n -t 30 -T 2 -s /usr/share/udhcpc/default.script
v6=$(sed -n 's/.*rsp\\.ipv6=\\([^ ]*\\).*/\\1/p' /proc/cmdline)
gw6=$(sed -n 's/.*rsp\\.gateway6=\\([^ ]*\\).*/\\1/p' /proc/cmdline)
[ -n "$v6" ] && ip -6 addr add "$v6" dev eth0 && ip -6 route add default via "$gw6" dev eth0
mkdir -p /tmp/www && echo "hello-$h" > /tmp/www/index.html && yes | head -c 6291456 > /tmp/www/blob
[ -e /dev/null ] || mknod -m 666 /dev/null c 1 3
(while true; do sleep 100000 | nc -l -p 9000 > /tmp/sink; done) &
httpd -p 8080 -h /tmp/www
echo "RSP-GUEST-UP hostname=$(hostname) $(ip -4 -o addr show dev eth0)"
[ -n "$v6" ] && echo "RSP-GUEST-IPV6 $(ip -6 -o addr show dev eth0 scope global)"
fetch() { printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 "$1" 8080 2>&1 | tail -n 1; }
peer=$(sed -n 's/.*rsp\\.config\\.PEER=\\([^ ]*\\).*/\\1/p' /proc/cmdline)
peerip=$(sed -n 's/.*rsp\\.config\\.PEER_ADDRESS=\\([^ ]*\\).*/\\1/p' /proc/cmdline)
while true; do
  [ -n "$peerip" ] && echo "PEER-BY-ADDRESS $peerip $(fetch "$peerip")"
  if [ -n "$peer" ]; then
    gw=$(ip route | sed -n 's/^default via \\([^ ]*\\).*/\\1/p')
    a=$(nslookup "$peer" "$gw" 2>/dev/null | awk '/^Name:/{n=1} n&&/^Address/{print $2; exit}')
    [ -n "$a" ] && echo "PEER-BY-NAME $peer=$a $(fetch "$a")"
  fi
  sleep 2
done
`;

/**
 * Builds a newc cpio initramfs holding /init (GUEST_INIT unless `init` is given), /bin/busybox and,
 * when asked, kernel modules of the release `modules.release` under /lib/modules (listed in load
 * order in /lib/modules/order).
 */
export async function buildInitramfs(dir: string, options: { init?: string; modules?: { release: string; paths: string[] } } = {}): Promise<string> {
  const root = join(dir, 'initramfs');
  await mkdir(join(root, 'bin'), { recursive: true });
  await copyFile(BUSYBOX, join(root, 'bin', 'busybox'));
  await chmod(join(root, 'bin', 'busybox'), 0o755);
  await writeFile(join(root, 'init'), options.init ?? GUEST_INIT, { mode: 0o755 });
  const entries = ['.', 'bin', 'bin/busybox', 'init'];
  if (options.modules) {
    await mkdir(join(root, 'lib', 'modules'), { recursive: true });
    const names = options.modules.paths.map((p) => basename(p));
    for (const [i, p] of options.modules.paths.entries()) await copyFile(join('/lib/modules', options.modules.release, 'kernel', p), join(root, 'lib', 'modules', names[i]!));
    await writeFile(join(root, 'lib', 'modules', 'order'), `${names.join('\n')}\n`);
    entries.push('lib', 'lib/modules', 'lib/modules/order', ...names.map((n) => `lib/modules/${n}`));
  }
  const image = execFileSync('cpio', ['-o', '-H', 'newc', '-R', '0:0', '--quiet'], { cwd: root, input: `${entries.join('\n')}\n`, maxBuffer: 64 * 1024 * 1024 });
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

/**
 * A driver on qemu:///system whose guests boot this machine's kernel (copied into `dir`, which the
 * hypervisor can read) with a busybox initramfs built with `initramfs` options (init, modules),
 * 192 MiB each by default.
 */
export async function qemuGuestDriver(dir: string, initramfs: Parameters<typeof buildInitramfs>[1] = {}, owner?: string): Promise<LibvirtDriver> {
  const kernel = join(dir, 'vmlinuz');
  await copyFile(guestKernel()!, kernel);
  await chmod(kernel, 0o644);
  const initrd = await buildInitramfs(dir, initramfs);
  return new LibvirtDriver({
    uri: 'qemu:///system',
    technology: 'libvirt-qemu',
    dataDir: join(dir, 'envs'),
    kernel: { path: kernel, initrd, cmdline: 'console=ttyS0 panic=-1 quiet' },
    defaultMemoryBytes: 192 * 1024 * 1024,
    ...(owner ? { owner } : {}),
  });
}
