import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { createRootfsTar } from '../../drivers/fake';
import { createTestDatabase, DATABASE_KINDS, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { until } from '../helpers/until';
import { asImageBits } from '../helpers/image-bits';

const QUOTA = 256 * 1024;

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

function imageUploadSuite(kind: 'pglite' | 'postgres') {
  let db: TestDatabase;
  let t: TestGateway;
  let group: string;
  let n = 0;

  const register = async (digest?: string): Promise<string> =>
    (await t.ok<{ registerImage: { id: string } }>('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: group, name: `img${++n}`, version: '1', technology: 'fake', ...(digest ? { digest } : {}) } })).registerImage.id;
  const contentDir = () => t.gateway.config.imageDir;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    t = await startTestGateway(db, { RSP_GROUP_STORAGE_BYTES: String(QUOTA) });
    group = (await t.ok<{ createGroup: { id: string } }>('mutation { createGroup(input: { slug: "up", name: "Uploaders" }) { id } }')).createGroup.id;
    // Something stored before, so "nothing left behind" is checked against a store that is not empty.
    expect((await t.upload(await register(), asImageBits(Buffer.alloc(1000, 1)))).status).toBe(200);
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test('refused uploads leave nothing on disk: wrong digest, over the quota, a client that goes away', async () => {
    const before = filesUnder(contentDir());

    const declared = `sha256:${createHash('sha256').update('what was announced').digest('hex')}`;
    const wrongDigest = await register(declared);
    for (let i = 0; i < 3; i++) {
      const res = await t.upload(wrongDigest, asImageBits(Buffer.alloc(2000, i)));
      expect(res.status).toBe(400);
      expect(res.body.errors[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' }, message: expect.stringContaining(`is not the declared ${declared}`) });
    }

    const big = await register();
    const tooBig = await t.upload(big, asImageBits(Buffer.alloc(QUOTA + 1, 7)));
    expect(tooBig.status).toBe(409);
    expect(tooBig.body.errors[0]).toEqual({
      message: `Storage quota of group ${group} exceeded: 1000 of ${QUOTA} bytes used (its images, the replicas the gateway keeps and transfers in progress); the upload of image img3:1 needs ${QUOTA + 1} more bytes, ${QUOTA - 1000} are left`,
      extensions: { code: 'CONFLICT', details: { reason: 'STORAGE_QUOTA', groupId: group, usedBytes: 1000, limitBytes: QUOTA, neededBytes: QUOTA + 1 } },
    });

    // A client that sends half of its body and hangs up.
    const url = new URL(`${t.gateway.url}/images/${big}/content`);
    await new Promise<void>((resolve) => {
      const req = request(url, { method: 'PUT', headers: { authorization: `Bearer ${t.adminToken}`, 'content-type': 'application/x-tar', 'content-length': String(100_000) } });
      req.on('error', () => resolve());
      req.write(asImageBits(Buffer.alloc(50_000, 3)), () => setImmediate(() => req.destroy()));
      req.on('close', () => resolve());
    });
    await until('the partial upload to be removed', () => filesUnder(contentDir()).join('\n') === before.join('\n'), 15_000);

    expect(filesUnder(contentDir())).toEqual(before);
    // Still serving, and the image that was refused can still be given its bits.
    const ok = await t.upload(big, asImageBits(Buffer.alloc(5000, 9)));
    expect(ok.status).toBe(200);
    expect(ok.body.sizeBytes).toBe(5000);
  });

  test('the quota counts what the group keeps: stored images add up, the next upload is refused at once when nothing is left', async () => {
    expect((await t.ok('query ($id: ID!) { group(id: $id) { storage { usedBytes imageBytes reservedBytes limitBytes quotaBytes } } }', { id: group })).group.storage).toEqual({ usedBytes: 6000, imageBytes: 6000, reservedBytes: 0, limitBytes: QUOTA, quotaBytes: null });
    const fill = await register();
    expect((await t.upload(fill, asImageBits(Buffer.alloc(QUOTA - 6000, 2)))).status).toBe(200);
    const more = await t.upload(await register(), asImageBits(Buffer.alloc(10, 4)));
    expect(more.status).toBe(409);
    expect(more.body.errors[0].message).toBe(`Storage quota of group ${group} exceeded: ${QUOTA} of ${QUOTA} bytes used (its images, the replicas the gateway keeps and transfers in progress); the upload of image img5:1 needs 10 more bytes, 0 are left`);
  });

  test('a new user uploads a PNG or a zip by mistake: refused at once with IMAGE_FORMAT and what it looks like, nothing kept or reserved; the tarball is taken after', async () => {
    // A group of its own: the other tests filled the first one's quota.
    const newcomer = (await t.ok<{ createGroup: { id: string } }>('mutation { createGroup(input: { slug: "newcomer", name: "Newcomer" }) { id } }')).createGroup.id;
    const storage = async () => (await t.ok('query ($id: ID!) { group(id: $id) { storage { usedBytes reservedBytes } } }', { id: newcomer })).group.storage;
    const image = (await t.ok<{ registerImage: { id: string } }>('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: newcomer, name: 'first', version: '1', technology: 'fake' } })).registerImage.id;
    const before = filesUnder(contentDir());
    const tarball = 'rootfs-tar (a root filesystem as a tar archive, plain or compressed, e.g. made with tar -C rootfs -cf rootfs.tar .)';
    const mistakes: [Buffer, string | null][] = [
      [Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(5000)]), 'a PNG picture'],
      [Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04]), randomBytes(3000)]), 'a zip archive'],
      [Buffer.from('hello, world\n'), null],
    ];
    for (const [bits, looksLike] of mistakes) {
      const res = await t.upload(image, bits);
      expect(res.status).toBe(400);
      expect(res.body.errors[0]).toEqual({
        message: `The upload is not an image the fake drivers take${looksLike ? `: it looks like ${looksLike}` : ''}. They take ${tarball}. Nothing was stored.`,
        extensions: { code: 'BAD_USER_INPUT', details: { reason: 'IMAGE_FORMAT', technology: 'fake', formats: ['rootfs-tar'], ...(looksLike ? { looksLike } : {}) } },
      });
    }
    expect(filesUnder(contentDir())).toEqual(before);
    expect(await storage()).toEqual({ usedBytes: 0, reservedBytes: 0 });
    expect((await t.ok('query ($id: ID!) { image(id: $id) { digest sizeBytes } }', { id: image })).image).toEqual({ digest: null, sizeBytes: null });

    const tar = createRootfsTar({ '/etc/hostname': 'first\n' });
    const ok = await t.upload(image, tar);
    expect(ok.status).toBe(200);
    expect(ok.body.sizeBytes).toBe(tar.length);
    expect(ok.body.format).toBe('rootfs-tar');
    // Compressed, as engines unpack it.
    const second = (await t.ok<{ registerImage: { id: string } }>('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: newcomer, name: 'second', version: '1', technology: 'fake' } })).registerImage.id;
    expect((await t.upload(second, gzipSync(tar))).status).toBe(200);
    // The catalog says what each image is; one registered with the digest of bits the group holds has their format.
    const formats = async () => Object.fromEntries((await t.ok<{ images: { name: string; format: string | null }[] }>('{ images { name format } }')).images.map((i) => [i.name, i.format]));
    const digest = (await t.ok('query ($id: ID!) { image(id: $id) { digest } }', { id: second })).image.digest;
    await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: newcomer, name: 'third', version: '1', technology: 'fake', digest } });
    await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: newcomer, name: 'empty', version: '1', technology: 'fake' } });
    expect(await formats()).toMatchObject({ first: 'rootfs-tar', second: 'rootfs-tar', third: 'rootfs-tar', empty: null });
  });

  test("the formats a technology's drivers declare (imageFormats, as their agents reported) are what its uploads are checked against", async () => {
    const disks = (await t.ok<{ createGroup: { id: string } }>('mutation { createGroup(input: { slug: "disks", name: "Disk makers" }) { id } }')).createGroup.id;
    const site = (await t.ok<{ createSite: { id: string } }>('mutation ($i: CreateSiteInput!) { createSite(input: $i) { id } }', { i: { name: 'formats', ownerGroupId: group } })).createSite.id;
    const host = (await t.ok<{ createHost: { id: string } }>('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: site, ownerGroupId: group, hostname: 'disks', agent: 'elsewhere', drivers: ['vm-disk'] } })).createHost.id;
    const report = (imageFormats?: string[]) => [{ name: 'vmd', technology: 'vm-disk', available: true, operations: ['importImage'], limits: [], ...(imageFormats ? { imageFormats } : {}) }];
    const reported = (drivers: unknown) => t.gateway.dataSource.query(`UPDATE host SET facts = jsonb_build_object('drivers', $1::jsonb) WHERE id = $2`, [JSON.stringify(drivers), host]);
    const registerDisk = async () => (await t.ok<{ registerImage: { id: string } }>('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: disks, name: `disk${++n}`, version: '1', technology: 'vm-disk' } })).registerImage.id;
    const qcow2 = Buffer.concat([Buffer.from([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3]), Buffer.alloc(600, 1)]);
    const tar = createRootfsTar({ '/etc/hostname': 'disk\n' });

    // Declared: qcow2 only. A tarball is refused, a qcow2 disk taken.
    await reported(report(['qcow2']));
    const refused = await t.upload(await registerDisk(), tar);
    expect(refused.status).toBe(400);
    expect(refused.body.errors[0].extensions).toEqual({ code: 'BAD_USER_INPUT', details: { reason: 'IMAGE_FORMAT', technology: 'vm-disk', formats: ['qcow2'] } });
    const disk = await registerDisk();
    expect(await t.upload(disk, qcow2)).toMatchObject({ status: 200, body: { format: 'qcow2' } });
    expect((await t.ok('query ($id: ID!) { image(id: $id) { format } }', { id: disk })).image.format).toBe('qcow2');
    // A format the gateway cannot tell from the bytes is left to the driver: the image is of it when it is the only such one.
    await reported(report(['vendor-blob']));
    expect(await t.upload(await registerDisk(), Buffer.from('anything at all'))).toMatchObject({ status: 200, body: { format: 'vendor-blob' } });
    // Of two it cannot tell apart, the gateway does not guess; what it can tell it names.
    await reported(report(['vendor-blob', 'other-blob', 'qcow2']));
    expect(await t.upload(await registerDisk(), Buffer.from('still anything'))).toMatchObject({ status: 200, body: { format: null } });
    expect(await t.upload(await registerDisk(), Buffer.concat([qcow2, Buffer.from('2')]))).toMatchObject({ status: 200, body: { format: 'qcow2' } });
    // Declared none (an older agent): a root filesystem tarball, as the built-in drivers take.
    await reported(report());
    expect((await t.upload(await registerDisk(), qcow2)).body.errors[0].extensions.details).toMatchObject({ reason: 'IMAGE_FORMAT', formats: ['rootfs-tar'], looksLike: 'a qcow2 disk image' });
    expect((await t.upload(await registerDisk(), tar)).status).toBe(200);
  });
}

describe.each(DATABASE_KINDS)('image uploads on %s', (kind) => imageUploadSuite(kind));
