/**
 * An image's format, told from its first bytes. One table for the gateway (which checks an upload
 * against its technology's drivers' `imageFormats`, IMAGE_FORMAT), `rsp image import` and the
 * dashboard's upload form (which refuse before sending only what no driver of the gateway takes):
 * plain `Uint8Array` code, run by Node and bundled for the browser.
 */
import { isRootfsTarStart, TAR_BLOCK_BYTES } from './rootfs-tar';

/** How many bytes of an image's start its format is told from: a tar header block. */
export const IMAGE_HEAD_BYTES = TAR_BLOCK_BYTES;

/** The image formats told from their first bytes, each with its test. */
const RECOGNIZERS: Record<string, (head: Uint8Array) => boolean> = {
  'rootfs-tar': isRootfsTarStart,
  qcow2: (head) => startsWith(head, [0x51, 0x46, 0x49, 0xfb]),
};

/** Files that are often sent by mistake, by how they begin: named in a refusal. */
const LOOKALIKES: [readonly number[], string][] = [
  [[0x89, 0x50, 0x4e, 0x47], 'a PNG picture'],
  [[0xff, 0xd8, 0xff], 'a JPEG picture'],
  [ascii('GIF8'), 'a GIF picture'],
  [ascii('%PDF'), 'a PDF document'],
  [[0x50, 0x4b, 0x03, 0x04], 'a zip archive'],
  [[0x50, 0x4b, 0x05, 0x06], 'an empty zip archive'],
  [ascii('7z'), 'a 7-Zip archive'],
  [ascii('Rar!'), 'a RAR archive'],
  [[0x7f, 0x45, 0x4c, 0x46], 'an executable (ELF)'],
  [ascii('QFI'), 'a qcow2 disk image'],
];

/** True when images of `format` are told from their bytes; false for a format only its driver knows (a plugin's own). */
export function isRecognizedFormat(format: string): boolean {
  return Object.prototype.hasOwnProperty.call(RECOGNIZERS, format);
}

/** The format `head` (an image's first `IMAGE_HEAD_BYTES`, or all of a shorter one) is of, of those told from their bytes; null when none. */
export function recognizedFormatOf(head: Uint8Array): string | null {
  return Object.keys(RECOGNIZERS).find((format) => RECOGNIZERS[format]!(head)) ?? null;
}

/**
 * True when `head` may start an image of one of `formats`: it is of one of them, or one of them
 * is a format not told from its bytes (a plugin's own), which is then left to the driver.
 */
export function matchesFormats(head: Uint8Array, formats: readonly string[]): boolean {
  return formats.some((format) => !isRecognizedFormat(format) || RECOGNIZERS[format]!(head));
}

/**
 * The format of the image `head` starts, of `formats`: the one told from its bytes, else the only
 * one of them not told from bytes (a plugin's own, left to the driver); null when it is of none of
 * them, or could be of several that cannot be told apart.
 */
export function formatAmong(head: Uint8Array, formats: readonly string[]): string | null {
  const told = formats.find((format) => isRecognizedFormat(format) && RECOGNIZERS[format]!(head));
  if (told) return told;
  const untold = formats.filter((format) => !isRecognizedFormat(format));
  return untold.length === 1 ? untold[0]! : null;
}

/** What `head` looks like when it is a kind of file often sent by mistake (`a PNG picture`), else null. */
export function lookalikeOf(head: Uint8Array): string | null {
  return LOOKALIKES.find(([magic]) => startsWith(head, magic))?.[1] ?? null;
}

/**
 * Why a client does not send the image file `name` that starts with `head` to a gateway whose
 * drivers take `formats` (every driver's `imageFormats`, as `drivers` answers them), in one line
 * naming the format found and those taken; null when a driver may take it (the gateway then
 * decides) or the file is empty (the gateway refuses it).
 */
export function imageFileRefusal(name: string, head: Uint8Array, formats: readonly string[]): string | null {
  if (head.length === 0 || matchesFormats(head, formats)) return null;
  const found = recognizedFormatOf(head);
  const what = found === 'rootfs-tar' ? 'a root filesystem tarball (rootfs-tar)' : found ? `a ${found} image` : (lookalikeOf(head) ?? 'of no image format rsp knows (no tar nor qcow2 header at its start)');
  const taken = formats.length ? [...new Set(formats)].join(', ') : 'none (no driver)';
  return `${name} is ${what}; the gateway's drivers take: ${taken}${formats.includes('rootfs-tar') ? ' (rootfs-tar: a root filesystem tarball, e.g. made with tar -C rootfs -cf rootfs.tar .)' : ''}`;
}

function startsWith(head: Uint8Array, magic: readonly number[]): boolean {
  return head.length >= magic.length && magic.every((b, i) => head[i] === b);
}

function ascii(text: string): number[] {
  return [...text].map((c) => c.charCodeAt(0));
}
