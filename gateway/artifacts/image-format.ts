import { Readable } from 'node:stream';
import { isRootfsTarStart, TAR_BLOCK_BYTES } from '../../client/rootfs-tar';
import { DEFAULT_IMAGE_FORMATS, type ImageFormat } from '../../drivers/contract';

/** The tar recogniser, shared with the dashboard's upload form (client/rootfs-tar.ts). */
export { isRootfsTarStart };

/** How many bytes of an image's start its format is told from: a tar header block. */
export const IMAGE_HEAD_BYTES = TAR_BLOCK_BYTES;

/** The image formats the gateway can tell from their first bytes, each with its test. */
const RECOGNIZERS: Record<string, (head: Buffer) => boolean> = {
  'rootfs-tar': isRootfsTarStart,
  qcow2: (head) => startsWith(head, Buffer.from([0x51, 0x46, 0x49, 0xfb])),
};

/** Files that are often sent by mistake, by how they begin: named in the refusal. */
const LOOKALIKES: [Buffer, string][] = [
  [Buffer.from([0x89, 0x50, 0x4e, 0x47]), 'a PNG picture'],
  [Buffer.from([0xff, 0xd8, 0xff]), 'a JPEG picture'],
  [Buffer.from('GIF8'), 'a GIF picture'],
  [Buffer.from('%PDF'), 'a PDF document'],
  [Buffer.from([0x50, 0x4b, 0x03, 0x04]), 'a zip archive'],
  [Buffer.from([0x50, 0x4b, 0x05, 0x06]), 'an empty zip archive'],
  [Buffer.from('7z'), 'a 7-Zip archive'],
  [Buffer.from('Rar!'), 'a RAR archive'],
  [Buffer.from([0x7f, 0x45, 0x4c, 0x46]), 'an executable (ELF)'],
  [Buffer.from('QFI'), 'a qcow2 disk image'],
];

/**
 * True when `head` may start an image of one of `formats`: it is of one of them, or one of them
 * is a format the gateway cannot tell from its bytes (a plugin's own), which is then left to the driver.
 */
export function matchesImageFormats(head: Buffer, formats: readonly ImageFormat[]): boolean {
  const all = formats.length ? formats : DEFAULT_IMAGE_FORMATS;
  return all.some((format) => !RECOGNIZERS[format] || RECOGNIZERS[format](head));
}

/**
 * The format of the image `head` starts, of `formats` (its technology's drivers'; `DEFAULT_IMAGE_FORMATS`
 * when empty): the one the gateway tells from its bytes, else the only one of them it cannot tell
 * (a plugin's own, left to the driver); null when it is of none of them, or could be of several it cannot tell apart.
 */
export function imageFormatOf(head: Buffer, formats: readonly ImageFormat[]): ImageFormat | null {
  const all = formats.length ? formats : DEFAULT_IMAGE_FORMATS;
  const told = all.find((format) => RECOGNIZERS[format]?.(head));
  if (told) return told;
  const untold = all.filter((format) => !RECOGNIZERS[format]);
  return untold.length === 1 ? untold[0] : null;
}

/** What `head` looks like when it is a kind of file often sent by mistake (`a PNG picture`), else null. */
export function lookalikeOf(head: Buffer): string | null {
  return LOOKALIKES.find(([magic]) => startsWith(head, magic))?.[1] ?? null;
}

/**
 * Reads the first `IMAGE_HEAD_BYTES` of `content` (fewer when it ends first) without losing them:
 * answers them with a stream of the whole content, the read bytes first. An error of `content`
 * before its head is read rejects; a later one goes to the returned stream, and destroying that
 * stream destroys `content`.
 */
export async function readImageHead(content: Readable): Promise<{ head: Buffer; whole: Readable }> {
  const source = content[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  const read: Buffer[] = [];
  let length = 0;
  let done = false;
  while (length < IMAGE_HEAD_BYTES) {
    const next = await source.next();
    if (next.done) {
      done = true;
      break;
    }
    const chunk = typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
    read.push(chunk);
    length += chunk.length;
  }
  const head = Buffer.concat(read);
  async function* rest(): AsyncGenerator<Buffer> {
    try {
      if (head.length) yield head;
      if (done) return;
      for (let next = await source.next(); !next.done; next = await source.next()) yield typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
    } finally {
      await source.return?.();
    }
  }
  return { head: head.subarray(0, IMAGE_HEAD_BYTES), whole: Readable.from(rest(), { objectMode: false }) };
}

function startsWith(head: Buffer, magic: Buffer): boolean {
  return head.length >= magic.length && head.subarray(0, magic.length).equals(magic);
}
