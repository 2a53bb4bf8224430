import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { LibvirtDriver } from '../../drivers/libvirt';
import { describeWithEngine } from '../helpers/engines';
import { hypervisorReadableDir, makeBaseImage, qemuGuestDriver } from '../helpers/libvirt';
import { until } from '../helpers/until';

/**
 * A real guest on qemu:///system under software emulation (domain type `qemu`, TCG): Debian's
 * kernel and a busybox initramfs this test builds with cpio. It must reach running, print its
 * banner with the hostname RSP gave it on the kernel command line, report stats, stop, take a
 * snapshot and roll back to it (a block written after it is gone), and be undefined with
 * nothing left behind.
 */
describeWithEngine('libvirt-qemu', 'libvirt driver: a real guest on qemu:///system (software emulation)', () => {
  let dir: string;
  let driver: LibvirtDriver;
  const id = `guest-${process.pid}`;

  beforeAll(async () => {
    dir = await hypervisorReadableDir('rsp-libvirt-guest-');
    driver = await qemuGuestDriver(dir);
  });

  afterAll(async () => {
    await driver?.destroy(id).catch(() => undefined);
    await driver?.destroy(`ro-${id}`).catch(() => undefined);
    await driver?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

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
    // Followed from a cursor taken at boot: the banner arrives once, and a read from the last cursor does not repeat it.
    let cursor = (await driver.readLog(id)).cursor;
    let followed = '';
    await until('the guest banner on the serial console, followed from a cursor', async () => {
      const next = await driver.readLog(id, { cursor });
      followed += next.text;
      cursor = next.cursor;
      return followed.includes('RSP-GUEST-UP');
    }, 45_000, 250);
    expect((await driver.readLog(id, { cursor })).text).not.toContain('RSP-GUEST-UP');
    await expect(driver.readLog(id, { since: new Date(0) })).rejects.toMatchObject({ category: 'UNSUPPORTED_OPERATION' });
    expect(await driver.logs(id)).toContain('RSP-GUEST-UP hostname=rsp-guest');

    const first = await driver.stats(id);
    expect(first.cpuSeconds).toBeGreaterThan(0);
    // The running guest's CPU time grows: read again until it has.
    const second = await until('more guest CPU time', async () => {
      const next = await driver.stats(id);
      return next.cpuSeconds > first.cpuSeconds && next;
    }, 30_000, 100);
    expect(second.cpuSeconds).toBeGreaterThan(first.cpuSeconds);
    expect(second.memoryBytes).toBeGreaterThan(0);
    expect(second.memoryLimitBytes).toBe(192 * 1024 * 1024);
    expect(second.diskReadBytes).toBeGreaterThanOrEqual(first.diskReadBytes);

    const listed = await driver.list();
    expect(listed.find((e) => e.id === id)).toMatchObject({ state: 'running', labels: { test: 'qemu-guest', 'rsp.environment': id } });

    await driver.stop(id, { graceSeconds: 1 });
    expect((await driver.inspect(id)).state).toBe('stopped');
    expect(await driver.snapshot(id, 'after-stop')).toMatchObject({ name: 'after-stop' });
    await expect(driver.snapshot(id, 'after-stop')).rejects.toMatchObject({ category: 'CONFLICT' });
    expect((await driver.listSnapshots(id)).map((s) => s.name)).toEqual(['after-stop']);
    // A block written into the root disk after the snapshot (with qemu-io, the guest being off) is gone after the rollback.
    const rootDisk = /^\s*\S+\s+(\/\S+)\s*$/m.exec(execFileSync('virsh', ['-c', 'qemu:///system', 'domblklist', '--', `rsp-${id}`], { encoding: 'utf8' }))![1]!;
    const holdsBlock = () => {
      const read = spawnSync('qemu-io', ['-f', 'qcow2', '-c', 'read -P 0xab 1M 64k', rootDisk], { encoding: 'utf8' });
      return read.status === 0 && !/Pattern verification failed/.test(read.stdout + read.stderr);
    };
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0xab 1M 64k', rootDisk]);
    expect(holdsBlock()).toBe(true);
    await driver.rollbackSnapshot(id, 'after-stop');
    expect(holdsBlock()).toBe(false);
    expect((await driver.inspect(id)).state).toBe('stopped');
    await expect(driver.rollbackSnapshot(id, 'never-taken')).rejects.toMatchObject({ category: 'NOT_FOUND' });
    await driver.deleteSnapshot(id, 'after-stop');
    expect(await driver.listSnapshots(id)).toEqual([]);

    await driver.destroy(id);
    await expect(driver.inspect(id)).rejects.toMatchObject({ category: 'NOT_FOUND' });
    const all = execFileSync('virsh', ['-c', 'qemu:///system', 'list', '--all', '--name'], { encoding: 'utf8' });
    expect(all.split('\n')).not.toContain(`rsp-${id}`);
    expect(existsSync(join(dir, 'envs', `rsp-${id}`))).toBe(false);
  }, 120_000);

  test('a read-only root: the disk attached <readonly/>, booted ro, a vmstate disk beside it; snapshots stopped and running, rolled back and exported', async () => {
    const ro = `ro-${id}`;
    expect(driver.capabilities().features).toContain('readOnlyRoot');
    await driver.create({ id: ro, image: { ref: await makeBaseImage(dir) }, iface: { hostname: 'ro-guest', readOnlyRoot: true } });
    const xml = execFileSync('virsh', ['-c', 'qemu:///system', 'dumpxml', `rsp-${ro}`], { encoding: 'utf8' });
    expect(/<disk type='file' device='disk'>[\s\S]*?<\/disk>/.exec(xml)![0]).toContain('<readonly/>');
    expect(xml).toMatch(/<source file='[^']+\/state\.qcow2'[^>]*\/>\s*(<backingStore\/>\s*)?<target dev='vdb'/);
    expect(xml).toMatch(/<cmdline>console=ttyS0 panic=-1 quiet ro rsp\.hostname=ro-guest /);
    expect(await driver.snapshot(ro, 'stopped')).toMatchObject({ name: 'stopped' });
    await driver.start(ro);
    // QEMU keeps the memory in the writable state disk (the read-only root cannot hold it).
    expect(await driver.snapshot(ro, 'running')).toMatchObject({ name: 'running' });
    await driver.rollbackSnapshot(ro, 'running');
    expect((await driver.inspect(ro)).state).toBe('running');
    let exported = 0;
    for await (const chunk of await driver.exportSnapshot(ro, 'running')) exported += (chunk as Buffer).length;
    expect(exported).toBeGreaterThan(0);
    await driver.stop(ro, { graceSeconds: 0 });
    await driver.rollbackSnapshot(ro, 'stopped');
    expect((await driver.listSnapshots(ro)).map((s) => s.name).sort()).toEqual(['running', 'stopped']);
    await driver.destroy(ro);
  }, 60_000);
});
