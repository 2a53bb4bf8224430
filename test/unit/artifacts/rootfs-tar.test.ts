import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { isRootfsTarStart as sharedRecogniser } from '../../../client/rootfs-tar';
import { IMAGE_HEAD_BYTES, isRootfsTarStart } from '../../../gateway/artifacts/image-format';
import { tarballProblem } from '../../../web/src/ui/tarball';

/** A real tar archive of one file, as tar-stream writes it. */
async function tarOf(name: string, text: string): Promise<Buffer> {
  const archive = pack();
  archive.entry({ name }, text);
  archive.finalize();
  const parts: Buffer[] = [];
  for await (const part of archive) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

describe('the root filesystem tar recogniser shared by the gateway, rsp image import and the dashboard', () => {
  test('the gateway uses the shared module (one recogniser, not two copies)', () => {
    expect(isRootfsTarStart).toBe(sharedRecogniser);
    expect(IMAGE_HEAD_BYTES).toBe(512);
  });

  test('the dashboard and the gateway agree on every kind of start', async () => {
    const tar = await tarOf('bin/sh', 'x');
    const broken = Buffer.from(tar);
    broken[150] = 0x37; // its checksum no longer matches
    const samples: Array<[string, Buffer, boolean]> = [
      ['a tar archive', tar, true],
      ['gzip', gzipSync(tar), true],
      ['bzip2', Buffer.from('BZh91AY&SY'), true],
      ['xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00]), true],
      ['zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00]), true],
      ['a tar header with a wrong checksum', broken, false],
      ['a PNG picture', Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47]), Buffer.alloc(600)]), false],
      ['text', Buffer.from('hello\n'.repeat(200)), false],
      ['zeros', Buffer.alloc(1024), false],
    ];
    for (const [name, bytes, isTar] of samples) {
      expect([name, isRootfsTarStart(bytes.subarray(0, IMAGE_HEAD_BYTES))]).toEqual([name, isTar]);
      const problem = await tarballProblem(Object.assign(new Blob([new Uint8Array(bytes)]), { name: `${name}.bin` }));
      expect([name, problem]).toEqual([name, isTar ? null : expect.stringMatching(/ is not a tar archive \(no tar header at its start\)/)]);
    }
  });

  test('an empty file is left to the gateway by the form, and is no tar start for the gateway', async () => {
    expect(await tarballProblem(new Blob([]))).toBeNull();
    expect(isRootfsTarStart(Buffer.alloc(0))).toBe(false);
  });
});
