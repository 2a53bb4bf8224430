import { createHash } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BadInputError, NotFoundError, type ImageImportSpec, type ImportedImage } from '@rsp/sdk';
import { GUEST_DIR, INIT_SCRIPT } from './guest';
import type { StateLayout } from './paths';
import { run } from './run';

/** What the driver records about an imported image. */
export interface ImageRecord {
  ref: string;
  name: string;
  version?: string;
  digest: string;
  sizeBytes: number;
}

/** The smallest root disk made for an image; guests write into it through their copy-on-write file. */
const MIN_DISK_BYTES = 256 * 1024 * 1024;

/**
 * Imports a root filesystem tarball: keeps the tar (for `exportImage`), and builds the read-only
 * base disk every environment of the image boots from — an ext2 filesystem made by
 * `mke2fs -d` from the unpacked tree plus the driver's guest init (no root mount, no loop device).
 * The same bytes imported twice give the same image.
 */
export async function importImage(layout: StateLayout, source: Readable, spec: ImageImportSpec, signal: AbortSignal): Promise<ImportedImage> {
  if (spec.format !== 'rootfs-tar') throw new BadInputError(`image format ${spec.format} is not supported by the uml driver: use rootfs-tar`, { format: spec.format });
  await mkdir(layout.images, { recursive: true });
  const work = await mkdtemp(join(layout.images, '.import-'));
  try {
    const hash = createHash('sha256');
    let sizeBytes = 0;
    const tee = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        sizeBytes += chunk.length;
        done(null, chunk);
      },
    });
    await pipeline(source, tee, createWriteStream(join(work, 'rootfs.tar')), { signal });
    const digest = `sha256:${hash.digest('hex')}`;
    const ref = `${spec.name.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').slice(0, 40)}-${digest.slice(7, 19)}`;
    const record: ImageRecord = { ref, name: spec.name, ...(spec.version ? { version: spec.version } : {}), digest, sizeBytes };
    if (existsSync(join(layout.image(ref), 'image.json'))) return { ref, digest, sizeBytes };
    const tree = join(work, 'tree');
    await mkdir(tree);
    await run('tar', ['-xf', join(work, 'rootfs.tar'), '-C', tree, '--no-same-owner', '--numeric-owner'], { signal });
    await mkdir(join(tree, GUEST_DIR.slice(1), 'host'), { recursive: true });
    await writeFile(join(tree, GUEST_DIR.slice(1), 'init'), INIT_SCRIPT);
    await chmod(join(tree, GUEST_DIR.slice(1), 'init'), 0o755);
    for (const dir of ['proc', 'sys', 'dev', 'tmp', 'etc']) await mkdir(join(tree, dir), { recursive: true });
    const disk = Math.max(MIN_DISK_BYTES, Math.ceil((sizeBytes * 2 + 64 * 1024 * 1024) / 1048576) * 1048576);
    await run('mke2fs', ['-q', '-t', 'ext2', '-F', '-d', tree, join(work, 'base.img'), `${disk / 1024}k`], { signal });
    await chmod(join(work, 'base.img'), 0o444);
    await rm(tree, { recursive: true, force: true });
    await writeFile(join(work, 'image.json'), JSON.stringify(record));
    await rename(work, layout.image(ref)).catch(async (e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOTEMPTY' && e.code !== 'EEXIST') throw e;
    });
    return { ref, digest, sizeBytes };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The record of an imported image; NOT_FOUND when the driver has no such image. */
export async function readImage(layout: StateLayout, ref: string): Promise<ImageRecord> {
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(ref)) throw new NotFoundError('Image', ref, { driver: 'uml' });
  const text = await readFile(join(layout.image(ref), 'image.json'), 'utf8').catch(() => undefined);
  if (text === undefined) throw new NotFoundError('Image', ref, { driver: 'uml' });
  return JSON.parse(text) as ImageRecord;
}

/** The read-only base disk of an image. */
export function baseDisk(layout: StateLayout, ref: string): string {
  return join(layout.image(ref), 'base.img');
}

/** The imported tarball of an image. */
export async function imageTar(layout: StateLayout, ref: string): Promise<string> {
  await readImage(layout, ref);
  const path = join(layout.image(ref), 'rootfs.tar');
  await stat(path);
  return path;
}
