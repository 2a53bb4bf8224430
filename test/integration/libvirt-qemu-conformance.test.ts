import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { runConformanceSuite } from '../../drivers/conformance';
import { describeWithEngine } from '../helpers/engines';
import { basename } from 'node:path';
import { importBusyboxImage } from '../fixtures/busybox-rootfs';
import { guestKernel, hypervisorReadableDir, NETWORK_GUEST_INIT, qemuGuestDriver, VIRTIO_NET_MODULES } from '../helpers/libvirt';

/**
 * The shared driver conformance suite against the libvirt driver on the real hypervisor
 * (qemu:///system, software emulation): what test:///default cannot show — snapshots through
 * virsh (create, list, roll back, delete) and `exportSnapshot` (the root disk as the internal
 * snapshot holds it, read out with qemu-img) — besides the core every driver passes.
 */
describeWithEngine('libvirt-qemu', 'conformance: libvirt-qemu on qemu:///system', () => {
  let dir: string | undefined;
  runConformanceSuite('libvirt-qemu on qemu:///system', async () => {
    dir = await hypervisorReadableDir('rsp-libvirt-qemu-conf-');
    // The guest takes its address by DHCP (for the managed-network test); its root disk is the busybox root filesystem imported as a qcow2 base.
    const driver = await qemuGuestDriver(dir, { init: NETWORK_GUEST_INIT, modules: { release: basename(guestKernel()!).replace(/^vmlinuz-/, ''), paths: VIRTIO_NET_MODULES } }, `rspconf-${randomBytes(4).toString('hex')}`);
    const cleanup = async () => {
      await driver.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    };
    return { driver, image: await importBusyboxImage(driver), cleanup };
  }, {
    // Another installation on the same libvirt (its domains are defined, never booted: the test needs no guest).
    makeNeighbour: async () => {
      const own = await hypervisorReadableDir('rsp-libvirt-qemu-neighbour-');
      const driver = await qemuGuestDriver(own, {}, `rspconf-${randomBytes(4).toString('hex')}`);
      const cleanup = async () => {
        await driver.close();
        await rm(own, { recursive: true, force: true });
      };
      return { driver, image: await importBusyboxImage(driver), cleanup };
    },
    timeoutMs: 120_000,
    setupTimeoutMs: 120_000,
    idPrefix: 'confq',
    limits: { memoryBytes: 192 * 1024 * 1024, cpuQuota: 1, cpuWeight: 100 },
    get volumeRoot() {
      return dir;
    },
  });
});
