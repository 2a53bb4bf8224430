/**
 * bench/lifecycle-libvirt: create + start + stop + destroy of N guests on qemu:///system through the
 * libvirt driver (native binding), against the same lifecycle through `virsh` and `qemu-img`
 * directly (execFile, no shell), in the same run: the same domain XML (made by the driver's own
 * builder), the same qcow2 overlay over the same base, the same kernel + busybox initramfs, domain
 * type `qemu` (software emulation). Stop pulls the plug on both paths (graceSeconds 0 /
 * `virsh destroy`): the busybox guest has no ACPI handler. Iterations alternate between the two
 * paths so machine noise hits both alike. Prints both totals, per-guest means and the ratio
 * driver/virsh (goal ≤ 1.2).
 *
 * A third column goes through the whole gateway (GraphQL → operation → agent → the built-in
 * `libvirt` driver, technology forced to libvirt-qemu with RSP_LIBVIRT_TECHNOLOGY): a busybox root
 * filesystem uploaded as a catalog image (imported once, before timing, by a warm-up cycle), each
 * guest an overlay over its ext4 base booted with the host's kernel and initrd. Its stop is the
 * gateway's: ACPI shutdown with a 10 s grace, which the busybox guest ignores (its kernel has the
 * ACPI button as a module it does not load), so each gateway cycle carries ~10 s of waiting; the
 * ratio is printed with and without that grace.
 *
 *   npm run bench:libvirt -- [N]        (default N = 5)
 */
// First, as rsp's CLI does: graphql-js in production mode unless NODE_ENV is set (measured as served).
import '../gateway/server/graphql-production';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LibvirtDriver } from '../drivers/libvirt';
import { buildBusyboxRootfs } from '../test/fixtures/busybox-rootfs';
import { startGatewayBench } from './gateway-lifecycle';
import { domainXml, metadataFor } from '../drivers/libvirt/domain-xml';
import { buildInitramfs, guestKernel, hypervisorReadableDir, makeBaseImage } from '../test/helpers/libvirt';

const run = promisify(execFile);
const URI = 'qemu:///system';

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? process.env.BENCH_N ?? 5);
  if (!Number.isInteger(n) || n < 1) throw new Error(`N must be a positive integer, got ${process.argv[2]}`);
  const sourceKernel = guestKernel();
  if (!sourceKernel) throw new Error('no guest kernel (/boot/vmlinuz-*): apt-get install linux-image-amd64');
  const dir = await hypervisorReadableDir('rsp-bench-libvirt-');
  const kernel = join(dir, 'vmlinuz');
  await copyFile(sourceKernel, kernel);
  const initrd = await buildInitramfs(dir);
  const base = await makeBaseImage(dir);
  const boot = { path: kernel, initrd, cmdline: 'console=ttyS0 panic=-1 quiet' };
  const driver = new LibvirtDriver({ uri: URI, technology: 'libvirt-qemu', dataDir: join(dir, 'driver'), kernel: boot });
  const probe = await driver.probe();
  if (!probe.available) throw new Error(`libvirt unavailable: ${probe.reason}`);
  const tag = process.pid.toString(36);
  process.env.RSP_LIBVIRT_TECHNOLOGY ??= 'libvirt-qemu';
  const rootfs = await buildBusyboxRootfs({ 'sbin/init': { text: '#!/bin/sh\nwhile true; do sleep 1; done\n', mode: 0o755 } });
  const gateway = await startGatewayBench('libvirt', process.env.RSP_LIBVIRT_TECHNOLOGY, rootfs);

  const viaDriver = async (i: number) => {
    const id = `bench-${tag}-d${i}`;
    await driver.create({ id, image: { ref: base }, iface: { hostname: id }, labels: { 'rsp.group': 'bench' } });
    await driver.start(id);
    await driver.stop(id, { graceSeconds: 0 });
    await driver.destroy(id);
  };
  const viaVirsh = async (i: number) => {
    const id = `bench-${tag}-v${i}`;
    const name = `rsp-${id}`;
    const envDir = join(dir, 'virsh', name);
    await mkdir(envDir, { recursive: true });
    const disk = join(envDir, 'root.qcow2');
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', base, disk]);
    const xml = domainXml('qemu', {
      name,
      uuid: randomUUID(),
      memoryKiB: 131072,
      vcpus: 1,
      rootDisk: { path: disk, format: 'qcow2' },
      volumes: [],
      kernel: { ...boot, cmdline: `${boot.cmdline} rsp.hostname=${id}` },
      consoleLog: join(envDir, 'console.log'),
      metadata: metadataFor({ id, image: { ref: base }, iface: { hostname: id }, labels: { 'rsp.group': 'bench' } }, envDir),
    });
    const xmlFile = join(envDir, 'domain.xml');
    await writeFile(xmlFile, xml);
    await run('virsh', ['-q', '-c', URI, 'define', xmlFile]);
    await run('virsh', ['-q', '-c', URI, 'start', name]);
    await run('virsh', ['-q', '-c', URI, 'destroy', name]);
    await run('virsh', ['-q', '-c', URI, 'undefine', name]);
    await rm(envDir, { recursive: true, force: true });
  };

  try {
    await viaDriver(-1); // warm-up, not counted
    await viaVirsh(-1);
    await gateway.cycle('warm-up'); // imports the image (mkfs.ext4 + qemu-img convert), not counted
    let driverMs = 0;
    let virshMs = 0;
    let gatewayMs = 0;
    for (let i = 0; i < n; i++) {
      let t = performance.now();
      await viaDriver(i);
      driverMs += performance.now() - t;
      t = performance.now();
      await viaVirsh(i);
      virshMs += performance.now() - t;
      t = performance.now();
      await gateway.cycle(`bench-g${i}`);
      gatewayMs += performance.now() - t;
    }
    const ratio = driverMs / virshMs;
    const GRACE_MS = 10_000;
    process.stdout.write(
      [
        `lifecycle-libvirt: create+start+stop+destroy × ${n} on ${URI}, domain type qemu (TCG), ${probe.version}`,
        `  through the driver : ${driverMs.toFixed(0)} ms total, ${(driverMs / n).toFixed(0)} ms per guest`,
        `  through the gateway: ${gatewayMs.toFixed(0)} ms total, ${(gatewayMs / n).toFixed(0)} ms per guest  (GraphQL + operations; stop waits its 10 s ACPI grace)`,
        `  through virsh      : ${virshMs.toFixed(0)} ms total, ${(virshMs / n).toFixed(0)} ms per guest  (baseline: qemu-img + virsh define/start/destroy/undefine)`,
        `  ratio driver/virsh : ${ratio.toFixed(2)}×  (goal ≤ 1.20× — ${ratio <= 1.2 ? 'met' : 'NOT met'})`,
        `  ratio gateway/virsh: ${(gatewayMs / virshMs).toFixed(2)}×; without the 10 s stop grace: ${((gatewayMs - n * GRACE_MS) / virshMs).toFixed(2)}×`,
        '',
      ].join('\n'),
    );
  } finally {
    for (const env of await driver.list().catch(() => [])) if (env.id.startsWith(`bench-${tag}-`)) await driver.destroy(env.id).catch(() => undefined);
    await driver.close();
    await gateway.close();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((e: Error) => {
  process.stderr.write(`lifecycle-libvirt failed: ${e.message}\n`);
  process.exitCode = 1;
});
