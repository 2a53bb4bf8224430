import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The native libvirt binding (`@unraid/libvirt`, node-addon-api), loaded lazily behind a small
 * interface so that nothing at import time needs the compiled addon: a missing or broken build
 * is reported by `loadBinding()` (and so by the driver's `probe()`), never by a crash at import.
 *
 * The package is ESM-only; this project compiles to CommonJS (module node16), where TypeScript
 * keeps `import()` as a real dynamic import, which Node (and jest with --experimental-vm-modules)
 * resolve as ESM.
 */

/** Domain states as libvirt numbers them (virDomainState). */
export const DOMAIN_STATE = { NOSTATE: 0, RUNNING: 1, BLOCKED: 2, PAUSED: 3, SHUTDOWN: 4, SHUTOFF: 5, CRASHED: 6, PMSUSPENDED: 7 } as const;

/** What `getInfo` reports about one domain (virDomainInfo). */
export interface DomainInfoFacts {
  state: number;
  /** KiB */
  maxMem: number;
  /** KiB */
  memory: number;
  nrVirtCpu: number;
  /** Nanoseconds of CPU time. */
  cpuTime: number;
}

/** One open connection, with the operations the driver needs. Domains are addressed by name. */
export interface LibvirtConnection {
  readonly uri: string;
  /** Names of every domain, defined or running. */
  listDomainNames(): Promise<string[]>;
  defineXML(xml: string): Promise<void>;
  getXML(name: string): Promise<string>;
  getInfo(name: string): Promise<DomainInfoFacts>;
  start(name: string): Promise<void>;
  /** Asks the guest to shut down (ACPI / init signal); returns at once. */
  shutdown(name: string): Promise<void>;
  /** Pulls the plug. */
  destroy(name: string): Promise<void>;
  undefine(name: string): Promise<void>;
  hostname(): Promise<string>;
  close(): Promise<void>;
}

/** Opens connections to a URI. */
export interface LibvirtBinding {
  /** What this binding is, for probe reports (`@unraid/libvirt 2.2.1`). */
  readonly description: string;
  open(uri: string): Promise<LibvirtConnection>;
}

/** The result of trying to load the binding. */
export type BindingLoad = { ok: true; binding: LibvirtBinding } | { ok: false; reason: string };

/** The npm package of the native binding. */
export const NATIVE_PACKAGE = '@unraid/libvirt';

interface NativeDomain {
  getName(): Promise<string>;
}
interface NativeHypervisor {
  connectOpen(): Promise<void>;
  connectClose(): Promise<void>;
  connectListAllDomains(): Promise<NativeDomain[]>;
  connectGetHostname(): Promise<string>;
  domainDefineXML(xml: string): Promise<NativeDomain>;
  domainLookupByName(name: string): Promise<NativeDomain>;
  domainGetXMLDesc(domain: NativeDomain): Promise<string>;
  domainGetInfo(domain: NativeDomain): Promise<DomainInfoFacts>;
  domainCreate(domain: NativeDomain): Promise<void>;
  domainShutdown(domain: NativeDomain): Promise<void>;
  domainDestroy(domain: NativeDomain): Promise<void>;
  domainUndefine(domain: NativeDomain): Promise<void>;
}
interface NativeModule {
  Hypervisor: new (options: { uri: string }) => NativeHypervisor;
}

let loading: Promise<BindingLoad> | undefined;

/** Loads `@unraid/libvirt` once per process; the result says why when it cannot be used. */
export function loadBinding(): Promise<BindingLoad> {
  loading ??= loadNative();
  return loading;
}

async function loadNative(): Promise<BindingLoad> {
  const packageDir = findPackageDir();
  if (packageDir && !existsSync(join(packageDir, 'build', 'Release', 'libvirt.node'))) {
    return {
      ok: false,
      reason: `${NATIVE_PACKAGE} is installed but its native addon was not built (no build/Release/libvirt.node): install libvirt-dev and run "npx node-gyp rebuild" in ${packageDir}, or "npm rebuild ${NATIVE_PACKAGE}"`,
    };
  }
  try {
    const mod = (await import(NATIVE_PACKAGE)) as NativeModule;
    if (typeof mod.Hypervisor !== 'function') return { ok: false, reason: `${NATIVE_PACKAGE} has no Hypervisor export` };
    const version = packageDir ? (require(join(packageDir, 'package.json')) as { version: string }).version : 'unknown';
    return { ok: true, binding: nativeBinding(mod, `${NATIVE_PACKAGE} ${version}`) };
  } catch (e) {
    return { ok: false, reason: `cannot load ${NATIVE_PACKAGE}: ${(e as Error).message} (npm install ${NATIVE_PACKAGE}; it needs libvirt-dev to build)` };
  }
}

/** The installed package's folder (its exports map hides package.json from require.resolve). */
function findPackageDir(): string | undefined {
  for (const base of require.resolve.paths(NATIVE_PACKAGE) ?? []) {
    const dir = join(base, ...NATIVE_PACKAGE.split('/'));
    if (existsSync(join(dir, 'package.json'))) return dir;
  }
  return undefined;
}

function nativeBinding(mod: NativeModule, description: string): LibvirtBinding {
  return {
    description,
    async open(uri) {
      const hv = new mod.Hypervisor({ uri });
      await hv.connectOpen();
      return nativeConnection(hv, uri);
    },
  };
}

function nativeConnection(hv: NativeHypervisor, uri: string): LibvirtConnection {
  const lookup = (name: string) => hv.domainLookupByName(name);
  return {
    uri,
    async listDomainNames() {
      const domains = await hv.connectListAllDomains();
      return Promise.all(domains.map((d) => d.getName()));
    },
    async defineXML(xml) {
      await hv.domainDefineXML(xml);
    },
    getXML: async (name) => hv.domainGetXMLDesc(await lookup(name)),
    getInfo: async (name) => hv.domainGetInfo(await lookup(name)),
    start: async (name) => hv.domainCreate(await lookup(name)),
    shutdown: async (name) => hv.domainShutdown(await lookup(name)),
    destroy: async (name) => hv.domainDestroy(await lookup(name)),
    undefine: async (name) => hv.domainUndefine(await lookup(name)),
    hostname: () => hv.connectGetHostname(),
    close: () => hv.connectClose(),
  };
}

/** True when a libvirt error says the domain does not exist (the binding drops libvirt's error codes). */
export function isNoDomainError(e: unknown): boolean {
  return e instanceof Error && /domain not found|no domain with matching/i.test(e.message);
}

/** True when a libvirt error says the domain is not running (destroy/shutdown of a stopped domain). */
export function isNotRunningError(e: unknown): boolean {
  return e instanceof Error && /domain is not running|not running/i.test(e.message);
}
