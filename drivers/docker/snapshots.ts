import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type Docker from 'dockerode';
import type { SnapshotInfo, VolumeSpec } from '../contract';
import { runToolOk } from '../host/run-tool';
import { containerName, isOurs } from './labels';

/**
 * Docker snapshots: each one is an image committed from the container (`docker commit`, paused
 * while it is taken) and tagged `<repository>-snapshot:<container>.<name>`, labelled with the
 * environment, the snapshot's name and its time; the environment's volumes (bind-mounted host
 * directories, which a commit does not see) are copied beside, under the driver's state
 * directory (`snapshots/<container>/<name>/<volume>`).
 */

/** On a snapshot image: the environment it is a snapshot of. */
export const LABEL_SNAPSHOT_OF = 'rsp.snapshot-of';
/** On a snapshot image: the snapshot's name. */
export const LABEL_SNAPSHOT = 'rsp.snapshot';
/** On a snapshot image: when it was taken (ISO 8601). */
export const LABEL_SNAPSHOT_AT = 'rsp.snapshot-at';

/** The labels a container inherits from a snapshot image it is made from, and must not report as its own. */
export const SNAPSHOT_LABELS = [LABEL_SNAPSHOT_OF, LABEL_SNAPSHOT, LABEL_SNAPSHOT_AT] as const;

/** Where a snapshot image is tagged. */
export function snapshotTag(imageRepository: string, id: string, name: string, instance?: string): { repo: string; tag: string } {
  return { repo: `${imageRepository}-snapshot`, tag: `${containerName(id, instance)}.${name}` };
}

/** A snapshot image as the engine lists it. */
export interface SnapshotImage extends SnapshotInfo {
  imageId: string;
  /** False once untagged (deleted while a container still runs from it). */
  tagged: boolean;
}

/** Every snapshot image of the environment (of this driver instance), untagged ones included, oldest first. */
export async function snapshotImages(engine: Docker, imageRepository: string, id: string, instance?: string, owner?: string): Promise<SnapshotImage[]> {
  const images = await engine.listImages({ filters: { label: [`${LABEL_SNAPSHOT_OF}=${id}`] } });
  return images
    .filter((i) => isOurs(i.Labels ?? undefined, { instance, owner }) && i.Labels?.[LABEL_SNAPSHOT])
    .map((i) => {
      const name = i.Labels[LABEL_SNAPSHOT]!;
      const { repo, tag } = snapshotTag(imageRepository, id, name, instance);
      return { name, createdAt: new Date(i.Labels[LABEL_SNAPSHOT_AT] ?? i.Created * 1000), imageId: i.Id, tagged: (i.RepoTags ?? []).includes(`${repo}:${tag}`) };
    })
    .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
}

/** The directory holding the volume copies of one snapshot (or, without `name`, of all of the environment's). */
export function volumeCopiesDir(stateDir: string, id: string, name?: string, instance?: string): string {
  const dir = join(stateDir, 'snapshots', containerName(id, instance));
  return name ? join(dir, name) : dir;
}

/** Copies each volume's host directory into `dir/<volume>` (`cp -a`: owners, modes and times kept). */
export async function copyVolumes(dir: string, volumes: readonly VolumeSpec[], signal?: AbortSignal): Promise<void> {
  for (const v of volumes) {
    await mkdir(join(dir, v.name), { recursive: true });
    await runToolOk('cp', ['-a', '--', `${v.hostPath}/.`, `${join(dir, v.name)}/`], { signal, describe: `copying volume ${v.name} for a snapshot` });
  }
}

/** Makes each volume's host directory hold exactly its copy in `dir/<volume>` again (volumes without a copy stay as they are). */
export async function restoreVolumeCopies(dir: string, volumes: readonly VolumeSpec[], signal?: AbortSignal): Promise<void> {
  for (const v of volumes) {
    const from = join(dir, v.name);
    if (!(await stat(from).then((s) => s.isDirectory(), () => false))) continue;
    for (const entry of await readdir(v.hostPath)) await rm(join(v.hostPath, entry), { recursive: true, force: true });
    await runToolOk('cp', ['-a', '--', `${from}/.`, `${v.hostPath}/`], { signal, describe: `restoring volume ${v.name} from a snapshot` });
  }
}
