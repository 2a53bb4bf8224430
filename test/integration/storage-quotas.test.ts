import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createRootfsTar } from '../../drivers/fake';
import { createTestDatabase, DATABASE_KINDS, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, World } from '../helpers/scenario';
import { asImageBits } from '../helpers/image-bits';

/** The installation default (`RSP_GROUP_STORAGE_BYTES`) of these gateways. */
const DEFAULT_QUOTA = 64 * 1024 ** 2;
const STORAGE = 'storage { quotaBytes limitBytes usedBytes imageBytes replicaBytes reservedBytes }';

/** Every file under `dir`, recursively (none when it is not made yet). */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** Per-group storage quotas: set by site admins, reserved atomically by uploads and by replicas copied into the gateway's store. */
function storageQuotaSuite(kind: 'pglite' | 'postgres') {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;
  let n = 0;

  const storage = async (group: string) => (await t.ok(`query ($id: ID!) { group(id: $id) { ${STORAGE} } }`, { id: group })).group.storage;
  const setQuota = (group: string, bytes: number | null, token?: string) => t.gql(`mutation ($g: ID!, $b: Float) { setGroupStorageQuota(groupId: $g, bytes: $b) { ${STORAGE} } }`, { g: group, b: bytes }, token);
  const newGroup = async () => (await t.ok('mutation ($i: CreateGroupInput!) { createGroup(input: $i) { id } }', { i: { slug: `quota-${++n}`, name: `Quota ${n}` } })).createGroup.id as string;
  const register = async (group: string, technology = 'fake', sizeBytes?: number) => (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: group, name: `img${++n}`, version: '1', technology, ...(sizeBytes ? { sizeBytes } : {}) } })).registerImage.id as string;
  const reservationsOf = async (group: string) => Number((await t.gateway.dataSource.query('SELECT count(*) AS n FROM storage_reservation WHERE "groupId" = $1', [group]))[0].n);

  /** Uploads with a Content-Length (`announced`) or as a chunked stream of 1000-byte pieces (`chunked`). */
  const upload = async (imageId: string, bits: Buffer, mode: 'announced' | 'chunked'): Promise<{ status: number; body: any }> => {
    if (mode === 'announced') return t.upload(imageId, bits);
    let offset = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (offset >= bits.length) return controller.close();
        controller.enqueue(new Uint8Array(bits.subarray(offset, offset + 1000)));
        offset += 1000;
      },
    });
    const res = await fetch(`${t.gateway.url}/images/${imageId}/content`, { method: 'PUT', headers: { 'content-type': 'application/x-tar', authorization: `Bearer ${t.adminToken}` }, body, duplex: 'half' } as RequestInit);
    return { status: res.status, body: await res.json() };
  };

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    t = await startTestGateway(db, { RSP_GROUP_STORAGE_BYTES: String(DEFAULT_QUOTA), RSP_REPLICATION_INTERVAL_MS: '0' });
    w = await buildWorld(t);
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test("a site admin sets a group's quota (null: the installation default); others are refused, bad sizes too", async () => {
    const group = await newGroup();
    expect(await storage(group)).toEqual({ quotaBytes: null, limitBytes: DEFAULT_QUOTA, usedBytes: 0, imageBytes: 0, replicaBytes: 0, reservedBytes: 0 });
    expect((await setQuota(group, 5000)).data!.setGroupStorageQuota.storage).toMatchObject({ quotaBytes: 5000, limitBytes: 5000 });
    expect(await storage(group)).toMatchObject({ quotaBytes: 5000, limitBytes: 5000 });
    for (const bad of [-1, 1.5]) expect((await setQuota(group, bad)).errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
    expect((await setQuota(w.groupA, 1, w.tokens.adminA)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await setQuota(group, null)).data!.setGroupStorageQuota.storage).toMatchObject({ quotaBytes: null, limitBytes: DEFAULT_QUOTA });
    // A group's own quota wins over the default, either way: 0 keeps nothing.
    await setQuota(group, 0);
    const refused = await t.upload(await register(group), asImageBits(Buffer.alloc(10, 1)));
    expect(refused.status).toBe(409);
    expect(refused.body.errors[0].extensions.details).toMatchObject({ reason: 'STORAGE_QUOTA', limitBytes: 0, neededBytes: 10 });
  });

  // Announced: a Content-Length; declared: a chunked body of an image registered with its size. Both reserve it all at once.
  test.each(['announced', 'declared'] as const)('racing uploads (%s size): exactly those that fit succeed, the others leave nothing on disk', async (mode) => {
    const group = await newGroup();
    await setQuota(group, 10_000);
    const images = await Promise.all(Array.from({ length: 6 }, () => register(group, 'fake', mode === 'declared' ? 3000 : undefined)));
    const contentDir = join(t.gateway.config.imageDir, 'content');
    const before = filesUnder(contentDir);
    // Six uploads of 3000 bytes at once against 10,000: three fit.
    const results = await Promise.all(images.map((id) => upload(id, asImageBits(randomBytes(3000)), mode === 'announced' ? 'announced' : 'chunked')));
    const won = results.filter((r) => r.status === 200);
    const lost = results.filter((r) => r.status !== 200);
    expect(won).toHaveLength(3);
    expect(lost.map((r) => [r.status, r.body.errors[0].extensions.code, r.body.errors[0].extensions.details.reason])).toEqual(Array(3).fill([409, 'CONFLICT', 'STORAGE_QUOTA']));
    // On disk: the winners' bits and nothing else (no partial files).
    const added = filesUnder(contentDir).filter((f) => !before.includes(f));
    expect(added.sort()).toEqual(won.map((r) => join(contentDir, `${r.body.digest.replace(':', '-')}.tar`)).sort());
    expect(await storage(group)).toEqual({ quotaBytes: 10_000, limitBytes: 10_000, usedBytes: 9000, imageBytes: 9000, replicaBytes: 0, reservedBytes: 0 });
    expect(await reservationsOf(group)).toBe(0);
  });

  test('racing uploads of unannounced size reserve as their bits arrive: together they never pass the quota, and the refused leave nothing', async () => {
    const group = await newGroup();
    await setQuota(group, 10_000);
    const images = await Promise.all(Array.from({ length: 6 }, () => register(group)));
    const contentDir = join(t.gateway.config.imageDir, 'content');
    const before = filesUnder(contentDir);
    const results = await Promise.all(images.map((id) => upload(id, asImageBits(randomBytes(3000)), 'chunked')));
    const won = results.filter((r) => r.status === 200);
    // Near the limit, growing reservations may refuse one that would have fitted alone: at most three win, never more.
    expect(won.length).toBeLessThanOrEqual(3);
    expect(results.filter((r) => r.status !== 200).map((r) => r.body.errors[0].extensions.details.reason)).toEqual(Array(6 - won.length).fill('STORAGE_QUOTA'));
    const added = filesUnder(contentDir).filter((f) => !before.includes(f));
    expect(added.sort()).toEqual(won.map((r) => join(contentDir, `${r.body.digest.replace(':', '-')}.tar`)).sort());
    expect(await storage(group)).toMatchObject({ usedBytes: 3000 * won.length, reservedBytes: 0 });
    expect(await reservationsOf(group)).toBe(0);
  });

  test("a replica for the gateway's store is reserved before it is copied: over the quota the run fails with STORAGE_QUOTA and keeps nothing", async () => {
    const image = await register(w.groupA);
    expect((await t.upload(image, createRootfsTar({ '/etc/hostname': 'qdb', '/data/rows.txt': 'rows\n'.repeat(2000) }))).status).toBe(200);
    const created = (await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: w.groupA, hostId: w.host1, imageId: image, name: 'qdb' } }, w.tokens.memberA)).createEnvironment;
    expect((await t.gateway.services.operations.settled(created.operation.id)).state).toBe('SUCCEEDED');
    const policy = (await t.ok('mutation ($i: CreateReplicationPolicyInput!) { createReplicationPolicy(input: $i) { id } }', { i: { environmentId: created.environment.id, targetKind: 'STORE', schedule: 'every 1 hour', keep: 5, name: 'to-store' } }, w.tokens.memberA)).createReplicationPolicy.id;
    const runNow = async () => t.gateway.services.operations.settled((await t.ok('mutation ($id: ID!) { replicateNow(policyId: $id) { id } }', { id: policy }, w.tokens.memberA)).replicateNow.id);

    const first = await runNow();
    expect(first.state).toBe('SUCCEEDED');
    const bytes = first.result!.bytes as number;
    const used = await storage(w.groupA);
    expect(used.replicaBytes).toBe(bytes);

    // Room for 100 bytes more: not for another replica.
    const quota = used.usedBytes + 100;
    await setQuota(w.groupA, quota);
    const storeFiles = filesUnder(t.gateway.config.artifactDir);
    const manifests = (await t.gateway.services.replication.store.list()).map((m) => m.id).sort();
    const failed = await runNow();
    expect(failed).toMatchObject({ state: 'FAILED', errorCode: 'CONFLICT' });
    const quotaMessage = `Storage quota of group ${w.groupA} exceeded: ${used.usedBytes} of ${quota} bytes used (its images, the replicas the gateway keeps and transfers in progress); a replica of environment qdb needs `;
    expect(failed.errorMessage).toMatch(new RegExp(`^${quotaMessage.replace(/[()]/g, '\\$&')}\\d+ more bytes, 100 are left$`));
    expect((await t.ok('query ($id: ID!) { replicationPolicy(id: $id) { status { lastError failCount } } }', { id: policy }, w.tokens.memberA)).replicationPolicy.status).toEqual({ lastError: failed.errorMessage, failCount: 1 });
    expect(filesUnder(t.gateway.config.artifactDir)).toEqual(storeFiles);
    expect((await t.gateway.services.replication.store.list()).map((m) => m.id).sort()).toEqual(manifests);
    expect(await storage(w.groupA)).toEqual({ ...used, quotaBytes: quota, limitBytes: quota });
    expect(await reservationsOf(w.groupA)).toBe(0);

    // With room again (the installation default), the next run keeps its replica.
    await setQuota(w.groupA, null);
    expect((await runNow()).state).toBe('SUCCEEDED');
    expect((await storage(w.groupA)).replicaBytes).toBeGreaterThan(bytes);
  });
}

describe.each(DATABASE_KINDS)('storage quotas on %s', (kind) => storageQuotaSuite(kind));
