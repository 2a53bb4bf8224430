import { stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { BadInputError } from '../errors';
import { runTool, runToolOk } from '../host/run-tool';

/**
 * Disks of libvirt environments, through `qemu-img` run with argument arrays: each environment's
 * root disk is a qcow2 copy-on-write overlay over a base image that is never written (seed 002:
 * read-only OS; data lives in volumes outside the image).
 */

/** What `qemu-img info` says about an image. */
export interface DiskInfo {
  format: string;
  virtualSize: number;
  backingFile?: string;
}

/** Checks a base image reference: an absolute path to an existing file qemu-img can read. */
export async function baseImageInfo(qemuImg: string, path: string, signal?: AbortSignal): Promise<DiskInfo> {
  if (!isAbsolute(path) || /[\0\n\r]/.test(path) || path.split('/').includes('..')) {
    throw new BadInputError(`base image "${path}" must be an absolute path to a disk image file`, { image: path });
  }
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile()) throw new BadInputError(`base image ${path} does not exist or is not a file`, { image: path });
  return diskInfo(qemuImg, path, signal);
}

/** `qemu-img info` of a disk (without taking its lock: a running guest may hold it). */
export async function diskInfo(qemuImg: string, path: string, signal?: AbortSignal): Promise<DiskInfo> {
  const result = await runTool(qemuImg, ['info', '--force-share', '--output=json', path], { signal });
  if (result.exitCode !== 0) throw new BadInputError(`${path} is not a disk image qemu-img can read: ${result.stderr.trim()}`, { image: path });
  const parsed = JSON.parse(result.stdout) as { format: string; 'virtual-size': number; 'backing-filename'?: string };
  return { format: parsed.format, virtualSize: parsed['virtual-size'], backingFile: parsed['backing-filename'] };
}

/**
 * Creates `overlay` (qcow2) backed by `base`; its virtual size is `sizeBytes` when given (not
 * smaller than the base), else the base's.
 */
export async function createOverlay(qemuImg: string, base: string, baseInfo: DiskInfo, overlay: string, sizeBytes?: number, signal?: AbortSignal): Promise<void> {
  if (sizeBytes !== undefined && sizeBytes < baseInfo.virtualSize) {
    throw new BadInputError(`diskBytes ${sizeBytes} is smaller than the base image (${baseInfo.virtualSize} bytes)`, { image: base });
  }
  const args = ['create', '-q', '-f', 'qcow2', '-F', baseInfo.format, '-b', base, overlay];
  if (sizeBytes !== undefined) args.push(String(sizeBytes));
  await runToolOk(qemuImg, args, { signal, describe: `creating the overlay ${overlay}` });
}

/** The vmstate disk of a read-only root (see `DomainModel.stateDisk`): an empty qcow2 of 1 MiB, which grows by what snapshots store. */
export async function createStateDisk(qemuImg: string, path: string, signal?: AbortSignal): Promise<void> {
  await runToolOk(qemuImg, ['create', '-q', '-f', 'qcow2', path, String(1024 * 1024)], { signal, describe: `creating the state disk ${path}` });
}

/**
 * Writes a standalone qcow2 copy of `disk` (its backing chain merged) to `out`; with `snapshot`,
 * of the disk as that internal snapshot holds it (`-l snapshot.name=`: its clusters never change
 * while it exists, so a running guest writing on does not disturb the copy).
 */
export async function flattenDisk(qemuImg: string, disk: string, out: string, signal?: AbortSignal, snapshot?: string): Promise<void> {
  const from = snapshot ? ['-l', `snapshot.name=${snapshot}`] : [];
  await runToolOk(qemuImg, ['convert', '-U', '-O', 'qcow2', ...from, disk, out], { signal, describe: `flattening ${disk}${snapshot ? ` as snapshot ${snapshot} holds it` : ''}` });
}
