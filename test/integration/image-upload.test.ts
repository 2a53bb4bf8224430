import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { createTestDatabase, DATABASE_KINDS, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { until } from '../helpers/until';

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
    expect((await t.upload(await register(), Buffer.alloc(1000, 1))).status).toBe(200);
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
      const res = await t.upload(wrongDigest, Buffer.alloc(2000, i));
      expect(res.status).toBe(400);
      expect(res.body.errors[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' }, message: expect.stringContaining(`is not the declared ${declared}`) });
    }

    const big = await register();
    const tooBig = await t.upload(big, Buffer.alloc(QUOTA + 1, 7));
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
      req.write(Buffer.alloc(50_000, 3), () => setImmediate(() => req.destroy()));
      req.on('close', () => resolve());
    });
    await until('the partial upload to be removed', () => filesUnder(contentDir()).join('\n') === before.join('\n'), 15_000);

    expect(filesUnder(contentDir())).toEqual(before);
    // Still serving, and the image that was refused can still be given its bits.
    const ok = await t.upload(big, Buffer.alloc(5000, 9));
    expect(ok.status).toBe(200);
    expect(ok.body.sizeBytes).toBe(5000);
  });

  test('the quota counts what the group keeps: stored images add up, the next upload is refused at once when nothing is left', async () => {
    expect((await t.ok('query ($id: ID!) { group(id: $id) { storage { usedBytes imageBytes reservedBytes limitBytes quotaBytes } } }', { id: group })).group.storage).toEqual({ usedBytes: 6000, imageBytes: 6000, reservedBytes: 0, limitBytes: QUOTA, quotaBytes: null });
    const fill = await register();
    expect((await t.upload(fill, Buffer.alloc(QUOTA - 6000, 2))).status).toBe(200);
    const more = await t.upload(await register(), Buffer.alloc(10, 4));
    expect(more.status).toBe(409);
    expect(more.body.errors[0].message).toBe(`Storage quota of group ${group} exceeded: ${QUOTA} of ${QUOTA} bytes used (its images, the replicas the gateway keeps and transfers in progress); the upload of image img5:1 needs 10 more bytes, 0 are left`);
  });
}

describe.each(DATABASE_KINDS)('image uploads on %s', (kind) => imageUploadSuite(kind));
