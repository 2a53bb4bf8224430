import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Driver } from '../drivers/contract';
import type { DriverRegistry } from '../drivers/registry';
import { ConflictError, RspError } from '../drivers/errors';
import { RSP_VERSION } from '../gateway/version';
import type { DriverPluginManifest, GatewayPlugin, GatewayPluginManifest, PluginContext, PluginManifest } from './api';
import { GATEWAY_HOOKS, PLUGIN_API_VERSION } from './api';

/** A plugin could not be loaded: the message names it and says what to change. */
export class PluginLoadError extends RspError {
  constructor(readonly plugin: string, problem: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super('BAD_USER_INPUT', `Plugin ${plugin}: ${problem}`, { plugin, ...details }, options);
  }
}

/** Options of the loader. */
export interface LoadOptions {
  /** Where relative paths and npm packages are resolved from; default the current directory. */
  cwd?: string;
  /** Each plugin's settings, by plugin name. */
  options?: Record<string, Record<string, unknown>>;
  dataDir?: string;
}

/** What `loadPluginSet` loaded: every plugin's manifest, the gateway plugins' hooks, and the driver plugins to make drivers with. */
export interface PluginSet {
  manifests: Array<{ specifier: string; name: string; kind: PluginManifest['kind']; apiVersion: number; description?: string }>;
  /** The driver plugins, in the order given; each agent makes its own drivers from them (`registerPluginDrivers`). */
  driverPlugins: DriverPluginManifest[];
  /** The hooks made by gateway plugins, in the order given (for `toApolloPlugin`). */
  gatewayPlugins: GatewayPlugin[];
}

/** What `loadPlugins` loaded. */
export interface LoadedPlugins extends PluginSet {
  /** The drivers made by driver plugins, already registered. */
  drivers: Array<{ plugin: string; driver: Driver }>;
}

/** What a driver plugin's drivers are made for: one agent's data directory and instance name, and every plugin's settings. */
export interface PluginDriverContext {
  /** Each plugin's settings, by plugin name. */
  options?: Record<string, Record<string, unknown>>;
  /** The agent's data directory. */
  dataDir?: string;
  /** The agent's instance name (an `RSP_AGENTS` agent); none for the gateway's own agent. */
  instance?: string;
  /** Who makes the objects (see `PluginContext.owner`). */
  owner?: string;
}

const REQUIRED_DRIVER_METHODS = ['probe', 'capabilities', 'create', 'start', 'stop', 'destroy', 'inspect', 'list', 'stats'] as const;

/** True when `specifier` names a file (absolute, or relative with `./` or `../`), not an npm package. */
export function isPathSpecifier(specifier: string): boolean {
  return isAbsolute(specifier) || specifier.startsWith('./') || specifier.startsWith('../') || specifier === '.' || specifier === '..';
}

/** Loads one plugin module (npm package name or file path) and returns its validated manifest. */
export async function loadManifest(specifier: string, options: LoadOptions = {}): Promise<PluginManifest> {
  const cwd = options.cwd ?? process.cwd();
  let resolved: string;
  try {
    resolved = isPathSpecifier(specifier) ? require.resolve(resolve(cwd, specifier)) : require.resolve(specifier, { paths: [cwd] });
  } catch (e) {
    const problem = isPathSpecifier(specifier)
      ? `no plugin file at ${resolve(cwd, specifier)}`
      : `npm package "${specifier}" is not installed (run: npm install ${specifier})`;
    throw new PluginLoadError(specifier, problem, {}, { cause: e });
  }
  let loaded: unknown;
  try {
    loaded = require(resolved) as unknown;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ERR_REQUIRE_ESM' && code !== 'ERR_REQUIRE_ASYNC_MODULE') throw new PluginLoadError(specifier, `failed to load ${resolved}: ${(e as Error).message}`, {}, { cause: e });
    loaded = await import(pathToFileURL(resolved).href);
  }
  const exported = (loaded as { default?: unknown } | undefined)?.default ?? loaded;
  return validateManifest(exported, specifier);
}

/** Checks that `value` is a plugin manifest of this API version; PluginLoadError says what is wrong. */
export function validateManifest(value: unknown, specifier: string): PluginManifest {
  if (typeof value !== 'object' || value === null) {
    throw new PluginLoadError(specifier, 'does not export a plugin manifest (export default { apiVersion, name, kind, createDriver | createPlugin })');
  }
  const manifest = value as Partial<DriverPluginManifest> & Partial<Omit<GatewayPluginManifest, 'kind'>> & { kind?: unknown };
  const label = typeof manifest.name === 'string' && manifest.name ? `"${manifest.name}" (${specifier})` : specifier;
  if (typeof manifest.name !== 'string' || !/^[@a-zA-Z0-9][@a-zA-Z0-9/._-]{0,99}$/.test(manifest.name)) {
    throw new PluginLoadError(label, 'its manifest needs a name: 1–100 of letters, digits, @ / . _ -');
  }
  if (typeof manifest.apiVersion !== 'number' || !Number.isInteger(manifest.apiVersion)) {
    throw new PluginLoadError(label, `its manifest has no apiVersion (this RSP provides plugin API version ${PLUGIN_API_VERSION})`);
  }
  if (manifest.apiVersion !== PLUGIN_API_VERSION) {
    throw new PluginLoadError(
      label,
      `it was written for plugin API version ${manifest.apiVersion}, but RSP ${RSP_VERSION} provides plugin API version ${PLUGIN_API_VERSION}; use a release of the plugin made for API version ${PLUGIN_API_VERSION}`,
      { pluginApiVersion: manifest.apiVersion, supportedApiVersion: PLUGIN_API_VERSION },
    );
  }
  if (manifest.kind === 'driver') {
    if (typeof manifest.createDriver !== 'function') throw new PluginLoadError(label, 'a driver plugin must have a createDriver(context) factory');
  } else if (manifest.kind === 'gateway') {
    if (typeof manifest.createPlugin !== 'function') throw new PluginLoadError(label, 'a gateway plugin must have a createPlugin(context) factory');
  } else {
    throw new PluginLoadError(label, `unknown plugin kind ${JSON.stringify(manifest.kind)} (use "driver" or "gateway")`);
  }
  return manifest as PluginManifest;
}

/**
 * Loads plugins in order, makes their drivers and gateway hooks, and registers the drivers in
 * `registry`. All or nothing: any error (a bad plugin, a driver name already taken) leaves the
 * registry as it was.
 */
export async function loadPlugins(specifiers: readonly string[], registry: DriverRegistry, options: LoadOptions = {}): Promise<LoadedPlugins> {
  const set = await loadPluginSet(specifiers, options);
  const drivers = await registerPluginDrivers(set.driverPlugins, registry, { options: options.options, dataDir: options.dataDir });
  return { ...set, drivers };
}

/**
 * Loads plugins in order and makes the gateway plugins' hooks; the driver plugins are returned
 * unmade, for each agent to make its own drivers with `registerPluginDrivers`.
 */
export async function loadPluginSet(specifiers: readonly string[], options: LoadOptions = {}): Promise<PluginSet> {
  const out: PluginSet = { manifests: [], driverPlugins: [], gatewayPlugins: [] };
  const seen = new Map<string, string>();
  for (const specifier of specifiers) {
    const manifest = await loadManifest(specifier, options);
    const earlier = seen.get(manifest.name);
    if (earlier !== undefined) throw new ConflictError(`Plugin "${manifest.name}" is loaded twice (from ${earlier} and ${specifier})`, { plugin: manifest.name });
    seen.set(manifest.name, specifier);
    out.manifests.push({ specifier, name: manifest.name, kind: manifest.kind, apiVersion: manifest.apiVersion, description: manifest.description });
    if (manifest.kind === 'driver') {
      out.driverPlugins.push(manifest);
    } else {
      const context: PluginContext = { options: options.options?.[manifest.name] ?? {}, dataDir: options.dataDir };
      out.gatewayPlugins.push(checkGatewayPlugin(await create(manifest, () => manifest.createPlugin(context)), manifest.name));
    }
  }
  return out;
}

/**
 * Makes one driver from each driver plugin for one agent (its data directory and instance name)
 * and registers them in its `registry`. All or nothing: a failing factory or a driver name
 * already taken leaves the registry as it was.
 */
export async function registerPluginDrivers(plugins: readonly DriverPluginManifest[], registry: DriverRegistry, context: PluginDriverContext = {}): Promise<Array<{ plugin: string; driver: Driver }>> {
  const drivers: Array<{ plugin: string; driver: Driver }> = [];
  for (const manifest of plugins) {
    const pluginContext: PluginContext = { options: context.options?.[manifest.name] ?? {}, dataDir: context.dataDir, ...(context.instance ? { instance: context.instance } : {}), ...(context.owner ? { owner: context.owner } : {}) };
    drivers.push({ plugin: manifest.name, driver: checkDriver(await create(manifest, () => manifest.createDriver(pluginContext)), manifest.name) });
  }
  const names = new Set<string>();
  for (const { plugin, driver } of drivers) {
    if (registry.has(driver.name) || names.has(driver.name)) {
      throw new ConflictError(`Plugin "${plugin}" makes a driver named ${driver.name}, but a driver of that name is already registered`, { plugin, driver: driver.name });
    }
    names.add(driver.name);
  }
  for (const { driver } of drivers) registry.register(driver);
  return drivers;
}

async function create<T>(manifest: PluginManifest, factory: () => T | Promise<T>): Promise<T> {
  try {
    return await factory();
  } catch (e) {
    throw new PluginLoadError(`"${manifest.name}"`, `its factory failed: ${(e as Error).message}`, {}, { cause: e });
  }
}

function checkDriver(driver: Driver, plugin: string): Driver {
  if (typeof driver !== 'object' || driver === null) throw new PluginLoadError(`"${plugin}"`, 'createDriver did not return a driver');
  const missing: string[] = [
    ...(['name', 'technology'] as const).filter((field) => typeof driver[field] !== 'string'),
    ...REQUIRED_DRIVER_METHODS.filter((method) => typeof driver[method] !== 'function').map((method) => `${method}()`),
  ];
  if (missing.length) throw new PluginLoadError(`"${plugin}"`, `its driver lacks ${missing.join(', ')} of the required driver core`);
  return driver;
}

function checkGatewayPlugin(plugin: GatewayPlugin, name: string): GatewayPlugin {
  if (typeof plugin !== 'object' || plugin === null || typeof plugin.name !== 'string') {
    throw new PluginLoadError(`"${name}"`, 'createPlugin must return an object with a name and hooks');
  }
  const bad = GATEWAY_HOOKS.filter((hook) => plugin[hook] !== undefined && typeof plugin[hook] !== 'function');
  if (bad.length) throw new PluginLoadError(`"${name}"`, `hooks ${bad.join(', ')} must be functions`);
  return plugin;
}
