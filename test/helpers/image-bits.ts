/**
 * `bits`, of the same length, with a start the gateway takes as an image's (`rootfs-tar`): a tar
 * header block when there is room for one (512 bytes), else gzip's magic. For tests about sizes,
 * digests and quotas, whose bytes are otherwise any.
 */
export function asImageBits(bits: Buffer): Buffer {
  const out = Buffer.from(bits);
  if (out.length < 512) {
    if (out.length >= 2) out.set([0x1f, 0x8b]);
    return out;
  }
  const header = Buffer.alloc(512);
  header.write('filler', 0, 'latin1');
  header.write('0000644\0', 100, 'latin1');
  header.write('0000000\0', 108, 'latin1');
  header.write('0000000\0', 116, 'latin1');
  header.write(`${(out.length - 512).toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  header.write('00000000000\0', 136, 'latin1');
  header.write('0', 156, 'latin1');
  header.write('ustar\x0000', 257, 'latin1');
  header.fill(0x20, 148, 156);
  const sum = header.reduce((a, b) => a + b, 0);
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  header.copy(out, 0);
  return out;
}
