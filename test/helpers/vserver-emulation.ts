import { readFile } from 'node:fs/promises';
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

/**
 * Whether process `pid` has exited: it is gone from /proc, or only its zombie is left. A process
 * can vanish between any two looks at /proc, so a missing file is an answer ("gone"), not an error.
 */
export async function processExited(pid: number): Promise<boolean> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT' || e.code === 'ESRCH') return undefined;
    throw e;
  });
  return status === undefined || /^State:\s+Z/m.test(status);
}
