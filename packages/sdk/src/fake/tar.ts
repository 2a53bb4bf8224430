import { BadInputError } from '../errors';

/**
 * A minimal ustar reader and writer: enough for the fake driver to read the regular files of a
 * `rootfs-tar` image and for tests to build one. Directories are implied by file paths.
 */

const BLOCK = 512;

/** Builds a ustar archive of regular files (paths relative to `/`, at most 100 bytes each). */
export function createRootfsTar(files: Record<string, string | Buffer>): Buffer {
  const parts: Buffer[] = [];
  for (const [path, content] of Object.entries(files).sort(([a], [b]) => a.localeCompare(b))) {
    const name = path.replace(/^\/+/, '');
    const data = typeof content === 'string' ? Buffer.from(content) : content;
    if (!name || Buffer.byteLength(name) > 100) throw new BadInputError(`tar entry name "${path}" must be 1–100 bytes`, { path });
    const header = Buffer.alloc(BLOCK);
    header.write(name, 0, 100, 'utf8');
    writeOctal(header, 100, 8, 0o644);
    writeOctal(header, 108, 8, 0);
    writeOctal(header, 116, 8, 0);
    writeOctal(header, 124, 12, data.length);
    writeOctal(header, 136, 12, 0);
    header.fill(0x20, 148, 156);
    header.write('0', 156);
    header.write('ustar\u000000', 257, 8, 'binary');
    writeOctal(header, 148, 7, checksum(header));
    parts.push(header, data, Buffer.alloc((BLOCK - (data.length % BLOCK)) % BLOCK));
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}

/** Reads the regular files of a ustar archive as absolute paths; BAD_USER_INPUT when it is not one. */
export function readRootfsTar(archive: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let offset = 0;
  while (offset + BLOCK <= archive.length) {
    const header = archive.subarray(offset, offset + BLOCK);
    if (header.every((b) => b === 0)) return files;
    if (checksum(header) !== readOctal(header, 148, 8)) throw new BadInputError(`image is not a tar archive: bad header checksum at byte ${offset}`);
    const size = readOctal(header, 124, 12);
    const type = String.fromCharCode(header[156] ?? 0);
    const prefix = readString(header, 345, 155);
    const name = readString(header, 0, 100);
    const start = offset + BLOCK;
    if (start + size > archive.length) throw new BadInputError('image is not a tar archive: truncated entry', { entry: name });
    if (type === '0' || type === '\0') {
      const path = `/${[prefix, name].filter(Boolean).join('/')}`.replace(/\/+/g, '/').replace(/^\/\.\//, '/');
      files.set(path, Buffer.from(archive.subarray(start, start + size)));
    }
    offset = start + Math.ceil(size / BLOCK) * BLOCK;
  }
  if (offset === 0 && archive.length > 0) throw new BadInputError('image is not a tar archive: shorter than one header');
  return files;
}

function checksum(header: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
  return sum;
}

function writeOctal(buffer: Buffer, offset: number, length: number, value: number): void {
  buffer.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, length, 'ascii');
}

function readOctal(buffer: Buffer, offset: number, length: number): number {
  const text = readString(buffer, offset, length).trim();
  return text ? parseInt(text, 8) : 0;
}

function readString(buffer: Buffer, offset: number, length: number): string {
  const raw = buffer.subarray(offset, offset + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end === -1 ? length : end).toString('utf8');
}
