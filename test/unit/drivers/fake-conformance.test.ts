import { Readable } from 'node:stream';
import { runConformanceSuite } from '../../../drivers/conformance';
import type { Driver } from '../../../drivers/contract';
import { createRootfsTar, FakeDriver, FakeNetwork } from '../../../drivers/fake';

const rootfs = createRootfsTar({ 'etc/os-release': 'NAME=fake\n', 'bin/.keep': '' });

/** Imports a tiny rootfs through the driver's own importImage (present even when not advertised). */
async function importRootfs(driver: Driver) {
  const imported = await driver.importImage!(Readable.from([rootfs]), { name: 'base', format: 'rootfs-tar' });
  return { ref: imported.ref, digest: imported.digest };
}

const network = new FakeNetwork();

runConformanceSuite('fake (every capability)', async () => {
  const driver = new FakeDriver({ network, uri: 'fake://source' });
  return { driver, image: importRootfs, cleanup: async () => driver.close() };
}, {
  timeoutMs: 10_000,
  statsGapMs: 50,
  makeFailingDriver: async () => ({ driver: new FakeDriver({ failOn: { create: 'after-filesystem' } }), image: importRootfs }),
  migrationTarget: async () => {
    const driver = new FakeDriver({ network, uri: 'fake://target' });
    return { uri: 'fake://target', driver, cleanup: async () => driver.close() };
  },
});

runConformanceSuite('fake (core only, two limits)', async () => ({
  driver: new FakeDriver({ operations: [], limits: ['memoryBytes', 'pids'] }),
  image: importRootfs,
}), { timeoutMs: 10_000, statsGapMs: 50 });
