import { join, relative } from 'node:path';
import { DriverRegistry } from '../../../drivers/registry';
import { FakeDriver } from '../../../drivers/fake';
import { defineDriverPlugin, isPathSpecifier, loadPluginSet, loadPlugins, PLUGIN_API_VERSION, registerPluginDrivers, validateManifest } from '../../../plugins';
import type { PluginContext } from '../../../plugins';
import { agentRegistry } from '../../../gateway/agent/builtin-drivers';

const fixtures = join(__dirname, '..', '..', 'fixtures', 'plugins');
// The example plugin's package folder: the loader finds its entry point through its package.json.
const sandbox = join(__dirname, '..', '..', '..', 'plugins', 'examples', 'sandbox-driver');
const auditLog = join(__dirname, '..', '..', '..', 'plugins', 'examples', 'audit-log.ts');

describe('plugin loader', () => {
  test('a driver plugin loaded from a path is registered, with its options', async () => {
    const registry = new DriverRegistry();
    const loaded = await loadPlugins([sandbox], registry, { options: { 'rsp-example-sandbox': { name: 'box', cpus: 1 } } });
    expect(loaded.manifests).toEqual([expect.objectContaining({ name: 'rsp-example-sandbox', kind: 'driver', apiVersion: PLUGIN_API_VERSION, specifier: sandbox })]);
    const driver = registry.get('box');
    expect(driver.technology).toBe('sandbox');
    expect((await driver.probe()).host?.cpus).toBe(1);
    expect(driver.capabilities().operations).not.toContain('migrate');
  });

  test('a relative path is resolved from cwd; a gateway plugin gives hooks and registers no driver', async () => {
    const registry = new DriverRegistry();
    const cwd = join(__dirname, '..');
    const loaded = await loadPlugins([`./${relative(cwd, auditLog)}`], registry, { cwd });
    expect(loaded.gatewayPlugins.map((p) => p.name)).toEqual(['audit-log']);
    expect(typeof loaded.gatewayPlugins[0]!.onResponse).toBe('function');
    expect(registry.all()).toEqual([]);
  });

  test('an incompatible apiVersion is refused naming the plugin and both versions', async () => {
    await expect(loadPlugins([join(fixtures, 'old-api.js')], new DriverRegistry())).rejects.toMatchObject({
      category: 'BAD_USER_INPUT',
      message: expect.stringMatching(/Plugin "from-the-future" \(.*old-api\.js\): it was written for plugin API version 2, but RSP .* provides plugin API version 1/),
      details: expect.objectContaining({ pluginApiVersion: 2, supportedApiVersion: 1 }),
    });
  });

  test('a missing factory, a half driver, a non-manifest and a module that throws are clear errors', async () => {
    const load = (file: string) => loadPlugins([join(fixtures, file)], new DriverRegistry());
    await expect(load('no-factory.js')).rejects.toThrow(/Plugin "no-factory" .*: a driver plugin must have a createDriver\(context\) factory/);
    await expect(load('half-driver.js')).rejects.toThrow(/its driver lacks capabilities\(\), create\(\), start\(\), stop\(\), destroy\(\), inspect\(\), list\(\), stats\(\)/);
    await expect(load('not-a-manifest.js')).rejects.toThrow(/does not export a plugin manifest/);
    await expect(load('throws-on-load.js')).rejects.toThrow(/failed to load .*throws-on-load\.js: broken at load time/);
  });

  test('an unknown path and an uninstalled package say what is missing', async () => {
    await expect(loadPlugins(['./no/such/plugin.js'], new DriverRegistry(), { cwd: '/tmp' })).rejects.toMatchObject({
      category: 'BAD_USER_INPUT',
      message: 'Plugin ./no/such/plugin.js: no plugin file at /tmp/no/such/plugin.js',
    });
    await expect(loadPlugins(['rsp-driver-that-does-not-exist'], new DriverRegistry())).rejects.toThrow(
      'Plugin rsp-driver-that-does-not-exist: npm package "rsp-driver-that-does-not-exist" is not installed (run: npm install rsp-driver-that-does-not-exist)',
    );
  });

  test('loading is all or nothing: a taken driver name or a later bad plugin registers nothing', async () => {
    const registry = new DriverRegistry();
    registry.register(new FakeDriver({ name: 'sandbox' }));
    await expect(loadPlugins([sandbox], registry)).rejects.toMatchObject({ category: 'CONFLICT' });
    const empty = new DriverRegistry();
    await expect(loadPlugins([sandbox, join(fixtures, 'old-api.js')], empty)).rejects.toMatchObject({ category: 'BAD_USER_INPUT' });
    expect(empty.all()).toEqual([]);
    await expect(loadPlugins([sandbox, sandbox], empty)).rejects.toThrow(/loaded twice/);
  });

  test('a factory that throws names the plugin', async () => {
    await expect(loadPlugins([sandbox], new DriverRegistry(), { options: { 'rsp-example-sandbox': { cpus: -1 } } })).rejects.toThrow(
      'Plugin "rsp-example-sandbox": its factory failed: option cpus must be a positive number (got -1)',
    );
  });

  test('a driver plugin makes a driver of its own for each agent, with that agent\'s data directory and instance', async () => {
    const set = await loadPluginSet([sandbox]);
    expect(set.driverPlugins.map((p) => p.name)).toEqual(['rsp-example-sandbox']);
    const local = new DriverRegistry();
    const extra = new DriverRegistry();
    await registerPluginDrivers(set.driverPlugins, local, { dataDir: '/srv/rsp' });
    await registerPluginDrivers(set.driverPlugins, extra, { dataDir: '/srv/rsp/agents/b', instance: 'b' });
    expect(local.get('sandbox')).not.toBe(extra.get('sandbox'));

    const seen: PluginContext[] = [];
    const recording = defineDriverPlugin({ name: 'recording', createDriver: (context) => (seen.push(context), new FakeDriver({ name: 'recorded' })) });
    await registerPluginDrivers([recording], new DriverRegistry(), { dataDir: '/srv/rsp', options: { recording: { a: 1 } } });
    await registerPluginDrivers([recording], new DriverRegistry(), { dataDir: '/srv/rsp/agents/b', instance: 'b' });
    expect(seen).toEqual([{ options: { a: 1 }, dataDir: '/srv/rsp' }, { options: {}, dataDir: '/srv/rsp/agents/b', instance: 'b' }]);
  });

  test('agentRegistry: each agent gets the built-in drivers and a plugin driver of its own', async () => {
    const { driverPlugins } = await loadPluginSet([sandbox]);
    const local = await agentRegistry(['fake'], '/srv/rsp', { plugins: driverPlugins });
    const extra = await agentRegistry(['fake'], '/srv/rsp/agents/b', { instance: 'b', plugins: driverPlugins, pluginOptions: { 'rsp-example-sandbox': { name: 'box' } } });
    expect(local.all().map((d) => d.name)).toEqual(['fake', 'sandbox']);
    expect(extra.all().map((d) => d.name)).toEqual(['fake', 'box']);
    await expect(agentRegistry(['fake'], '/srv/rsp', { plugins: [...driverPlugins, ...driverPlugins] })).rejects.toMatchObject({ category: 'CONFLICT' });
  });

  test('validateManifest refuses unknown kinds and missing versions', () => {
    expect(() => validateManifest({ apiVersion: 1, name: 'x', kind: 'theme' }, 'x')).toThrow('unknown plugin kind "theme"');
    expect(() => validateManifest({ name: 'x', kind: 'driver', createDriver: () => undefined }, 'x')).toThrow(/has no apiVersion \(this RSP provides plugin API version 1\)/);
  });

  test('paths and package names are told apart', () => {
    expect(isPathSpecifier('./a.js')).toBe(true);
    expect(isPathSpecifier('/abs/a.js')).toBe(true);
    expect(isPathSpecifier('@scope/rsp-driver')).toBe(false);
    expect(isPathSpecifier('rsp-driver')).toBe(false);
  });
});
