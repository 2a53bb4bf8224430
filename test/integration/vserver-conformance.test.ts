import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runConformanceSuite } from '../../drivers/conformance';
import { createVserverDriver } from '../../drivers/vserver';
import { importBusyboxImage } from '../fixtures/busybox-rootfs';
import { describeWithEngine } from '../helpers/engines';
import { emulatedVserverOptions } from '../helpers/vserver-emulation';

/** The shared driver conformance suite against the vserver driver on the util-vserver emulation. */
describeWithEngine('vserver-emulation', 'conformance: vserver on the util-vserver emulation', () => {
  let work: string | undefined;
  runConformanceSuite('vserver', async () => {
    work = await mkdtemp(join(tmpdir(), 'rsp-vserver-conf-'));
    const driver = createVserverDriver(emulatedVserverOptions(work, { owner: 'rspconf-a' }));
    return { driver, image: (d) => importBusyboxImage(d), cleanup: () => rm(work!, { recursive: true, force: true }) };
  }, {
    timeoutMs: 60_000,
    setupTimeoutMs: 120_000,
    limits: { memoryBytes: 64 * 1024 * 1024, pids: 64, cpuQuota: 0.5, cpuWeight: 50 },
    // Another installation's driver on the same config tree and guest directories.
    makeNeighbour: async () => ({ driver: createVserverDriver(emulatedVserverOptions(work!, { owner: 'rspconf-b', imageDir: join(work!, 'images-b') })), image: (d) => importBusyboxImage(d) }),
    // A tarball that is not one: `vserver … build` fails while unpacking it, after the guest's build started.
    makeFailingDriver: async () => {
      const corrupt = join(work!, 'corrupt.tar');
      await writeFile(corrupt, 'not a tarball');
      return { driver: createVserverDriver(emulatedVserverOptions(work!)), image: { ref: corrupt } };
    },
  });
});
