import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { describeWithEngine } from '../helpers/engines';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, World } from '../helpers/scenario';
import { buildBusyboxRootfs } from '../fixtures/busybox-rootfs';

const MiB = 2 ** 20;

/**
 * The guest's /sbin/init (run by Debian's initramfs after it mounted /dev/vda): sets the hostname
 * and writes /etc/rsp/config.env from the kernel command line (`rsp.hostname=`,
 * `rsp.config.KEY=<percent-encoded>`), prints a banner on the serial console, then keeps the CPU
 * a little busy.
 */
const ROOTFS_INIT = `#!/bin/sh
mount -t proc proc /proc 2>/dev/null
mkdir -p /etc/rsp
for w in $(cat /proc/cmdline); do
  case "$w" in
    rsp.hostname=*) hostname "\${w#rsp.hostname=}" ;;
    rsp.config.*=*) kv="\${w#rsp.config.}"; printf '%s=%b\\n' "\${kv%%=*}" "$(echo "\${kv#*=}" | sed 's/%/\\\\x/g')" >> /etc/rsp/config.env ;;
  esac
done
echo "RSP-ROOTFS-UP hostname=$(hostname) $(grep '^SITE=' /etc/rsp/config.env)"
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
    w = await buildWorld(t);
    image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: 'busybox-vm', version: '1', technology: 'libvirt-qemu' } })).registerImage.id;
    const up = await t.upload(image, await readFile(await buildBusyboxRootfs({ 'sbin/init': { text: ROOTFS_INIT, mode: 0o755 } })));
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

  test('create and start through GraphQL: it boots the uploaded rootfs with its hostname and config, reports live stats, stops, is destroyed', async () => {
    const { createEnvironment } = await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id driver } operation { id } } }', {
      i: { groupId: w.groupA, hostId: w.host1, imageId: image, name: 'vm', hostname: 'vm.alpha.example', network: 'none', config: { SITE: 'alpha beta' }, limits: { memoryBytes: 256 * MiB } },
    });
    const id = createEnvironment.environment.id;
    ids.push(id);
    expect(createEnvironment.environment.driver).toBe('libvirt');
    await follow(createEnvironment.operation.id);
    await follow((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id })).startEnvironment.id);
    const env = async () => (await t.ok('query ($id: ID!) { environment(id: $id) { status } }', { id })).environment;
    expect((await env()).status).toBe('RUNNING');

    const until = Date.now() + 150_000;
    while (!(await consoleLog(id)).includes('RSP-ROOTFS-UP') && Date.now() < until) await new Promise((r) => setTimeout(r, 500));
    expect(await consoleLog(id)).toContain('RSP-ROOTFS-UP hostname=vm.alpha.example SITE=alpha beta');

    const stats = async () => (await t.ok('query ($id: ID!) { environmentStats(id: $id) { cpuSeconds memoryBytes memoryLimitBytes diskReadBytes } }', { id })).environmentStats;
    const first = await stats();
    await new Promise((r) => setTimeout(r, 1500));
    const second = await stats();
    expect(first.memoryLimitBytes).toBe(256 * MiB);
    expect(second.memoryBytes).toBeGreaterThan(0);
    expect(second.cpuSeconds).toBeGreaterThan(first.cpuSeconds);
    expect(second.diskReadBytes).toBeGreaterThan(0);

    await follow((await t.ok('mutation ($id: ID!) { stopEnvironment(id: $id) { id } }', { id })).stopEnvironment.id);
    expect((await env()).status).toBe('STOPPED');
    await follow((await t.ok('mutation ($id: ID!) { destroyEnvironment(id: $id) { id } }', { id })).destroyEnvironment.id);
    ids.pop();
    const domains = execFileSync('virsh', ['-c', 'qemu:///system', 'list', '--all', '--name'], { encoding: 'utf8' });
    expect(domains.split('\n')).not.toContain(`rsp-${id}`);
    expect(existsSync(join(db.dataDir, 'libvirt', `rsp-${id}`))).toBe(false);
    // What stays is the image cache: the uploaded tar and its read-only qcow2 base.
    expect((await readdir(join(db.dataDir, 'libvirt', 'images'))).map((n) => n.replace(/^[0-9a-f]{64}/, '<sha256>')).sort()).toEqual(['<sha256>.qcow2', '<sha256>.tar']);
  });
});
