import { isRootfsTarStart, TAR_BLOCK_BYTES } from '../../../client/rootfs-tar';

/**
 * Why `file` cannot be an image's root filesystem tarball (its first block is no tar header, nor
 * the start of a compressed file), or null when it may be: said before the file is sent (the
 * gateway refuses it too, with IMAGE_FORMAT, once it has its start). An empty file is left to the gateway, which
 * refuses it. As `rsp image import` checks.
 */
export async function tarballProblem(file: Blob & { name?: string }): Promise<string | null> {
  const block = new Uint8Array(await file.slice(0, TAR_BLOCK_BYTES).arrayBuffer());
  if (block.length === 0 || isRootfsTarStart(block)) return null;
  return `${file.name ?? 'The file'} is not a tar archive (no tar header at its start): give the root filesystem as a tarball, e.g. made with tar -C rootfs -cf rootfs.tar .`;
}
