import { createWriteStream } from 'node:fs';
import { cp, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BadInputError } from '../errors';
import type { VolumeSpec } from '../contract';
import { runToolOk } from '../host/run-tool';
import { packTree } from '../host/tar-stream';
import { flattenDisk } from './disks';

/**
 * The export format of a libvirt environment (for replication, backups, migration between hosts
 * without shared storage): one tar stream holding
 * - `manifest.json` — format, environment id, domain type, volume names;
 * - `domain.xml` — the domain's definition as libvirt had it;
 * - `root.qcow2` — the root disk with its base merged in (standalone, so the target needs no base);
 * - `volumes/<name>/…` — the contents of each volume directory.
 */
export const EXPORT_FORMAT = 'rsp-libvirt-export/1';

export interface ExportManifest {
  format: typeof EXPORT_FORMAT;
  environment: string;
  domainType: string;
  volumes: string[];
}

/**
 * Stages the export in `staging` (which must not exist) and returns the tar stream; `staging` is
 * removed when the stream ends. With `parts.snapshot`, the root disk as that internal snapshot holds it.
 */
export async function packEnvironment(
  qemuImg: string,
  staging: string,
  parts: { environment: string; domainType: string; domainXml: string; rootDisk: string; snapshot?: string; volumes: Array<{ name: string; hostPath: string }> },
  signal?: AbortSignal,
): Promise<Readable> {
  await mkdir(join(staging, 'volumes'), { recursive: true });
  try {
    const manifest: ExportManifest = { format: EXPORT_FORMAT, environment: parts.environment, domainType: parts.domainType, volumes: parts.volumes.map((v) => v.name) };
    await writeFile(join(staging, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    await writeFile(join(staging, 'domain.xml'), parts.domainXml);
    await flattenDisk(qemuImg, parts.rootDisk, join(staging, 'root.qcow2'), signal, parts.snapshot);
    for (const v of parts.volumes) await cp(v.hostPath, join(staging, 'volumes', v.name), { recursive: true, preserveTimestamps: true });
  } catch (e) {
    await rm(staging, { recursive: true, force: true });
    throw e;
  }
  const stream = packTree(staging, ['manifest.json', 'domain.xml', 'root.qcow2', 'volumes']);
  const cleanUp = () => void rm(staging, { recursive: true, force: true });
  stream.once('close', cleanUp);
  stream.once('end', cleanUp);
  return stream;
}

/** Unpacks an export into `staging` (created), checks it, and copies its volumes into the new spec's volume directories. */
export async function unpackEnvironment(source: Readable, staging: string, volumes: VolumeSpec[] | undefined, signal?: AbortSignal): Promise<{ manifest: ExportManifest; rootDisk: string }> {
  await mkdir(staging, { recursive: true });
  // Received whole into a file first, then unpacked: tar reading a pipe may exit before the
  // sender's last padding is written, which a stream pipeline reports as a premature close.
  const archive = `${staging}.tar`;
  try {
    await pipeline(source, createWriteStream(archive), { signal });
    await runToolOk('tar', ['-x', '--numeric-owner', '-f', archive, '-C', staging], { signal, describe: 'unpacking the environment export' });
  } finally {
    await rm(archive, { force: true });
  }
  const manifest = JSON.parse(await readFile(join(staging, 'manifest.json'), 'utf8').catch(() => '{}')) as Partial<ExportManifest>;
  if (manifest.format !== EXPORT_FORMAT) throw new BadInputError(`the stream is not a libvirt environment export (${EXPORT_FORMAT})`, { format: manifest.format });
  const rootDisk = join(staging, 'root.qcow2');
  if (!(await stat(rootDisk).then((s) => s.isFile(), () => false))) throw new BadInputError('the export has no root.qcow2');
  for (const v of volumes ?? []) {
    const from = join(staging, 'volumes', v.name);
    if (await stat(from).then((s) => s.isDirectory(), () => false)) {
      await mkdir(v.hostPath, { recursive: true });
      await cp(from, v.hostPath, { recursive: true, preserveTimestamps: true });
    }
  }
  return { manifest: manifest as ExportManifest, rootDisk };
}
