import { existsSync } from 'node:fs';
import { mkdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './run';

/** The shim's C source, shipped in the package (`native/`). */
const SOURCE = join(__dirname, '..', 'native', 'xstate-shim.c');

/**
 * True when this CPU's FPU state is larger than what linux.uml 6.1 saves (it has AVX-512 or AMX):
 * there every guest process dies with "ptrace set fp regs failed, errno = 14" unless UML runs
 * with the xstate shim.
 */
export async function needsXstateShim(): Promise<boolean> {
  if (process.arch !== 'x64') return false;
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const flags = new Set((/^flags\s*:(.*)$/m.exec(cpuinfo)?.[1] ?? '').trim().split(/\s+/));
  return flags.has('avx512f') || flags.has('amx_tile');
}

/** Builds the shim into `libDir` with the host's C compiler (once) and returns its path. */
export async function buildXstateShim(libDir: string, compiler = 'cc'): Promise<string> {
  const out = join(libDir, 'xstate-shim.so');
  if (existsSync(out)) return out;
  await mkdir(libDir, { recursive: true });
  const partial = `${out}.${process.pid}`;
  await run(compiler, ['-shared', '-fPIC', '-O2', '-o', partial, SOURCE, '-ldl']);
  await rename(partial, out);
  return out;
}
