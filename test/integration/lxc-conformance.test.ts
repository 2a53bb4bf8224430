import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runConformanceSuite } from '../../drivers/conformance';
import { createLxcDriver } from '../../drivers/lxc';
import { importBusyboxImage } from '../fixtures/busybox-rootfs';
import { describeWithEngine } from '../helpers/engines';

/** The shared driver conformance suite against the LXC driver on real LXC, with a busybox root filesystem. */
describeWithEngine('lxc', 'conformance: lxc on real LXC', () => {
  let work: string | undefined;
  runConformanceSuite('lxc', async () => {
    work = await mkdtemp(join(tmpdir(), 'rsp-lxc-conf-'));
    const driver = createLxcDriver({ lxcPath: join(work, 'lxc'), imageDir: join(work, 'images'), owner: 'rspconf-a' });
    return { driver, image: (d) => importBusyboxImage(d), cleanup: () => rm(work!, { recursive: true, force: true }) };
  }, {
    timeoutMs: 60_000,
    setupTimeoutMs: 120_000,
    limits: { memoryBytes: 64 * 1024 * 1024, pids: 64, cpuQuota: 0.5, cpuWeight: 50 },
    // Another installation's driver on the same LXC path (installations normally have paths of their own).
    makeNeighbour: async () => ({ driver: createLxcDriver({ lxcPath: join(work!, 'lxc'), imageDir: join(work!, 'images-b'), owner: 'rspconf-b' }), image: (d) => importBusyboxImage(d) }),
    // A tarball that is not one: create fails while unpacking, after the container directory exists.
    makeFailingDriver: async () => {
      const corrupt = join(work!, 'corrupt.tar');
      await writeFile(corrupt, 'not a tarball');
      return { driver: createLxcDriver({ lxcPath: join(work!, 'lxc'), imageDir: join(work!, 'images') }), image: { ref: corrupt } };
    },
  });
});
