/** How compressed tar archives begin (gzip, bzip2, xz, zstd): engines that take them unpack them. */
const COMPRESSED_MAGIC = [[0x1f, 0x8b], [0x42, 0x5a, 0x68], [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], [0x28, 0xb5, 0x2f, 0xfd]];

/**
 * Why `file` cannot be an image's root filesystem tarball (its first block is no tar header, nor
 * the start of a compressed file), or null when it may be: said before the file is sent (the
 * gateway refuses it too, with IMAGE_FORMAT, once it has its start). An empty file is left to the gateway, which
 * refuses it. As `rsp image import` checks.
 */
export async function tarballProblem(file: Blob & { name?: string }): Promise<string | null> {
  const block = new Uint8Array(await file.slice(0, 512).arrayBuffer());
  if (block.length === 0 || COMPRESSED_MAGIC.some((magic) => block.length >= magic.length && magic.every((b, i) => block[i] === b))) return null;
  if (block.length === 512 && isTarHeader(block)) return null;
  return `${file.name ?? 'The file'} is not a tar archive (no tar header at its start): give the root filesystem as a tarball, e.g. made with tar -C rootfs -cf rootfs.tar .`;
}

/** True when `block` is a tar header: a name, and the checksum it holds (octal, bytes 148–155) is its bytes' sum with those bytes as spaces. */
function isTarHeader(block: Uint8Array): boolean {
  if (block[0] === 0) return false;
  const field = /^\s*([0-7]{1,7})[\s\0]*$/.exec(String.fromCharCode(...block.subarray(148, 156)));
  if (!field) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum === parseInt(field[1]!, 8);
}
