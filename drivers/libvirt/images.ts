import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { chmod, lstat, mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { BadInputError, UnsupportedOperationError } from '../errors';
import type { ImportedImage } from '../contract';
import { storeImage, unpackRootfs } from '../host/rootfs';
import { runToolOk } from '../host/run-tool';

/**
 * Base images made from root filesystem tarballs (`importImage` with format `rootfs-tar`): the
 * tar is kept as `<imageDir>/<sha256>.tar` (what `exportImage` streams back), unpacked into a
 * scratch directory, made into a raw ext4 disk with `mkfs.ext4 -d` (e2fsprogs) and converted to
 * `<imageDir>/<sha256>.qcow2` (mode 0444) with `qemu-img convert`. That qcow2 is the image's ref:
 * environments get a copy-on-write overlay over it like over any other base image. Every tool
 * runs with an argument array.
 */

/** Free room in the file system on top of its content: 25 % plus 16 MiB (journal, metadata, small writes). */
const MARGIN_RATIO = 1.25;
const MARGIN_BYTES = 16 * 1024 * 1024;
const MIN_BYTES = 32 * 1024 * 1024;
/** What one inode costs on disk, counted on top of file sizes (ext4 inode table + a block for small files). */
const PER_ENTRY_BYTES = 4096;

/** Tools the image build runs. */
export interface ImageTools {
  qemuImg: string;
  mkfsExt4: string;
}

/** The qcow2 base image of a stored tarball, and the tarball of a base image. */
export function baseOfTar(tar: string): string {
  return tar.replace(/\.tar$/, '.qcow2');
}

/**
 * Stores `source` (a root filesystem tar) and builds its qcow2 base in `imageDir`. The digest and
 * size are the tar's; the same tar imported twice reuses the base built the first time.
 */
export async function importRootfsTar(tools: ImageTools, source: Readable, imageDir: string, signal?: AbortSignal): Promise<ImportedImage> {
  await mkdir(imageDir, { recursive: true });
  await chmod(imageDir, 0o755); // the hypervisor's user reads the bases from here
  const stored = await storeImage(source, imageDir);
  const base = baseOfTar(stored.ref);
  if (existsSync(base)) return { ...stored, ref: base };
  const scratch = join(imageDir, `.build-${randomBytes(6).toString('hex')}`);
  try {
    const root = join(scratch, 'root');
    await mkdir(root, { recursive: true });
    await unpackRootfs(stored.ref, root, signal).catch((e: Error) => {
      throw new BadInputError(`the image is not a root filesystem tar archive: ${e.message}`, { format: 'rootfs-tar' });
    });
    const usage = await treeUsage(root);
    if (usage.entries <= 1) throw new BadInputError('the root filesystem tar archive is empty', { format: 'rootfs-tar' });
    const sizeBytes = ext4Size(usage);
    const raw = join(scratch, 'root.raw');
    const file = await open(raw, 'w');
    await file.truncate(sizeBytes).finally(() => file.close());
    const inodes = Math.max(usage.entries * 2 + 1024, Math.ceil(sizeBytes / 16384));
    await runToolOk(tools.mkfsExt4, ['-q', '-F', '-t', 'ext4', '-L', 'rsp-root', '-N', String(inodes), '-d', root, raw], { signal, describe: 'building the ext4 root file system' });
    const partial = join(scratch, basename(base));
    await runToolOk(tools.qemuImg, ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, partial], { signal, describe: 'converting the root file system to qcow2' });
    await chmod(partial, 0o444); // never written: environments write into their own overlays
    await rename(partial, base);
    return { ...stored, ref: base };
  } catch (e) {
    await rm(stored.ref, { force: true }); // nothing half-made stays: the next import starts over
    throw e;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The tar a base image was built from, as a stream; UNSUPPORTED for a base that was not imported from one. */
export async function openImageTar(ref: string, imageDir: string): Promise<Readable> {
  const tar = ref.replace(/\.qcow2$/, '.tar');
  if (dirname(ref) !== imageDir || tar === ref || !existsSync(tar)) {
    throw new UnsupportedOperationError('exportImage', 'driver libvirt', `${ref} was not imported from a root filesystem tar; export the environment instead`);
  }
  return createReadStream(tar);
}

/** Bytes in regular files and symlinks, and the number of entries, under `dir` (hard links counted once each). */
export async function treeUsage(dir: string): Promise<{ bytes: number; entries: number }> {
  let bytes = 0;
  let entries = 1;
  const walk = async (path: string): Promise<void> => {
    for (const entry of await readdir(path, { withFileTypes: true })) {
      const full = join(path, entry.name);
      const info = await lstat(full);
      entries++;
      if (info.isFile() || info.isSymbolicLink()) bytes += info.size;
      if (info.isDirectory()) await walk(full);
    }
  };
  await walk(dir);
  return { bytes, entries };
}

/** The ext4 image size for a tree: content + per-entry overhead, plus the margin, in whole MiB. */
export function ext4Size(usage: { bytes: number; entries: number }): number {
  const need = (usage.bytes + usage.entries * PER_ENTRY_BYTES) * MARGIN_RATIO + MARGIN_BYTES;
  const mib = 1024 * 1024;
  return Math.max(MIN_BYTES, Math.ceil(need / mib) * mib);
}
