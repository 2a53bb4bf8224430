import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, copyFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { LibvirtDriver } from '../../drivers/libvirt';
import { describeWithEngine } from '../helpers/engines';
import { buildInitramfs, guestKernel, hypervisorReadableDir, makeBaseImage } from '../helpers/libvirt';
import { until } from '../helpers/until';

/**
 * A real guest on qemu:///system under software emulation (domain type `qemu`, TCG): Debian's
 * kernel and a busybox initramfs this test builds with cpio. It must reach running, print its
 * banner with the hostname RSP gave it on the kernel command line, report stats, take a
 * snapshot, stop and be undefined with nothing left behind.
 */
describeWithEngine('libvirt-qemu', 'libvirt driver: a real guest on qemu:///system (software emulation)', () => {
  let dir: string;
  let driver: LibvirtDriver;
  const id = `guest-${process.pid}`;

  beforeAll(async () => {
    dir = await hypervisorReadableDir('rsp-libvirt-guest-');
    const kernel = join(dir, 'vmlinuz');
    await copyFile(guestKernel()!, kernel);
    await chmod(kernel, 0o644);
    const initrd = await buildInitramfs(dir);
    driver = new LibvirtDriver({
      uri: 'qemu:///system',
      technology: 'libvirt-qemu',
      dataDir: join(dir, 'envs'),
      kernel: { path: kernel, initrd, cmdline: 'console=ttyS0 panic=-1 quiet' },
      defaultMemoryBytes: 192 * 1024 * 1024,
    });
  }, 60_000);

  afterAll(async () => {
    await driver?.destroy(id).catch(() => undefined);
    await driver?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  test('probe reports the QEMU hypervisor through the native binding', async () => {
    const found = await driver.probe();
    expect(found).toMatchObject({ available: true });
    expect(found.version).toMatch(/QEMU/);
    expect(found.version).toMatch(/@unraid\/libvirt/);
  });

  test('boots, runs with its hostname, reports stats, snapshots, stops and is undefined', async () => {
    const base = await makeBaseImage(dir);
    const created = await driver.create({
      id,
      image: { ref: base },
      iface: { hostname: 'rsp-guest' },
      limits: { memoryBytes: 192 * 1024 * 1024, cpuQuota: 1, cpuWeight: 100 },
      labels: { test: 'qemu-guest' },
    });
    expect(created.state).toBe('stopped');
    const xml = execFileSync('virsh', ['-c', 'qemu:///system', 'dumpxml', `rsp-${id}`], { encoding: 'utf8' });
    expect(xml).toMatch(/<domain type=["']qemu["']/);

    await driver.start(id);
    expect((await driver.inspect(id)).state).toBe('running');
    await until('the guest banner on the serial console', async () => (await driver.logs(id)).includes('RSP-GUEST-UP'), 45_000, 250);
    expect(await driver.logs(id)).toContain('RSP-GUEST-UP hostname=rsp-guest');

    const first = await driver.stats(id);
    await new Promise((r) => setTimeout(r, 1500));
    const second = await driver.stats(id);
    expect(first.cpuSeconds).toBeGreaterThan(0);
    expect(second.cpuSeconds).toBeGreaterThan(first.cpuSeconds);
    expect(second.memoryBytes).toBeGreaterThan(0);
    expect(second.memoryLimitBytes).toBe(192 * 1024 * 1024);
    expect(second.diskReadBytes).toBeGreaterThanOrEqual(first.diskReadBytes);

    const listed = await driver.list();
    expect(listed.find((e) => e.id === id)).toMatchObject({ state: 'running', labels: { test: 'qemu-guest', 'rsp.environment': id } });

    await driver.stop(id, { graceSeconds: 1 });
    expect((await driver.inspect(id)).state).toBe('stopped');
    expect(await driver.snapshot(id, 'after-stop')).toMatchObject({ name: 'after-stop' });

    await driver.destroy(id);
    await expect(driver.inspect(id)).rejects.toMatchObject({ category: 'NOT_FOUND' });
    const all = execFileSync('virsh', ['-c', 'qemu:///system', 'list', '--all', '--name'], { encoding: 'utf8' });
    expect(all.split('\n')).not.toContain(`rsp-${id}`);
    expect(existsSync(join(dir, 'envs', `rsp-${id}`))).toBe(false);
  }, 120_000);
});
