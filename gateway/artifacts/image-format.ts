import { Readable } from 'node:stream';
import { formatAmong, IMAGE_HEAD_BYTES, lookalikeOf, matchesFormats } from '../../client/image-format';
import { isRootfsTarStart } from '../../client/rootfs-tar';
import { DEFAULT_IMAGE_FORMATS, type ImageFormat } from '../../drivers/contract';

/** The recognisers, shared with `rsp image import` and the dashboard's upload form (client/image-format.ts). */
export { IMAGE_HEAD_BYTES, isRootfsTarStart, lookalikeOf };

/**
 * True when `head` may start an image of one of `formats` (`DEFAULT_IMAGE_FORMATS` when empty): it
 * is of one of them, or one of them is a format the gateway cannot tell from its bytes (a plugin's
 * own), which is then left to the driver.
 */
export function matchesImageFormats(head: Buffer, formats: readonly ImageFormat[]): boolean {
  return matchesFormats(head, formats.length ? formats : DEFAULT_IMAGE_FORMATS);
}

/**
 * The format of the image `head` starts, of `formats` (its technology's drivers'; `DEFAULT_IMAGE_FORMATS`
 * when empty): the one the gateway tells from its bytes, else the only one of them it cannot tell
 * (a plugin's own, left to the driver); null when it is of none of them, or could be of several it cannot tell apart.
 */
export function imageFormatOf(head: Buffer, formats: readonly ImageFormat[]): ImageFormat | null {
  return formatAmong(head, formats.length ? formats : DEFAULT_IMAGE_FORMATS);
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
