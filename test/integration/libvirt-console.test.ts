import { rm } from 'node:fs/promises';
import { LibvirtDriver } from '../../drivers/libvirt';
import type { InteractiveProcess } from '../../drivers/contract';
import { describeWithEngine } from '../helpers/engines';
import { CONSOLE_GUEST_INIT, hypervisorReadableDir, makeBaseImage, qemuGuestDriver } from '../helpers/libvirt';
import { until } from '../helpers/until';

/** Everything `p` prints, as it comes. */
function collect(p: InteractiveProcess): { text: () => string } {
  let text = '';
  p.stdout.on('data', (b: Buffer) => (text += b.toString('utf8')));
  return { text: () => text };
}

/**
 * The serial console of a real QEMU guest on qemu:///system (issue 24): the serial port listens on
 * a unix socket and is logged to a file, so a console session types into the guest's shell and
 * reads its answers while the console log keeps growing; one session at a time; detaching frees
 * the console; stopping the guest ends an attached session; a stopped guest has no console.
 */
describeWithEngine('libvirt-qemu', 'libvirt driver: the serial console of a real guest', () => {
  let dir: string;
  let driver: LibvirtDriver;
  const id = `console-${process.pid}`;

  beforeAll(async () => {
    dir = await hypervisorReadableDir('rsp-libvirt-con-');
    driver = await qemuGuestDriver(dir, { init: CONSOLE_GUEST_INIT });
  });

  afterAll(async () => {
    await driver?.destroy(id).catch(() => undefined);
    await driver?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('advertises a console (VMs on a real connection), not interactive exec', () => {
    expect(driver.capabilities().operations).toContain('console');
    expect(driver.capabilities().operations).not.toContain('interactiveExec');
    expect(new LibvirtDriver({ uri: 'test:///default' }).capabilities().operations).not.toContain('console');
  });

  test('a session types into the guest shell and reads its answers; the log keeps growing; one session at a time; stop ends it', async () => {
    await driver.create({ id, image: { ref: await makeBaseImage(dir) }, iface: { hostname: 'con-guest' }, limits: { memoryBytes: 192 * 1024 * 1024 } });
    await expect(driver.console(id)).rejects.toMatchObject({ category: 'CONFLICT' });
    await driver.start(id);
    await until('the guest banner', async () => (await driver.logs(id)).includes('RSP-GUEST-UP hostname=con-guest'), 90_000, 500);

    const first = await driver.console(id);
    const out = collect(first);
    await expect(driver.console(id)).rejects.toMatchObject({ category: 'CONFLICT' });
    // The answer, not the echo of what was typed: $((6*7)) is expanded by the guest's shell.
    first.stdin.write('echo con-$((6*7))-$(hostname)\n');
    await until('the answer on the console', async () => out.text().includes('con-42-con-guest'), 60_000, 200);
    expect(await until('the answer in the console log too', async () => (await driver.logs(id)).includes('con-42-con-guest'), 30_000, 500)).toBe(true);
    first.kill();
    expect(await first.exit).toBe(0);

    const second = await driver.console(id);
    const again = collect(second);
    second.stdin.write('echo second-$((2+3))\n');
    await until('the second session answered', async () => again.text().includes('second-5'), 60_000, 200);
    await driver.stop(id, { graceSeconds: 0 });
    expect(await second.exit).toBe(0);
    await expect(driver.console(id)).rejects.toMatchObject({ category: 'CONFLICT' });
  }, 240_000);
});
