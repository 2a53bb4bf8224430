import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { IMAGE_HEAD_BYTES as SHARED_HEAD_BYTES } from '../../../client/image-format';
import { isRootfsTarStart as sharedRecogniser } from '../../../client/rootfs-tar';
import { IMAGE_HEAD_BYTES, imageFormatOf, isRootfsTarStart, matchesImageFormats } from '../../../gateway/artifacts/image-format';
import { imageFileProblem } from '../../../web/src/ui/image-file';

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
    expect(SHARED_HEAD_BYTES).toBe(IMAGE_HEAD_BYTES);
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
      expect([name, matchesImageFormats(bytes.subarray(0, IMAGE_HEAD_BYTES), ['rootfs-tar'])]).toEqual([name, isTar]);
      const problem = await imageFileProblem(Object.assign(new Blob([new Uint8Array(bytes)]), { name: `${name}.bin` }), ['rootfs-tar']);
      expect([name, problem]).toEqual([name, isTar ? null : expect.stringMatching(/\.bin is .*; the gateway's drivers take: rootfs-tar \(rootfs-tar: a root filesystem tarball/)]);
    }
  });

  test("the form sends what a driver of the gateway takes, as the gateway tells it, and names the format found and those taken otherwise", async () => {
    const qcow2 = Object.assign(new Blob([new Uint8Array([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3]), new Uint8Array(600)]), { name: 'disk.qcow2' });
    const png = Object.assign(new Blob([new Uint8Array([0x89, 0x50, 0x4e, 0x47]), new Uint8Array(600)]), { name: 'cat.png' });
    const text = Object.assign(new Blob(['hello\n'.repeat(200)]), { name: 'notes.txt' });
    const tar = Object.assign(new Blob([new Uint8Array(await tarOf('bin/sh', 'x'))]), { name: 'rootfs.tar' });
    expect(await imageFileProblem(qcow2, ['rootfs-tar'])).toBe("disk.qcow2 is a qcow2 image; the gateway's drivers take: rootfs-tar (rootfs-tar: a root filesystem tarball, e.g. made with tar -C rootfs -cf rootfs.tar .)");
    expect(await imageFileProblem(qcow2, ['rootfs-tar', 'qcow2', 'rootfs-tar'])).toBeNull();
    expect(await imageFileProblem(tar, ['qcow2'])).toBe("rootfs.tar is a root filesystem tarball (rootfs-tar); the gateway's drivers take: qcow2");
    expect(await imageFileProblem(png, ['rootfs-tar', 'qcow2'])).toMatch(/^cat\.png is a PNG picture; the gateway's drivers take: rootfs-tar, qcow2 /);
    expect(await imageFileProblem(text, ['qcow2'])).toBe("notes.txt is of no image format rsp knows (no tar nor qcow2 header at its start); the gateway's drivers take: qcow2");
    // A plugin's own format is not told from bytes: what might be of it is left to the gateway, as the gateway leaves it to the driver.
    expect(await imageFileProblem(text, ['rootfs-tar', 'vendor-blob'])).toBeNull();
    expect(matchesImageFormats(Buffer.from('hello\n'), ['rootfs-tar', 'vendor-blob'])).toBe(true);
    expect(imageFormatOf(Buffer.from([0x51, 0x46, 0x49, 0xfb, 0, 0]), ['rootfs-tar', 'qcow2'])).toBe('qcow2');
  });

  test('an empty file is left to the gateway by the form, and is no tar start for the gateway', async () => {
    expect(await imageFileProblem(new Blob([]), ['rootfs-tar'])).toBeNull();
    expect(isRootfsTarStart(Buffer.alloc(0))).toBe(false);
  });
});
