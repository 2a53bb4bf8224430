import { join } from 'node:path';
import { createDockerDriver } from '../../drivers/docker';
import { FakeDriver } from '../../drivers/fake';
import type { LibvirtDriverOptions, LibvirtTechnology } from '../../drivers/libvirt';
import { createLibvirtDriver, LIBVIRT_TECHNOLOGIES } from '../../drivers/libvirt';
import { hostKernel, ROOTFS_CMDLINE } from '../../drivers/libvirt/boot';
import { createLxcDriver } from '../../drivers/lxc';
import { DriverRegistry } from '../../drivers/registry';
import { createVserverDriver } from '../../drivers/vserver';
import type { DriverPluginManifest } from '../../plugins/api';
import { registerPluginDrivers, type PluginDriverContext } from '../../plugins/loader';
import type { BUILTIN_DRIVER_NAMES } from '../config/config';
import { BadInputError } from '../errors';

/**
 * Whose drivers these are: `instance` names an extra agent sharing the engines (its environments
 * get engine-side names of their own, e.g. `rsp-<instance>-<id>`, and it lists only those);
 * `owner` is the installation or agent that makes the objects (the gateway installation's id for
 * its in-process agents, the agent's id for a remote one), so that two installations sharing an
 * engine never see each other's objects.
 */
export interface DriverScope {
  instance?: string;
  owner?: string;
}

/** The drivers RSP ships, by name, made for a data directory and a scope. `fake` is in-memory (tests, demos). */
export const BUILTIN_DRIVERS = {
  docker: (dataDir: string, scope: DriverScope = {}) => createDockerDriver({ stateDir: join(dataDir, 'docker'), instance: scope.instance, owner: scope.owner }),
  lxc: (dataDir: string, scope: DriverScope = {}) => createLxcDriver({ dataDir, lxcPath: join(dataDir, 'lxc'), namePrefix: prefixOf(scope.instance), owner: scope.owner }),
  libvirt: (dataDir: string, scope: DriverScope = {}) => createLibvirtDriver({ ...libvirtOptions(dataDir), namePrefix: prefixOf(scope.instance), owner: scope.owner }),
  vserver: (dataDir: string, scope: DriverScope = {}) => createVserverDriver({ imageDir: join(dataDir, 'images', 'vserver'), namePrefix: prefixOf(scope.instance), owner: scope.owner }),
  fake: () => new FakeDriver(),
} as const satisfies Record<(typeof BUILTIN_DRIVER_NAMES)[number], (dataDir: string, scope?: DriverScope) => unknown>;

/** Drivers registered when the configuration names none: every real one (probing says which work). */
export const DEFAULT_DRIVERS = ['docker', 'lxc', 'libvirt', 'vserver'] as const;

/** A registry with the named built-in drivers (of the scope's instance and owner, when given); an unknown name is BAD_USER_INPUT. */
export function builtinRegistry(names: readonly string[], dataDir: string, scope: DriverScope = {}): DriverRegistry {
  const registry = new DriverRegistry();
  for (const name of names) {
    const make = (BUILTIN_DRIVERS as Record<string, (dataDir: string, scope?: DriverScope) => Parameters<DriverRegistry['register']>[0]>)[name];
    if (!make) throw new BadInputError(`RSP_DRIVERS: unknown driver "${name}" (built in: ${Object.keys(BUILTIN_DRIVERS).join(', ')}; others come as plugins)`, { driver: name });
    registry.register(make(dataDir, scope));
  }
  return registry;
}

/** What `agentRegistry` adds beyond the built-in drivers. */
export interface AgentRegistryOptions {
  /** The agent's instance name (an `RSP_AGENTS` agent); none for the gateway's own agent. */
  instance?: string;
  /** Who makes the objects: the installation's id for the gateway's in-process agents, the agent's id for a remote one (see `DriverScope`). */
  owner?: string;
  /** The loaded driver plugins: each makes a driver of its own for this agent. */
  plugins?: readonly DriverPluginManifest[];
  /** Each plugin's settings, by plugin name. */
  pluginOptions?: PluginDriverContext['options'];
}

/**
 * The registry of one agent: the named built-in drivers and a driver from each driver plugin,
 * all made for this agent's data directory and instance, so no two agents share a driver.
 */
export async function agentRegistry(names: readonly string[], dataDir: string, options: AgentRegistryOptions = {}): Promise<DriverRegistry> {
  const registry = builtinRegistry(names, dataDir, { instance: options.instance, owner: options.owner });
  await registerPluginDrivers(options.plugins ?? [], registry, { options: options.pluginOptions, dataDir, instance: options.instance, owner: options.owner });
  return registry;
}

/** The engine-side name prefix of an instance's environments (`rsp-<instance>-`); none for the default one. */
function prefixOf(instance: string | undefined): string | undefined {
  return instance ? `rsp-${instance}-` : undefined;
}

/**
 * The built-in libvirt driver's options, from the environment: RSP_LIBVIRT_URI (default
 * qemu:///system), RSP_LIBVIRT_TECHNOLOGY (e.g. libvirt-qemu to force software emulation on a KVM
 * host), and the kernel VMs boot catalog images with — RSP_LIBVIRT_KERNEL, RSP_LIBVIRT_INITRD,
 * RSP_LIBVIRT_CMDLINE (default `console=ttyS0 root=/dev/vda rw panic=-1 quiet`); without
 * RSP_LIBVIRT_KERNEL, the host's own readable /boot/vmlinuz-* and its initrd. With no kernel at all
 * the driver still runs disk images, and says so when asked to import a root filesystem.
 * RSP_LIBVIRT_MEMORY_MB: memory of an environment that asks for none (default 256: Debian's
 * initramfs needs room to unpack).
 */
export function libvirtOptions(dataDir: string, env: NodeJS.ProcessEnv = process.env): LibvirtDriverOptions {
  const technology = env.RSP_LIBVIRT_TECHNOLOGY;
  if (technology !== undefined && !(technology in LIBVIRT_TECHNOLOGIES)) {
    throw new BadInputError(`RSP_LIBVIRT_TECHNOLOGY: "${technology}" is not one of ${Object.keys(LIBVIRT_TECHNOLOGIES).join(', ')}`, { technology });
  }
  const found = env.RSP_LIBVIRT_KERNEL ? { path: env.RSP_LIBVIRT_KERNEL, initrd: env.RSP_LIBVIRT_INITRD || undefined } : hostKernel();
  const memoryMb = Number(env.RSP_LIBVIRT_MEMORY_MB ?? 256);
  if (!Number.isInteger(memoryMb) || memoryMb < 16) throw new BadInputError(`RSP_LIBVIRT_MEMORY_MB: "${env.RSP_LIBVIRT_MEMORY_MB}" is not a whole number of MiB ≥ 16`);
  return {
    name: 'libvirt',
    uri: env.RSP_LIBVIRT_URI || 'qemu:///system',
    technology: technology as LibvirtTechnology | undefined,
    dataDir: join(dataDir, 'libvirt'),
    defaultMemoryBytes: memoryMb * 1024 * 1024,
    kernel: found && { ...found, initrd: env.RSP_LIBVIRT_INITRD || found.initrd, cmdline: env.RSP_LIBVIRT_CMDLINE ?? ROOTFS_CMDLINE },
  };
}
