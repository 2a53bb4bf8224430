import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { VolumeSpec } from '../contract';
import { runToolOk } from './run-tool';

/**
 * Volumes in environment exports, for the drivers that pack exports with GNU tar (LXC, vserver):
 * each volume's content travels as `volumes/<name>/…` next to `rootfs/`, and an import copies it
 * into the directory the new spec gives the volume of the same name. Volumes live outside the
 * root filesystem, so without this an export would lose exactly the data that matters.
 */
export const VOLUMES_DIR = 'volumes';

/** Escapes `text` for a `--transform` (basic regular expression) delimited by `,`: only BRE specials and the delimiter — escaping `+ ? | ( ) { }` would make them operators. */
function sedEscape(text: string): string {
  return text.replace(/[\\^$.*[\],]/g, '\\$&');
}

/**
 * `tar -c` arguments adding each volume as `volumes/<name>/…` (tar is run from `/`, and the volume's
 * host path is renamed by an anchored transform that leaves symlink targets alone). Put them before
 * the caller's own `-C`/`--transform` arguments: transforms apply in order to every member.
 */
export function volumePackArgs(volumes: readonly VolumeSpec[] = []): string[] {
  const args: string[] = [];
  for (const v of volumes) {
    const relative = v.hostPath.replace(/^\/+/, '').replace(/\/+$/, '');
    args.push('--transform', `s,^${sedEscape(relative)}\\(/\\|$\\),${VOLUMES_DIR}/${v.name}\\1,S`, '-C', '/', relative);
  }
  return args;
}

/** Copies `staging/volumes/<name>/` into the host directory of each of `volumes` with that name; volumes absent from the export stay as they are. */
export async function restoreVolumes(staging: string, volumes: readonly VolumeSpec[] = [], signal?: AbortSignal): Promise<void> {
  for (const v of volumes) {
    const from = join(staging, VOLUMES_DIR, v.name);
    if (!(await stat(from).then((s) => s.isDirectory(), () => false))) continue;
    await runToolOk('cp', ['-a', '--', `${from}/.`, `${v.hostPath}/`], { signal, describe: `restoring volume ${v.name}` });
  }
}
