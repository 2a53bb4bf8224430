import { join } from 'node:path';
import { createDockerDriver } from '../../drivers/docker';
import { FakeDriver } from '../../drivers/fake';
import { createLibvirtDriver } from '../../drivers/libvirt';
import { createLxcDriver } from '../../drivers/lxc';
import { DriverRegistry } from '../../drivers/registry';
import { createVserverDriver } from '../../drivers/vserver';
import { BadInputError } from '../errors';

/** The drivers RSP ships, by name, made for a data directory. `fake` is in-memory (tests, demos). */
export const BUILTIN_DRIVERS = {
  docker: (dataDir: string) => createDockerDriver({ stateDir: join(dataDir, 'docker') }),
  lxc: (dataDir: string) => createLxcDriver({ dataDir, lxcPath: join(dataDir, 'lxc') }),
  libvirt: (dataDir: string) => createLibvirtDriver({ name: 'libvirt', uri: 'qemu:///system', dataDir: join(dataDir, 'libvirt') }),
  vserver: (dataDir: string) => createVserverDriver({ imageDir: join(dataDir, 'images', 'vserver') }),
  fake: () => new FakeDriver(),
} as const;

/** Drivers registered when the configuration names none: every real one (probing says which work). */
export const DEFAULT_DRIVERS = ['docker', 'lxc', 'libvirt', 'vserver'] as const;

/** A registry with the named built-in drivers; an unknown name is BAD_USER_INPUT. */
export function builtinRegistry(names: readonly string[], dataDir: string): DriverRegistry {
  const registry = new DriverRegistry();
  for (const name of names) {
    const make = (BUILTIN_DRIVERS as Record<string, (dataDir: string) => Parameters<DriverRegistry['register']>[0]>)[name];
    if (!make) throw new BadInputError(`RSP_DRIVERS: unknown driver "${name}" (built in: ${Object.keys(BUILTIN_DRIVERS).join(', ')}; others come as plugins)`, { driver: name });
    registry.register(make(dataDir));
  }
  return registry;
}
