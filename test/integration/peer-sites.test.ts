import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createRootfsTar } from '../../drivers/fake';
import { sealManifest } from '../../gateway/artifacts/manifest';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, World } from '../helpers/scenario';
import { freePort } from '../helpers/free-port';

/** A local HTTP server that records every request it gets and answers `answer`. */
async function listen(answer: (req: IncomingMessage) => { status: number; headers?: Record<string, string>; body?: string }): Promise<{ server: Server; url: string; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
    const a = answer(req);
    res.writeHead(a.status, a.headers ?? {}).end(a.body ?? '');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true, recursive: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name)).sort();
}

/**
 * Requests a site sends to other sites: only to the peer sites its admin listed (RSP_PEER_SITES), at
 * the URL listed, never following a redirect elsewhere; a policy's peer token sealed at rest; a
 * replica sent to a peer claiming its bytes there before any chunk is taken. Two gateways (a, c),
 * each its own database, plus local HTTP servers standing for an attacker's targets.
 */
describe('peer sites: only known peers are called, their tokens sealed, their replicas charged up front', () => {
  let dbA: TestDatabase;
  let dbC: TestDatabase;
  let a: TestGateway;
  let c: TestGateway;
  let wA: World;
  let wC: World;
  let target: Awaited<ReturnType<typeof listen>>;
  let detour: Awaited<ReturnType<typeof listen>>;
  let environmentId = '';
  let digest = '';
  /** Site c's settings (it is restarted with them). */
  let cEnv: Record<string, string> = {};

  const IMPORT = 'mutation ($i: ImportImageInput!) { importImage(input: $i) { id digest } }';
  const POLICY = 'mutation ($i: CreateReplicationPolicyInput!) { createReplicationPolicy(input: $i) { id peerName } }';
  const reservationsAtC = async (group: string) => Number((await c.gateway.dataSource.query('SELECT count(*) AS n FROM storage_reservation WHERE "groupId" = $1', [group]))[0].n);
  const peerStoreAtC = (body: unknown, token = wC.tokens.memberA) => fetch(`${c.gateway.url}/peer/store`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) });

  beforeAll(async () => {
    target = await listen(() => ({ status: 200, headers: { 'content-type': 'application/json' }, body: '{"data":{"images":[]}}' }));
    detour = await listen(() => ({ status: 307, headers: { location: `${target.url}/graphql` } }));
    const [portA, portC] = [await freePort(), await freePort()];
    dbA = await createTestDatabase('pglite');
    dbC = await createTestDatabase('pglite');
    cEnv = { PORT: String(portC), RSP_PEER_SITES: `a=http://127.0.0.1:${portA}/graphql`, RSP_REPLICATION_INTERVAL_MS: '0' };
    c = await startTestGateway(dbC, cEnv);
    a = await startTestGateway(dbA, { PORT: String(portA), RSP_PEER_SITES: `c=http://127.0.0.1:${portC}/graphql, detour=${detour.url}/graphql`, RSP_REPLICATION_INTERVAL_MS: '0' });
    wA = await buildWorld(a);
    wC = await buildWorld(c);
  }, 300_000);

  afterAll(async () => {
    await a?.close();
    await c?.close();
    await dbA?.drop();
    await dbC?.drop();
    target?.server.close();
    detour?.server.close();
  });

  test('a known peer works: site a imports site c\'s image by digest, named only by the site (the URL listed is used)', async () => {
    const { registerImage } = await c.ok('mutation ($g: ID!) { registerImage(input: { vendorGroupId: $g, name: "peer-os", version: "1", technology: "fake" }) { id } }', { g: wC.groupA }, wC.tokens.memberA);
    const uploaded = await c.upload(registerImage.id, createRootfsTar({ '/etc/motd': 'from site c\n', '/data/rows.txt': 'row\n'.repeat(3000) }), wC.tokens.memberA);
    expect(uploaded.status).toBe(200);
    digest = uploaded.body.digest;
    const imported = await a.ok(IMPORT, { i: { digest, from: { name: 'c', token: wC.tokens.memberA } } }, wA.tokens.memberA);
    expect(imported.importImage.digest).toBe(digest);
    const created = (await a.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: wA.groupA, hostId: wA.host1, imageId: imported.importImage.id, name: 'kept-at-c' } }, wA.tokens.memberA)).createEnvironment;
    expect((await a.gateway.services.operations.settled(created.operation.id)).state).toBe('SUCCEEDED');
    environmentId = created.environment.id;
  });

  test('a member pointing importImage or a policy at any other URL is FORBIDDEN before any request; a redirect elsewhere is refused', async () => {
    const refusals: Array<[string, Record<string, unknown>, string]> = [
      [IMPORT, { i: { digest, from: { name: 'evil', url: `${target.url}/graphql`, token: 'stolen' } } }, 'PEER_NOT_ALLOWED'],
      [IMPORT, { i: { digest: `sha256:${'0'.repeat(64)}`, from: { name: 'c', url: `${target.url}/graphql`, token: 'stolen' } } }, 'PEER_URL_MISMATCH'],
      [POLICY, { i: { environmentId, targetKind: 'STORE', schedule: 'every 60 minutes', peer: { name: 'evil', url: `${target.url}/graphql`, token: 'stolen' } } }, 'PEER_NOT_ALLOWED'],
      [POLICY, { i: { environmentId, targetKind: 'STORE', schedule: 'every 60 minutes', peer: { name: 'c', url: `${target.url}/graphql`, token: 'stolen' } } }, 'PEER_URL_MISMATCH'],
    ];
    for (const [query, variables, reason] of refusals) {
      const res = await a.gql(query, variables, wA.tokens.memberA);
      expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', details: { reason } });
    }
    // A listed site answering with a redirect to another host: refused, the token not sent there.
    const redirected = await a.gql(IMPORT, { i: { digest: `sha256:${'1'.repeat(64)}`, from: { name: 'detour', token: 'for-detour' } } }, wA.tokens.memberA);
    expect(redirected.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', details: { reason: 'PEER_REDIRECT', peer: 'detour' } });
    expect(detour.requests).toHaveLength(1);
    expect(target.requests).toEqual([]);
    expect((await a.ok('query ($e: ID!) { replicationPolicies(environmentId: $e) { id } }', { e: environmentId }, wA.tokens.memberA)).replicationPolicies).toEqual([]);
  });

  test("a policy's peer token is sealed at rest and never in the API; a plain legacy row is sealed and still works; site c claims a replica's bytes before it takes a chunk", async () => {
    const { createReplicationPolicy: pol } = await a.ok(POLICY, { i: { environmentId, targetKind: 'STORE', schedule: 'every 60 minutes', peer: { name: 'c', token: wC.tokens.memberA } } }, wA.tokens.memberA);
    expect(pol.peerName).toBe('c');
    const stored = async () => (await a.gateway.dataSource.query('SELECT "peerToken" AS t, "peerUrl" AS u FROM replication_policy WHERE id = $1', [pol.id]))[0] as { t: string; u: string };
    const sealed = await stored();
    expect(sealed.t).toMatch(/^rspseal1:/);
    expect(sealed.t).not.toContain(wC.tokens.memberA);
    expect(sealed.u).toBe(`${c.gateway.url.replace('localhost', '127.0.0.1')}/graphql`);
    const fields = (await a.ok('{ __type(name: "ReplicationPolicy") { fields { name } } }')).__type.fields.map((f: { name: string }) => f.name);
    expect(fields.filter((f: string) => /token/i.test(f))).toEqual([]);
    // A row written before tokens were sealed holds it plain: sealed at start (here: asked again).
    await a.gateway.dataSource.query('UPDATE replication_policy SET "peerToken" = $1 WHERE id = $2', [wC.tokens.memberA, pol.id]);
    expect(await a.gateway.services.peering.sealStoredTokens(a.gateway.dataSource)).toBe(1);
    expect((await stored()).t).toMatch(/^rspseal1:/);

    const runNow = async () => a.gateway.services.operations.settled((await a.ok('mutation ($p: ID!) { replicateNow(policyId: $p) { id } }', { p: pol.id }, wA.tokens.memberA)).replicateNow.id);
    const setQuota = (bytes: number | null) => c.ok('mutation ($g: ID!, $b: Float) { setGroupStorageQuota(groupId: $g, bytes: $b) { id } }', { g: wC.groupA, b: bytes });
    const storageAtC = async () => (await c.ok('query ($id: ID!) { group(id: $id) { storage { usedBytes replicaBytes reservedBytes } } }', { id: wC.groupA })).group.storage;

    // No room at c: the run fails with c's STORAGE_QUOTA before any chunk is sent; nothing is held or kept there.
    await setQuota((await storageAtC()).usedBytes + 10);
    const filesBefore = filesUnder(c.gateway.config.artifactDir);
    const refused = await runNow();
    expect(refused).toMatchObject({ state: 'FAILED', errorCode: 'CONFLICT' });
    expect(refused.errorMessage).toMatch(/^Site c: Storage quota of group .* exceeded/);
    expect(filesUnder(c.gateway.config.artifactDir)).toEqual(filesBefore);
    expect(await reservationsAtC(wC.groupA)).toBe(0);

    // Room enough: the sealed token opens, the replica is recorded at c, the claim settled with it.
    await setQuota(10 * 1024 ** 3);
    const done = await runNow();
    expect(done).toMatchObject({ state: 'SUCCEEDED' });
    expect(done.result!.movedBytes as number).toBeGreaterThan(0);
    expect(await reservationsAtC(wC.groupA)).toBe(0);
    expect(await storageAtC()).toMatchObject({ replicaBytes: done.result!.bytes, reservedBytes: 0 });

    // Chunks are taken only within a begun transfer; an aborted one gives its claim back.
    const loose = await peerStoreAtC({ call: 'putChunks', args: { chunks: [] } });
    expect(loose.status).toBe(400);
    expect(((await loose.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0]!.extensions.code).toBe('BAD_USER_INPUT');
    const begun = (await (await peerStoreAtC({ call: 'begin', args: { bytes: 5000, imageDigest: digest } })).json()) as { result: { transfer: string } };
    expect(await reservationsAtC(wC.groupA)).toBe(1);
    expect((await storageAtC()).reservedBytes).toBe(5000);
    expect((await peerStoreAtC({ call: 'putChunks', args: { chunks: [], transfer: begun.result.transfer } }, wC.tokens.memberB)).status).toBe(400);
    expect((await peerStoreAtC({ call: 'abort', args: { transfer: begun.result.transfer } })).status).toBe(200);
    expect(await reservationsAtC(wC.groupA)).toBe(0);
    // A transfer for an image the group may not use at c is refused before anything is claimed.
    const noImage = await peerStoreAtC({ call: 'begin', args: { bytes: 5000, imageDigest: `sha256:${'2'.repeat(64)}` } });
    expect(noImage.status).toBe(409);
    expect(target.requests).toEqual([]);
  });

  test("what a sender records is checked, not trusted: a replica's size is its manifest's, its environment is checked as a create's input", async () => {
    const storageAtC = async () => (await c.ok('query ($id: ID!) { group(id: $id) { storage { replicaBytes reservedBytes } } }', { id: wC.groupA })).group.storage;
    const call = async (body: unknown) => {
      const res = await peerStoreAtC(body);
      return { status: res.status, body: (await res.json()) as { result?: any; errors?: Array<{ message: string; extensions: { code: string } }> } };
    };
    // Any member of the group at c can call its peer store directly: a sender this site does not control.
    const data = Buffer.from('x'.repeat(4000));
    const hash = createHash('sha256').update(data).digest('hex');
    const { manifest } = sealManifest({ version: 1, chunks: [{ hash, size: data.length }], size: data.length, sha256: hash, encryption: null, chunking: { algorithm: 'fastcdc-gear32-nc2', min: 1, avg: 2, max: 4 }, createdAt: new Date().toISOString(), labels: {} });
    const before = await storageAtC();
    const transfer = (await call({ call: 'begin', args: { bytes: 0, imageDigest: digest } })).body.result.transfer as string;
    expect((await call({ call: 'putChunks', args: { transfer, chunks: [{ id: hash, data: data.toString('base64') }] } })).status).toBe(200);
    // A manifest whose size is not its chunks' is refused.
    const { id: _id, ...content } = manifest;
    const lying = sealManifest({ ...content, size: 1 }).manifest;
    expect((await call({ call: 'putManifest', args: { transfer, manifest: lying } })).body.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
    expect((await call({ call: 'putManifest', args: { transfer, manifest } })).status).toBe(200);
    const source = { name: 'sent', hostId: wC.host1, driver: 'fake', technology: 'fake', imageId: wC.host1, imageRef: null, limits: {}, volumes: [{ name: 'data', kind: 'data', mountPath: '/data', readOnly: false }], iface: { hostname: 'sent', dns: [], network: 'none', config: {} }, command: null, restoreCommand: ['sh', '-c', 'evil'] };
    const record = (overrides: Record<string, unknown>) => call({ call: 'recordReplica', args: { transfer, manifestId: manifest.id, bytes: -1e12, chunks: 1, movedBytes: data.length, reusedChunks: 0, writtenChunks: 1, environmentId: environmentId, imageDigest: digest, source, ...overrides } });
    // Each of these would become an environment of site c at a restore: refused as a create's input is, nothing recorded.
    const bad: Array<Record<string, unknown>> = [
      { source: { ...source, volumes: [{ name: '../../etc', kind: 'data', mountPath: '/data' }] } },
      { source: { ...source, volumes: [{ name: 'data', kind: 'data', mountPath: '/../../host' }] } },
      { source: { ...source, iface: { ...source.iface, config: { 'bad key': 'x' } } } },
      { source: { ...source, limits: { memoryBytes: -1 } } },
      { source: { ...source, name: 'x\u0000y' } },
      { source: 'not an object' },
      { environmentId: 'not-a-uuid' },
      { writtenChunks: -5 },
    ];
    for (const overrides of bad) {
      const res = await record(overrides);
      expect([res.status, res.body.errors?.[0]?.extensions.code]).toEqual([400, 'BAD_USER_INPUT']);
    }
    expect(Number((await c.gateway.dataSource.query('SELECT count(*) AS n FROM replica WHERE "groupId" = $1 AND "manifestId" = $2', [wC.groupA, manifest.id]))[0].n)).toBe(0);
    // The transfer is still open: a well-formed record with a negative size gets its manifest's size, the group charged for it.
    const kept = await record({});
    expect(kept.status).toBe(200);
    const [row] = await c.gateway.dataSource.query('SELECT bytes, chunks, source FROM replica WHERE id = $1', [kept.body.result.id]);
    expect(row.bytes).toBe(data.length);
    expect(row.chunks).toBe(1);
    expect(row.source.restoreCommand).toBeNull();
    expect(await storageAtC()).toEqual({ replicaBytes: before.replicaBytes + data.length, reservedBytes: 0 });
  });

  test("a replica may name only the manifest its transfer sent (or one its group holds): another group's manifest id alone gives nothing", async () => {
    const asB = async (call: string, args: Record<string, unknown>) => {
      const res = await peerStoreAtC({ call, args }, wC.tokens.memberB);
      return { status: res.status, body: (await res.json()) as { result?: any; errors?: Array<{ message: string; extensions: { code: string } }> } };
    };
    const replicasOfB = async () => Number((await c.gateway.dataSource.query('SELECT count(*) AS n FROM replica WHERE "groupId" = $1', [wC.groupB]))[0].n);
    // Group a's replica kept at c (the test before): its manifest is in c's store.
    const [held] = await c.gateway.dataSource.query('SELECT "manifestId", source FROM replica WHERE "groupId" = $1 AND "policyId" IS NULL ORDER BY "createdAt" DESC LIMIT 1', [wC.groupA]);
    expect(held?.manifestId).toMatch(/^[0-9a-f]{64}$/);
    // Group b has an image of its own at c to record a replica against.
    const { registerImage } = await c.ok('mutation ($g: ID!) { registerImage(input: { vendorGroupId: $g, name: "b-os", version: "1", technology: "fake" }) { id } }', { g: wC.groupB }, wC.tokens.memberB);
    const uploaded = await c.upload(registerImage.id, createRootfsTar({ '/etc/motd': 'b\n' }), wC.tokens.memberB);
    expect(uploaded.status).toBe(200);
    const source = { name: 'taken', hostId: wC.host1, driver: 'fake', technology: 'fake', imageId: wC.host1, imageRef: null, limits: {}, volumes: [], iface: { hostname: 'taken', dns: [], network: 'none', config: {} }, command: null };
    const record = { manifestId: held.manifestId, bytes: 1, chunks: 1, movedBytes: 0, reusedChunks: 1, writtenChunks: 0, environmentId: randomUUID(), imageDigest: uploaded.body.digest, source };
    const transfer = (await asB('begin', { bytes: 0, imageDigest: uploaded.body.digest })).body.result.transfer as string;
    const taken = await asB('recordReplica', { ...record, transfer });
    expect([taken.status, taken.body.errors?.[0]?.extensions.code]).toEqual([400, 'BAD_USER_INPUT']);
    expect(taken.body.errors?.[0]?.message).toMatch(/not sent in this transfer/);
    expect(await replicasOfB()).toBe(0);
    expect((await asB('abort', { transfer })).status).toBe(200);
    expect(await reservationsAtC(wC.groupB)).toBe(0);
  });

  test("what c stores is answered per group: another group learns nothing of a chunk or manifest it does not hold, nor claims them by their hashes", async () => {
    const as = async (token: string, call: string, args: Record<string, unknown>) => {
      const res = await peerStoreAtC({ call, args }, token);
      return { status: res.status, body: (await res.json()) as { result?: any; errors?: Array<{ message: string; extensions: { code: string } }> } };
    };
    // Group a's replica kept at c (the tests before): its one chunk and its manifest are in c's store.
    const [held] = await c.gateway.dataSource.query('SELECT "manifestId" FROM replica WHERE "groupId" = $1 AND "policyId" IS NULL ORDER BY "createdAt" ASC LIMIT 1', [wC.groupA]);
    const data = Buffer.from('x'.repeat(4000));
    const chunk = createHash('sha256').update(data).digest('hex');
    const other = createHash('sha256').update('never stored').digest('hex');
    // Its own group is told what it holds: the copy sends nothing it has.
    expect((await as(wC.tokens.memberA, 'missingChunks', { ids: [chunk, other] })).body.result).toEqual([other]);
    expect((await as(wC.tokens.memberA, 'checkChunks', { ids: [chunk, other] })).body.result).toEqual({ missing: [other], damaged: [], unverified: [] });
    expect((await as(wC.tokens.memberA, 'hasManifest', { manifestId: held.manifestId })).body.result).toBe(true);
    // A transfer naming its environment is answered by that environment's replicas here (what its next replica shares).
    const ofEnvironment = (await as(wC.tokens.memberA, 'begin', { bytes: 0, imageDigest: digest, environmentId })).body.result.transfer as string;
    expect((await as(wC.tokens.memberA, 'missingChunks', { ids: [chunk, other], transfer: ofEnvironment })).body.result).toEqual([other]);
    const ofAnother = (await as(wC.tokens.memberA, 'begin', { bytes: 0, imageDigest: digest, environmentId: randomUUID() })).body.result.transfer as string;
    expect((await as(wC.tokens.memberA, 'missingChunks', { ids: [chunk, other], transfer: ofAnother })).body.result).toEqual([chunk, other]);
    for (const transfer of [ofEnvironment, ofAnother]) expect((await as(wC.tokens.memberA, 'abort', { transfer })).status).toBe(200);
    expect((await as(wC.tokens.memberA, 'begin', { bytes: 0, imageDigest: digest, environmentId: 'not-a-uuid' })).status).toBe(400);
    // Any other group is told the store lacks them, exactly as for content never stored (no content confirmation).
    expect((await as(wC.tokens.memberB, 'missingChunks', { ids: [chunk, other] })).body.result).toEqual([chunk, other]);
    expect((await as(wC.tokens.memberB, 'checkChunks', { ids: [chunk, other] })).body.result).toEqual({ missing: [chunk, other], damaged: [], unverified: [] });
    expect((await as(wC.tokens.memberB, 'hasManifest', { manifestId: held.manifestId })).body.result).toBe(false);
    // Knowing the whole manifest (its chunks' hashes) is not enough to write it for group b: b must send the chunk.
    const { registerImage } = await c.ok('mutation ($g: ID!) { registerImage(input: { vendorGroupId: $g, name: "b-os2", version: "1", technology: "fake" }) { id } }', { g: wC.groupB }, wC.tokens.memberB);
    const uploaded = await c.upload(registerImage.id, createRootfsTar({ '/etc/motd': 'b2\n' }), wC.tokens.memberB);
    expect(uploaded.status).toBe(200);
    const transfer = (await as(wC.tokens.memberB, 'begin', { bytes: 0, imageDigest: uploaded.body.digest })).body.result.transfer as string;
    const { manifest } = sealManifest({ version: 1, chunks: [{ hash: chunk, size: data.length }], size: data.length, sha256: chunk, encryption: null, chunking: { algorithm: 'fastcdc-gear32-nc2', min: 1, avg: 2, max: 4 }, createdAt: new Date().toISOString(), labels: {} });
    const claimed = await as(wC.tokens.memberB, 'putManifest', { transfer, manifest });
    expect([claimed.status, claimed.body.errors?.[0]?.extensions.code]).toEqual([400, 'BAD_USER_INPUT']);
    expect(claimed.body.errors?.[0]?.message).toMatch(/was not sent in this transfer/);
    // Once b has sent the chunk's bytes (proving it has them), the store is b's to answer for, and the manifest is taken.
    expect((await as(wC.tokens.memberB, 'putChunks', { transfer, chunks: [{ id: chunk, data: data.toString('base64') }] })).status).toBe(200);
    expect((await as(wC.tokens.memberB, 'missingChunks', { ids: [chunk], transfer })).body.result).toEqual([]);
    expect((await as(wC.tokens.memberB, 'putManifest', { transfer, manifest })).status).toBe(200);
    expect((await as(wC.tokens.memberB, 'abort', { transfer })).status).toBe(200);
  });

  test('a restart of site c mid-transfer keeps the transfer and its claim: the sender goes on with its id; one silent too long is ended at the start', async () => {
    // Read in c's database: a restarted test gateway has no admin token of its own.
    const reservedAtC = async () => Number((await c.gateway.dataSource.query('SELECT coalesce(sum(bytes), 0) AS b FROM storage_reservation WHERE "groupId" = $1', [wC.groupA]))[0].b);
    const begin = async () => ((await (await peerStoreAtC({ call: 'begin', args: { bytes: 5000, imageDigest: digest } })).json()) as { result: { transfer: string } }).result.transfer;
    const transfer = await begin();
    expect(await reservedAtC()).toBe(5000);
    await c.close();
    c = await startTestGateway(dbC, cEnv);
    // The claim is still held, and the transfer takes the sender's next chunks.
    expect(await reservationsAtC(wC.groupA)).toBe(1);
    expect(await reservedAtC()).toBe(5000);
    const data = Buffer.from('a chunk sent after the restart');
    const put = await peerStoreAtC({ call: 'putChunks', args: { transfer, chunks: [{ id: createHash('sha256').update(data).digest('hex'), data: data.toString('base64') }] } });
    expect(put.status).toBe(200);
    expect((await peerStoreAtC({ call: 'abort', args: { transfer } })).status).toBe(200);
    expect(await reservationsAtC(wC.groupA)).toBe(0);
    expect(Number((await c.gateway.dataSource.query('SELECT count(*) AS n FROM peer_transfer'))[0].n)).toBe(0);

    // A transfer whose sender was silent past the idle time (30 minutes) when c starts is ended then, its claim given back.
    const silent = await begin();
    await c.gateway.dataSource.query(`UPDATE peer_transfer SET "lastSeenAt" = now() - interval '31 minutes' WHERE id = $1`, [silent]);
    await c.close();
    c = await startTestGateway(dbC, cEnv);
    expect(await reservationsAtC(wC.groupA)).toBe(0);
    expect((await peerStoreAtC({ call: 'putChunks', args: { transfer: silent, chunks: [] } })).status).toBe(400);
  });
});
