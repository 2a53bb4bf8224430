import { Readable } from 'node:stream';
import { runConformanceSuite } from '../../../drivers/conformance';
import type { Driver } from '../../../drivers/contract';
import { createRootfsTar, FakeDriver } from '../../../drivers/fake';
import { DriverRegistry } from '../../../drivers/registry';
import { loadPlugins } from '../../../plugins';
import { EXAMPLE_PLUGIN, installExamplePlugin, type InstalledPlugin } from '../../helpers/plugin-package';

let installed: InstalledPlugin | undefined;
afterAll(() => installed?.cleanup());

// The example plugin installed as a package (depending on @rsp/sdk only) and loaded by name.
runConformanceSuite('example sandbox plugin, installed as a package and loaded through the plugin loader', async () => {
  installed = await installExamplePlugin();
  const registry = new DriverRegistry();
  await loadPlugins([EXAMPLE_PLUGIN], registry, { cwd: installed.cwd });
  const driver = registry.get('sandbox');
  // It runs on the SDK's built copy, found through its own node_modules: not the gateway's.
  if (driver instanceof FakeDriver) throw new Error('the installed plugin shares the gateway\'s copy of the SDK');
  return {
    driver,
    image: async (driver: Driver) => {
      const imported = await driver.importImage!(Readable.from([createRootfsTar({ 'etc/os-release': 'NAME=sandbox\n' })]), { name: 'sandbox-base', format: 'rootfs-tar' });
      return { ref: imported.ref, digest: imported.digest };
    },
  };
}, { timeoutMs: 10_000, statsGapMs: 50, limits: { memoryBytes: 64 * 1024 * 1024 } });
