import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { describeWithEngine } from '../helpers/engines';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, World } from '../helpers/scenario';
import { until } from '../helpers/until';
import { BUSYBOX, buildBusyboxRootfs } from '../fixtures/busybox-rootfs';
import { guestKernel } from '../helpers/libvirt';

const MiB = 2 ** 20;

/** The guest kernel's modules a 9p volume needs, in load order (Debian builds them as modules; virtio is loaded by its initramfs). */
const NINE_P_MODULES = ['fs/netfs/netfs.ko', 'fs/fscache/fscache.ko', 'net/9p/9pnet.ko', 'net/9p/9pnet_virtio.ko', 'fs/9p/9p.ko'];

/** The guest kernel's modules its virtio NIC needs beyond what the initramfs loaded (virtio itself), in load order. */
const NET_MODULES = ['net/core/failover.ko', 'drivers/net/net_failover.ko', 'drivers/net/virtio_net.ko'];

/**
 * The guest's /sbin/init (run by Debian's initramfs after it mounted /dev/vda), keeping the
 * read-only root contract: /run (the initramfs's tmpfs, moved here) and a tmpfs on /tmp are its
 * writable places, and it writes /run/rsp/config.env from the kernel command line
 * (`rsp.hostname=`, `rsp.config.KEY=<percent-encoded>`), and gives its NIC (virtio_net, loaded
 * here) the static IPv6 address and route RSP put there (`rsp.ipv6=`, `rsp.gateway6=`). It mounts its volume `data` (9p) on /data, adds a line to /data/kept, tries to write /marker and to remount / read-write, prints a
 * banner and what it found on the serial console, then keeps the CPU a little busy.
 */
const ROOTFS_INIT = `#!/bin/sh
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sys /sys 2>/dev/null
grep -q ' /run tmpfs' /proc/mounts || mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mkdir -p /run/rsp
for w in $(cat /proc/cmdline); do
  case "$w" in
    rsp.hostname=*) hostname "\${w#rsp.hostname=}" ;;
    rsp.config.*=*) kv="\${w#rsp.config.}"; printf '%s=%b\\n' "\${kv%%=*}" "$(echo "\${kv#*=}" | sed 's/%/\\\\x/g')" >> /run/rsp/config.env ;;
  esac
done
for m in ${NINE_P_MODULES.map((m) => `/lib/rsp-modules/${m.split('/').pop()}`).join(' ')}; do insmod "$m"; done
mount -t 9p -o trans=virtio,version=9p2000.L data /data && echo kept >> /data/kept
v6=$(sed -n 's/.*rsp\\.ipv6=\\([^ ]*\\).*/\\1/p' /proc/cmdline)
gw6=$(sed -n 's/.*rsp\\.gateway6=\\([^ ]*\\).*/\\1/p' /proc/cmdline)
if [ -n "$v6" ]; then
  for m in ${NET_MODULES.map((m) => `/lib/rsp-modules/${m.split('/').pop()}`).join(' ')}; do insmod "$m" 2>/dev/null; done
  nic=$(ls /sys/class/net | grep -v '^lo$' | head -n 1)
  ip link set "$nic" up
  echo 0 > "/proc/sys/net/ipv6/conf/$nic/accept_dad"
  ip -6 addr add "$v6" dev "$nic" && ip -6 route add default via "$gw6" dev "$nic"
  echo "RSP-IPV6 $nic $(ip -6 -o addr show dev "$nic" scope global)"
fi
if echo x > /marker 2>/dev/null; then root=written; else root=refused; fi
if mount -o remount,rw / 2>/dev/null; then remount=done; else remount=refused; fi
echo t > /tmp/t && echo r > /run/r && places=writable
echo "RSP-ROOTFS-UP hostname=$(hostname) $(grep '^SITE=' /run/rsp/config.env)"
echo "RSP-ROOT root=$root remount=$remount vda-ro=$(cat /sys/block/vda/ro) tmp-run=$places marker=$([ -e /marker ] && echo present || echo absent) kept=$(grep -c kept /data/kept)"
while true; do dd if=/dev/zero of=/tmp/f bs=64k count=16 2>/dev/null; sleep 1; done
`;

/**
 * Environments through GraphQL on real libvirt (qemu:///system, software emulation): a catalog
 * image uploaded as a root filesystem tar becomes an ext4 qcow2 base, the environment an overlay
 * over it booted with the host's kernel; it runs with the hostname and config values RSP gave it,
 * reports live stats, stops and is destroyed with nothing left.
 */
describeWithEngine('libvirt-qemu', 'libvirt environments through the gateway', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;
  let image: string;
  const ids: string[] = [];
  const saved = process.env.RSP_LIBVIRT_TECHNOLOGY;
  /** zaphod's IPv6 /64 (its fourth group 0). */
  const prefix6 = `fd7b:${randomInt(0x1000, 0x10000).toString(16)}:${randomInt(0x1000, 0x10000).toString(16)}`;

  async function follow(operationId: string) {
    const op = await t.gateway.services.operations.settled(operationId);
    expect({ state: op.state, error: op.errorMessage }).toEqual({ state: 'SUCCEEDED', error: null });
  }
  const consoleLog = (id: string) => readFile(join(db.dataDir, 'libvirt', `rsp-${id}`, 'console.log'), 'utf8').catch(() => '');

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    await chmod(db.dataDir, 0o711); // the hypervisor's user (libvirt-qemu) reaches the disks below it
    // KVM's host-passthrough CPU does not start on this machine (see drivers/libvirt/README.md): TCG.
    process.env.RSP_LIBVIRT_TECHNOLOGY = 'libvirt-qemu';
    t = await startTestGateway(db, { RSP_DRIVERS: 'libvirt' });
    w = await buildWorld(t, { ipv6Range: `${prefix6}::/64` });
    image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: 'busybox-vm', version: '1', technology: 'libvirt-qemu' } })).registerImage.id;
    const release = basename(guestKernel()!).replace(/^vmlinuz-/, '');
    const modules = Object.fromEntries(await Promise.all([...NINE_P_MODULES, ...NET_MODULES].map(async (m) => [`lib/rsp-modules/${basename(m)}`, { text: await readFile(join('/lib/modules', release, 'kernel', m)) }])));
    const up = await t.upload(image, await readFile(await buildBusyboxRootfs({ 'sbin/init': { text: ROOTFS_INIT, mode: 0o755 }, ...modules })));
    expect(up.status).toBe(200);
  });

  afterAll(async () => {
    for (const id of ids) {
      const res = await t.gql('mutation ($id: ID!) { destroyEnvironment(id: $id) { id } }', { id });
      if (res.data) await t.gateway.services.operations.settled(res.data.destroyEnvironment.id);
    }
    await t?.close();
    if (saved === undefined) delete process.env.RSP_LIBVIRT_TECHNOLOGY;
    else process.env.RSP_LIBVIRT_TECHNOLOGY = saved;
    await db?.drop();
  });

  test('the libvirt driver is usable and reports its technology', async () => {
    const { drivers } = await t.ok('{ drivers { name technology available reason } }');
    expect(drivers).toEqual([expect.objectContaining({ name: 'libvirt', technology: 'libvirt-qemu', available: true })]);
  });

  /** The guest's last console line, whole (the serial console may be read in the middle of it). */
  const ROOT_LINE = /RSP-ROOT [^\n]* kept=\d+\r?\n/;
  const virsh = (...args: string[]) => execFileSync('virsh', ['-q', '-c', 'qemu:///system', ...args], { encoding: 'utf8' });
  const rootDiskXml = (id: string) => /<disk type='file' device='disk'>[\s\S]*?<\/disk>/.exec(virsh('dumpxml', `rsp-${id}`))![0];

  /** Waits (up to 30 s) for the host to reach `address` with `ping -6`. */
  const until6 = async (address: string) => {
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) if (pings6(address)) return true;
    return false;
  };
  /** Whether the host reaches `address` with `ping -6`. */
  const pings6 = (address: string) => {
    try {
      execFileSync(BUSYBOX, ['ping', '-6', '-c', '1', '-W', '2', address], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };

  test('create and start through GraphQL: it boots the uploaded rootfs read-only (its volume, /tmp and /run writable) with its hostname and config, and the IPv6 address the API reports (it answers ping -6 from the host), reports live stats; a rebuild keeps only the volume, and the address; it stops, is destroyed', async () => {
    const { createEnvironment } = await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id driver iface { readOnlyRoot } addresses { address prefix family } } operation { id } } }', {
      i: { groupId: w.groupA, hostId: w.host1, imageId: image, name: 'vm', hostname: 'vm.alpha.example', network: 'bridge', config: { SITE: 'alpha beta' }, limits: { memoryBytes: 256 * MiB }, volumes: [{ name: 'data', mountPath: '/data' }] },
    });
    const id = createEnvironment.environment.id;
    const ipv6 = createEnvironment.environment.addresses.find((a: { family: string }) => a.family === 'IPv6');
    expect(ipv6).toEqual({ address: `${prefix6}::2`, prefix: 64, family: 'IPv6' });
    ids.push(id);
    expect(createEnvironment.environment.driver).toBe('libvirt');
    expect(createEnvironment.environment.iface.readOnlyRoot).toBe(true); // the default where the driver can
    await follow(createEnvironment.operation.id);
    // The root disk is attached read-only, and the kernel told to mount it so.
    expect(rootDiskXml(id)).toContain('<readonly/>');
    expect(virsh('dumpxml', `rsp-${id}`)).toMatch(/<cmdline>[^<]* ro rsp\.hostname=/);
    await follow((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id })).startEnvironment.id);
    const env = async () => (await t.ok('query ($id: ID!) { environment(id: $id) { status } }', { id })).environment;
    expect((await env()).status).toBe('RUNNING');

    const booted = Date.now() + 150_000;
    // The guest prints RSP-ROOTFS-UP, then checks its filesystems and prints RSP-ROOT: wait for that whole last line.
    while (!ROOT_LINE.test(await consoleLog(id)) && Date.now() < booted) await new Promise((r) => setTimeout(r, 100));
    expect(await consoleLog(id)).toContain('RSP-ROOTFS-UP hostname=vm.alpha.example SITE=alpha beta');
    // A write to / is refused, and so is a remount read-write (the guest's block device is read-only); the volume, /tmp and /run take writes.
    expect(await consoleLog(id)).toContain('RSP-ROOT root=refused remount=refused vda-ro=1 tmp-run=writable marker=absent kept=1');
    // The guest holds the address the API reports, and answers on it from the host.
    expect(await consoleLog(id)).toContain(`inet6 ${ipv6.address}/64`);
    expect(await until6(ipv6.address)).toBe(true);

    const stats = async () => (await t.ok('query ($id: ID!) { environmentStats(id: $id) { cpuSeconds memoryBytes memoryLimitBytes diskReadBytes } }', { id })).environmentStats;
    const first = await stats();
    // The running guest's CPU time grows: read again until it has.
    const second = await until('more guest CPU time', async () => {
      const next = await stats();
      return next.cpuSeconds > first.cpuSeconds && next;
    }, 30_000, 100);
    expect(first.memoryLimitBytes).toBe(256 * MiB);
    expect(second.memoryBytes).toBeGreaterThan(0);
    expect(second.cpuSeconds).toBeGreaterThan(first.cpuSeconds);
    expect(second.diskReadBytes).toBeGreaterThan(0);

    // A rebuild (new limits) makes a new root disk and boots it again: the volume kept its line and took a second one, the root is still read-only.
    await follow((await t.ok('mutation ($id: ID!) { rebuildEnvironment(id: $id, limits: { cpuWeight: 50 }) { id } }', { id })).rebuildEnvironment.id);
    const rebuilt = Date.now() + 150_000;
    while (!ROOT_LINE.test(await consoleLog(id)) && Date.now() < rebuilt) await new Promise((r) => setTimeout(r, 100));
    expect(await consoleLog(id)).toContain('RSP-ROOT root=refused remount=refused vda-ro=1 tmp-run=writable marker=absent kept=2');
    expect(await until6(ipv6.address)).toBe(true);

    await follow((await t.ok('mutation ($id: ID!) { stopEnvironment(id: $id) { id } }', { id })).stopEnvironment.id);
    expect((await env()).status).toBe('STOPPED');
    await follow((await t.ok('mutation ($id: ID!) { destroyEnvironment(id: $id) { id } }', { id })).destroyEnvironment.id);
    ids.pop();
    const domains = execFileSync('virsh', ['-c', 'qemu:///system', 'list', '--all', '--name'], { encoding: 'utf8' });
    expect(domains.split('\n')).not.toContain(`rsp-${id}`);
    expect(existsSync(join(db.dataDir, 'libvirt', `rsp-${id}`))).toBe(false);
    // What stays is the image cache: the uploaded tar and its read-only qcow2 base.
    expect((await readdir(join(db.dataDir, 'libvirt', 'images'))).map((n) => n.replace(/^[0-9a-f]{64}/, '<sha256>')).sort()).toEqual(['<sha256>.qcow2', '<sha256>.tar']);
  }, 420_000); // two boots under software emulation, each given up to 150 s

  test('readOnlyRoot: false gives the writable root disk of before (no <readonly/>, booted rw)', async () => {
    const { createEnvironment } = await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id iface { readOnlyRoot } } operation { id } } }', {
      i: { groupId: w.groupA, hostId: w.host1, imageId: image, name: 'vm-rw', network: 'none', readOnlyRoot: false, limits: { memoryBytes: 256 * MiB } },
    });
    const id = createEnvironment.environment.id;
    ids.push(id);
    expect(createEnvironment.environment.iface.readOnlyRoot).toBe(false);
    await follow(createEnvironment.operation.id);
    expect(rootDiskXml(id)).not.toContain('<readonly/>');
    expect(virsh('dumpxml', `rsp-${id}`)).toMatch(/<cmdline>[^<]* rw [^<]*rsp\.hostname=/);
  });
});
