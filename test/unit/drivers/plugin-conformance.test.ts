import { join } from 'node:path';
import { Readable } from 'node:stream';
import { runConformanceSuite } from '../../../drivers/conformance';
import type { Driver } from '../../../drivers/contract';
import { createRootfsTar } from '../../../drivers/fake';
import { DriverRegistry } from '../../../drivers/registry';
import { loadPlugins } from '../../../plugins';

const plugin = join(__dirname, '..', '..', '..', 'plugins', 'examples', 'sandbox-driver.ts');

runConformanceSuite('example sandbox plugin, loaded through the plugin loader', async () => {
  const registry = new DriverRegistry();
  await loadPlugins([plugin], registry);
  return {
    driver: registry.get('sandbox'),
    image: async (driver: Driver) => {
      const imported = await driver.importImage!(Readable.from([createRootfsTar({ 'etc/os-release': 'NAME=sandbox\n' })]), { name: 'sandbox-base', format: 'rootfs-tar' });
      return { ref: imported.ref, digest: imported.digest };
    },
  };
}, { timeoutMs: 10_000, statsGapMs: 50, limits: { memoryBytes: 64 * 1024 * 1024 } });
