import { stat, statfs } from 'node:fs/promises';
import { arch, cpus, release, totalmem } from 'node:os';
import type { ProbeResult } from '../contract';
import { cgroupVersion } from '../host/cgroups';
import { runTool } from '../host/run-tool';
import type { ResolvedLxcOptions } from './options';

/** Is LXC usable here? The tools run, we are root (RSP runs system containers), cgroups are mounted. */
export async function probeLxc(options: ResolvedLxcOptions, signal?: AbortSignal): Promise<ProbeResult> {
  try {
    const version = await runTool(options.tool('lxc-start'), ['--version'], { signal });
    if (version.exitCode !== 0) return { available: false, reason: `lxc-start --version exited ${version.exitCode}: ${version.stderr.trim()}` };
    if (process.getuid?.() !== 0) return { available: false, reason: 'the LXC driver runs system containers and needs root' };
    const hasCgroups = await stat(options.cgroupRoot).then(() => true, () => false);
    if (!hasCgroups) return { available: false, reason: `no cgroup filesystem at ${options.cgroupRoot}` };
    const cgroup = await cgroupVersion(options.cgroupRoot);
    const fs = await statfs(options.lxcPath).catch(() => statfs('/'));
    const disk = fs.blocks * fs.bsize;
    return {
      available: true,
      version: `${version.stdout.trim()} (cgroup v${cgroup})`,
      host: { cpus: cpus().length, memoryBytes: totalmem(), diskBytes: disk, kernel: release(), arch: arch() },
    };
  } catch (e) {
    return { available: false, reason: `LXC tools not found: ${(e as Error).message} (install the lxc package)` };
  }
}
