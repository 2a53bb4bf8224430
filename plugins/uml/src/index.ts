import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { BadInputError, defineDriverPlugin } from '@rsp/sdk';
import { UmlDriver } from './driver';

export { UmlDriver, type UmlDriverOptions } from './driver';

/**
 * The User-Mode Linux driver plugin (`rsp-driver-uml`): each environment a `linux.uml` guest.
 * A package of its own that depends on `@rsp/sdk` only.
 *
 * Options: `name` (registry name, default `uml`), `kernel` (default `linux.uml`),
 * `defaultMemoryBytes` (default 128 MiB), `xstateShim` (`auto`, `always`, `never`), `cgroupRoot`
(default `/sys/fs/cgroup`), `modulesDir` (the UML kernel's modules, default `/usr/lib/uml/modules`), `stateDir`
 * (default `<agent data dir>/uml`); `failAfter: 'cow'` makes `create` fail part-way (the
conformance suite's fault injection).
 *
 * ```sh
 * RSP_PLUGINS=./plugins/uml npm start
 * ```
 */
export default defineDriverPlugin({
  name: 'rsp-driver-uml',
  description: 'User-Mode Linux guests (linux.uml), one process per environment',
  createDriver({ options, dataDir, instance }) {
    const text = (key: string): string | undefined => {
      const value = options[key];
      if (value !== undefined && typeof value !== 'string') throw new BadInputError(`option ${key} must be a string (got ${JSON.stringify(value)})`);
      return value;
    };
    const memory = options.defaultMemoryBytes;
    if (memory !== undefined && (typeof memory !== 'number' || !(memory >= 16 * 1024 * 1024))) throw new BadInputError(`option defaultMemoryBytes must be at least 16 MiB (got ${JSON.stringify(memory)})`);
    const shim = text('xstateShim');
    if (shim !== undefined && !['auto', 'always', 'never'].includes(shim)) throw new BadInputError(`option xstateShim must be auto, always or never (got ${shim})`);
    const base = dataDir ?? join(tmpdir(), `rsp-uml-${process.getuid?.() ?? 0}`);
    return new UmlDriver({
      stateDir: text('stateDir') ?? join(base, instance ? `uml-${instance}` : 'uml'),
      name: text('name'),
      kernel: text('kernel'),
      cgroupRoot: text('cgroupRoot'),
      modulesDir: text('modulesDir'),
      defaultMemoryBytes: memory as number | undefined,
      xstateShim: shim as 'auto' | 'always' | 'never' | undefined,
      ...(options.failAfter === 'cow' ? { failAfter: 'cow' as const } : {}),
    });
  },
});
