/**
 * How a root filesystem tarball begins, told from its first bytes: the `rootfs-tar` recogniser of
 * the image formats' table (client/image-format.ts) the gateway, `rsp image import` and the
 * dashboard's upload form share. Plain `Uint8Array` code, run by Node and bundled for the browser.
 */

/** The bytes a tar header takes: the start an image's format is told from. */
export const TAR_BLOCK_BYTES = 512;

/** How compressed tar archives begin (gzip, bzip2, xz, zstd): engines that take them unpack them. */
const COMPRESSED_MAGIC: readonly (readonly number[])[] = [
  [0x1f, 0x8b],
  [0x42, 0x5a, 0x68],
  [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00],
  [0x28, 0xb5, 0x2f, 0xfd],
];

/**
 * True when `head` (a file's first `TAR_BLOCK_BYTES`, or all of a shorter one) may start a root
 * filesystem tarball: a tar header block (its checksum right), or the start of a compressed file.
 */
export function isRootfsTarStart(head: Uint8Array): boolean {
  if (COMPRESSED_MAGIC.some((magic) => head.length >= magic.length && magic.every((b, i) => head[i] === b))) return true;
  return head.length >= TAR_BLOCK_BYTES && isTarHeader(head.subarray(0, TAR_BLOCK_BYTES));
}

/** True when `block` is a tar header: a name, and the checksum it holds (octal, bytes 148–155) is its bytes' sum with those bytes as spaces. */
function isTarHeader(block: Uint8Array): boolean {
  if (block[0] === 0) return false;
  const field = /^\s*([0-7]{1,7})[\s\0]*$/.exec(String.fromCharCode(...block.subarray(148, 156)));
  if (!field) return false;
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK_BYTES; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum === parseInt(field[1]!, 8);
}
