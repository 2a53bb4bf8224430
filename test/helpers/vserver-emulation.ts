import { join } from 'node:path';
import type { VserverDriverOptions } from '../../drivers/vserver';

/** The util-vserver emulation (see drivers/vserver/README.md). */
export const EMULATOR = join(__dirname, '..', 'fixtures', 'vserver-emulator');

/** Options pointing the driver at the emulation, with every path under `work`. */
export function emulatedVserverOptions(work: string, extra: Partial<VserverDriverOptions> = {}): VserverDriverOptions {
  const confDir = join(work, 'etc-vservers');
  const rootDir = join(work, 'vservers');
  const runDir = join(work, 'run');
  return {
    vserverTool: join(EMULATOR, 'vserver'),
    statTool: join(EMULATOR, 'vserver-stat'),
    confDir,
    rootDir,
    imageDir: join(work, 'images'),
    toolEnv: { VSERVER_CONFDIR: confDir, VSERVER_ROOTDIR: rootDir, VSERVER_RUNDIR: runDir },
    diskLimits: false,
    ...extra,
  };
}
