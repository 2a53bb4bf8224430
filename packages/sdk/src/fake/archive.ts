import { Readable } from 'node:stream';
import { BadInputError } from '../errors';
import type { ImageRef, ResourceLimits } from '../contract';

/**
 * The fake driver's environment archive: a magic line, then length-prefixed frames. The first
 * frame is a JSON header; each file is then two frames, its name and its bytes. Root filesystem
 * files are named by absolute path, data-volume files `volume:<name>:<relative path>`.
 */

const MAGIC = Buffer.from('RSP-FAKE-ENV 1\n');

/** What the archive says about the environment it holds. */
export interface ArchiveHeader {
  format: 'rsp-fake-environment';
  version: 1;
  id: string;
  hostname: string;
  image: ImageRef;
  limits: ResourceLimits;
  labels: Record<string, string>;
  files: number;
}

/** One file of an archive. */
export interface ArchiveEntry {
  name: string;
  data: Buffer;
}

/** Encodes a header and its files as a stream. */
export function encodeArchive(header: Omit<ArchiveHeader, 'format' | 'version' | 'files'>, entries: ArchiveEntry[]): Readable {
  const full: ArchiveHeader = { format: 'rsp-fake-environment', version: 1, ...header, files: entries.length };
  const frames: Buffer[] = [MAGIC, frame(Buffer.from(JSON.stringify(full)))];
  for (const entry of entries) frames.push(frame(Buffer.from(entry.name)), frame(entry.data));
  return Readable.from(frames);
}

/** Reads a whole stream into memory. */
export async function readAll(source: Readable, limitBytes = 1 << 30): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of source) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array);
    total += buffer.length;
    if (total > limitBytes) throw new BadInputError(`stream is larger than ${limitBytes} bytes`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

/** Decodes an archive; BAD_USER_INPUT when the bytes are not one. */
export function decodeArchive(bytes: Buffer): { header: ArchiveHeader; entries: ArchiveEntry[] } {
  if (!bytes.subarray(0, MAGIC.length).equals(MAGIC)) throw new BadInputError('not an environment archive of the fake driver (bad magic)');
  let offset = MAGIC.length;
  const next = (): Buffer => {
    if (offset + 8 > bytes.length) throw new BadInputError('environment archive is truncated');
    const length = Number(bytes.readBigUInt64BE(offset));
    offset += 8;
    if (offset + length > bytes.length) throw new BadInputError('environment archive is truncated');
    const out = bytes.subarray(offset, offset + length);
    offset += length;
    return Buffer.from(out);
  };
  let header: ArchiveHeader;
  try {
    header = JSON.parse(next().toString('utf8')) as ArchiveHeader;
  } catch (e) {
    if (e instanceof BadInputError) throw e;
    throw new BadInputError('environment archive header is not JSON');
  }
  if (header.format !== 'rsp-fake-environment' || header.version !== 1) throw new BadInputError(`unknown environment archive format ${header.format} v${header.version}`);
  const entries: ArchiveEntry[] = [];
  for (let i = 0; i < header.files; i++) entries.push({ name: next().toString('utf8'), data: next() });
  if (offset !== bytes.length) throw new BadInputError('environment archive has trailing bytes');
  return { header, entries };
}

function frame(data: Buffer): Buffer {
  const length = Buffer.alloc(8);
  length.writeBigUInt64BE(BigInt(data.length));
  return Buffer.concat([length, data]);
}
