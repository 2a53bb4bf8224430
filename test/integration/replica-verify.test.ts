import { randomBytes } from 'node:crypto';
import { stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createRootfsTar } from '../../drivers/fake';
import { ArtifactStore } from '../../gateway/artifacts/artifact-store';
import { BATCH_BYTES } from '../../gateway/artifacts/chunk-copy';
import type { DirectoryBackend } from '../../gateway/artifacts/directory-backend';
import { corruptChunk, flipByte } from '../helpers/artifacts';
import { runRsp } from '../helpers/cli';
import { until } from '../helpers/until';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { collect, startTestGateway, TestGateway } from '../helpers/gateway';

const REPLICA = 'id manifestId storeHostId reusedChunks writtenChunks repairedChunks verifyState lastVerifiedAt verifyProblems { chunk index reason repaired }';

interface Replica {
  id: string;
  manifestId: string;
  storeHostId: string | null;
  reusedChunks: number;
  writtenChunks: number;
  repairedChunks: number;
  verifyState: string | null;
  lastVerifiedAt: string | null;
  verifyProblems: Array<{ chunk: string | null; index: number | null; reason: string; repaired: boolean }>;
}

/**
 * A backup that says OK restores: runs reuse only chunks the target store holds intact as far
 * as it knows and write damaged ones again; verify jobs re-hash every chunk, repair from another
 * store, and mark what they cannot repair DAMAGED with an alert. Two in-process agents `a`
 * (source) and `b` (target), fake driver; with `loopback`, through the JSON agent protocol.
 */
function verifySuite(transport: 'direct' | 'loopback') {
  let db: TestDatabase;
  let t: TestGateway;
  let group: string;
  let hostA: string;
  let hostB: string;
  let env: string;
  const storeDir = (agent: string) => join(db.dataDir, 'agents', agent, 'artifacts');
  /** A store opened afresh on an agent's directory: what is on its disk, not in a cached index. */
  const onDisk = (agent: string) => ArtifactStore.inDirectory(storeDir(agent));
  const replica = async (id: string) => (await t.ok(`query ($id: ID!) { replica(id: $id) { ${REPLICA} } }`, { id })).replica as Replica;
  const runNow = async (policyId: string) => {
    const op = await t.gateway.services.operations.settled((await t.ok('mutation ($id: ID!) { replicateNow(policyId: $id) { id } }', { id: policyId })).replicateNow.id);
    expect({ state: op.state, error: op.errorMessage }).toEqual({ state: 'SUCCEEDED', error: null });
    return replica(op.result!.replicaId as string);
  };
  const verify = async (id: string) => {
    const op = await t.gateway.services.operations.settled((await t.ok('mutation ($id: ID!) { verifyReplica(id: $id) { id } }', { id })).verifyReplica.id);
    expect({ state: op.state, error: op.errorMessage }).toEqual({ state: 'SUCCEEDED', error: null });
    return { result: op.result as { state: string; checkedChunks: number; repairedChunks: number; problems: Replica['verifyProblems'] }, replica: await replica(id) };
  };
  const restore = async (id: string, name: string) => {
    const op = await t.gateway.services.operations.settled((await t.ok('mutation ($r: ID!, $n: String) { restoreReplica(replicaId: $r, name: $n) { id } }', { r: id, n: name })).restoreReplica.id);
    return { state: op.state, error: op.errorMessage };
  };
  const createPolicy = async (name: string) =>
    (await t.ok('mutation ($i: CreateReplicationPolicyInput!) { createReplicationPolicy(input: $i) { id } }', { i: { environmentId: env, schedule: 'every 1 hour', targetKind: 'HOST', targetId: hostB, keep: 5, name } })).createReplicationPolicy.id as string;
  const middleChunk = async (agent: string, manifestId: string) => {
    const m = await onDisk(agent).manifest(manifestId);
    return m.chunks[Math.floor(m.chunks.length / 2)]!.hash;
  };

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db, { RSP_AGENTS: 'a,b', RSP_REPLICATION_INTERVAL_MS: '0', RSP_HEARTBEAT_MS: '200', RSP_HOST_DOWN_AFTER_MS: '5000', RSP_REPLICA_VERIFY_BYTES_PER_SECOND: '0', ...(transport === 'loopback' ? { RSP_AGENT_TRANSPORT: 'loopback' } : {}) });
    group = (await t.ok('mutation { createGroup(input: { slug: "offsite", name: "Offsite" }) { id } }')).createGroup.id;
    const site = (await t.ok('mutation ($g: ID!) { createSite(input: { name: "pair", ownerGroupId: $g }) { id } }', { g: group })).createSite.id;
    const newHost = async (hostname: string, agent: string) => (await t.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: site, ownerGroupId: group, hostname, drivers: ['fake'], agent } })).createHost.id as string;
    hostA = await newHost('host-a', 'a');
    hostB = await newHost('host-b', 'b');
    const image = (await t.ok('mutation ($g: ID!) { registerImage(input: { vendorGroupId: $g, name: "fake", version: "1", technology: "fake" }) { id } }', { g: group })).registerImage.id;
    await t.upload(image, createRootfsTar({ '/a-blob': randomBytes(3 * 2 ** 20), '/etc/hostname': 'db', '/z-blob': randomBytes(3 * 2 ** 20) }));
    const created = (await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: group, hostId: hostA, imageId: image, name: 'db' } })).createEnvironment;
    expect((await t.gateway.services.operations.settled(created.operation.id)).state).toBe('SUCCEEDED');
    env = created.environment.id;
  }, 180_000);
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test('a flipped byte in the target store: the next run writes that chunk again, says so, and its replica restores', async () => {
    const policy = await createPolicy('flip');
    const first = await runNow(policy);
    expect(first).toMatchObject({ storeHostId: hostB, reusedChunks: 0, repairedChunks: 0 });
    expect(first.writtenChunks).toBeGreaterThan(10);
    const unchanged = await runNow(policy);
    expect(unchanged).toMatchObject({ writtenChunks: 0, repairedChunks: 0, reusedChunks: first.writtenChunks });

    const victim = await middleChunk('b', first.manifestId);
    await flipByte(onDisk('b'), victim);
    const third = await runNow(policy);
    expect(third).toMatchObject({ repairedChunks: 1, writtenChunks: 0 });
    const status = (await t.ok('query ($id: ID!) { replicationPolicy(id: $id) { status { state lastChunkCounts { reusedChunks writtenChunks repairedChunks } } } }', { id: policy })).replicationPolicy.status;
    expect(status).toEqual({ state: 'OK', lastChunkCounts: { reusedChunks: third.reusedChunks, writtenChunks: 0, repairedChunks: 1 } });
    expect((await onDisk('b').verify(third.manifestId)).ok).toBe(true);
    // The earlier replicas share the repaired chunk: they restore too.
    expect(await restore(first.id, 'db-first')).toEqual({ state: 'SUCCEEDED', error: null });
    expect(await restore(third.id, 'db-third')).toEqual({ state: 'SUCCEEDED', error: null });
  }, 120_000);

  test('verifyReplica repairs a damaged chunk from the source host\'s store; with no intact copy left the replica is DAMAGED and an alert fires', async () => {
    const policy = await createPolicy('verify');
    const r = await runNow(policy);
    const clean = await verify(r.id);
    expect(clean.result).toMatchObject({ state: 'OK', repairedChunks: 0, problems: [] });
    expect(clean.result.checkedChunks).toBeGreaterThan(10);
    expect(clean.replica).toMatchObject({ verifyState: 'OK', verifyProblems: [] });
    expect(clean.replica.lastVerifiedAt).not.toBeNull();
    const policyStatus = async () => (await t.ok('query ($id: ID!) { replicationPolicy(id: $id) { status { verifyState lastVerifiedAt damagedReplicaIds } } }', { id: policy })).replicationPolicy.status;
    expect(await policyStatus()).toEqual({ verifyState: 'OK', lastVerifiedAt: clean.replica.lastVerifiedAt, damagedReplicaIds: [] });
    const cli = { RSP_URL: t.gateway.url, RSP_TOKEN: t.adminToken };
    const verifiedByCli = await runRsp(['replica', 'verify', r.id], cli);
    expect(verifiedByCli).toMatchObject({ code: 0 });
    expect(verifiedByCli.stdout).toMatch(/OK/);

    const victim = await middleChunk('b', r.manifestId);
    await corruptChunk(onDisk('b'), victim);
    const repaired = await verify(r.id);
    expect(repaired.result).toMatchObject({ state: 'OK', repairedChunks: 1, problems: [{ chunk: victim, repaired: true }] });
    expect((await onDisk('b').verify(r.manifestId)).ok).toBe(true);

    const alerts = collect<{ events: { kind: string; alert: { metric: string; targetId: string; message: string } | null } }>(t.ws(), 'subscription { events { kind alert { metric targetId message } } }', {}, (e) => e.events.kind === 'ALERT' && e.events.alert?.metric === 'replicaDamagedChunks', 60_000);
    await alerts.ready;
    // Damaged in b (the replica's store) and in a (the source host's copy): nowhere to repair it from.
    await corruptChunk(onDisk('b'), victim);
    await corruptChunk(onDisk('a'), victim);
    const damaged = await verify(r.id);
    expect(damaged.result).toMatchObject({ state: 'DAMAGED', repairedChunks: 0, problems: [{ chunk: victim, repaired: false }] });
    expect(damaged.replica).toMatchObject({ verifyState: 'DAMAGED', verifyProblems: [{ chunk: victim, repaired: false }] });
    expect(await policyStatus()).toMatchObject({ verifyState: 'DAMAGED', damagedReplicaIds: [r.id] });
    expect((await runRsp(['replicate', 'policy', 'show', policy], cli)).stdout).toMatch(new RegExp(`verification:\\s+DAMAGED .*damaged: ${r.id}`));
    const damagedByCli = await runRsp(['replica', 'verify', r.id], cli);
    expect(damagedByCli.code).toBe(1);
    expect(damagedByCli.stderr).toMatch(new RegExp(`replica ${r.id} is DAMAGED`));
    const fired = (await alerts.done).at(-1)!.events.alert!;
    expect(fired).toMatchObject({ targetId: env, message: expect.stringContaining(r.id) });
    const listed = (await t.ok('{ alerts(state: FIRING) { metric targetId message } }')).alerts as Array<{ metric: string; message: string }>;
    expect(listed.some((a) => a.metric === 'replicaDamagedChunks' && a.message.includes(r.id))).toBe(true);
    expect((await restore(r.id, 'db-damaged')).state).toBe('FAILED');

    // A later run writes the chunk again from the environment itself: the replica it makes is whole.
    const next = await runNow(policy);
    expect(next.repairedChunks + next.writtenChunks).toBeGreaterThan(0);
    expect(await restore(next.id, 'db-after')).toEqual({ state: 'SUCCEEDED', error: null });
  }, 180_000);

  test('a deleted chunk, a truncated pack and a corrupt manifest: each found by verify, naming the replicas, and repaired from the source', async () => {
    const policy = await createPolicy('kinds');
    const r = await runNow(policy);
    const verifier = t.gateway.services.replication.verifier;

    const gone = await middleChunk('b', r.manifestId);
    await onDisk('b').backend.delete('chunk', gone);
    let results = await verifier.verifyStore(hostB);
    // Every replica kept in b is re-hashed before any repair: all those that use the chunk are named (the earlier tests' ones too).
    let hit = results.filter((x) => x.problems.length > 0);
    expect(hit.length).toBeGreaterThan(1);
    expect(hit.map((x) => x.replicaId)).toContain(r.id);
    for (const x of hit) expect(x).toMatchObject({ state: 'OK', problems: [{ chunk: gone, reason: 'it is missing', repaired: true }] });

    const where = (await (onDisk('b').backend as DirectoryBackend).whereIs(await middleChunk('b', r.manifestId)))!;
    await truncate(where.path, Math.floor((await stat(where.path)).size / 2));
    results = await verifier.verifyStore(hostB);
    // Every replica with a chunk in that pack is named; each is repaired.
    hit = results.filter((x) => x.problems.length > 0);
    expect(hit.map((x) => x.replicaId)).toContain(r.id);
    expect(hit.every((x) => x.state === 'OK' && x.problems.every((p) => p.repaired))).toBe(true);

    await writeFile(join(storeDir('b'), 'manifests', `${r.manifestId}.json`), '{"version":1,"chunks":[]}');
    results = await verifier.verifyStore(hostB);
    expect(results.find((x) => x.replicaId === r.id)).toMatchObject({ state: 'OK', problems: [{ chunk: null, reason: expect.stringMatching(/manifest does not check out/), repaired: true }] });
    expect((await onDisk('b').verify(r.manifestId)).ok).toBe(true);
    expect(await restore(r.id, 'db-kinds')).toEqual({ state: 'SUCCEEDED', error: null });
  }, 180_000);

  test('scheduled verification (RSP_REPLICA_VERIFY_INTERVAL_HOURS): on the timer, every store\'s replicas are verified and recorded', async () => {
    const r = await runNow(await createPolicy('scheduled'));
    expect((await replica(r.id)).verifyState).toBeNull();
    const { settings, verifier } = t.gateway.services.replication;
    settings.verify.intervalMs = 300;
    verifier.start();
    try {
      await until('the scheduled verification of the replica', async () => (await replica(r.id)).verifyState === 'OK', 90_000, 250);
    } finally {
      await verifier.stop();
      settings.verify.intervalMs = 0;
    }
    expect((await replica(r.id)).lastVerifiedAt).not.toBeNull();
  }, 120_000);

  test('a repair of more chunks than one getChunks may carry is fetched in several calls, each within a copy batch (the agent\'s answer bound), and makes the replica whole', async () => {
    const r = await runNow(await createPolicy('big-repair'));
    const manifest = await onDisk('b').manifest(r.manifestId);
    const sizes = new Map(manifest.chunks.map((c) => [c.hash, c.size]));
    const total = [...sizes.values()].reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(BATCH_BYTES);
    // Every chunk damaged in b; a keeps them intact but not the manifest: they come back one batch of chunks at a time.
    for (const id of sizes.keys()) await corruptChunk(onDisk('b'), id);
    const source = t.gateway.agents.get('a')!;
    await source.deleteArtifact({ manifestId: r.manifestId });
    const asked: string[][] = [];
    const getChunks = source.getChunks.bind(source);
    const spy = jest.spyOn(source, 'getChunks').mockImplementation(async (params, context) => {
      asked.push(params.ids);
      return getChunks(params, context);
    });
    try {
      const repaired = await verify(r.id);
      expect(repaired.result).toMatchObject({ state: 'OK', repairedChunks: sizes.size });
    } finally {
      spy.mockRestore();
    }
    expect(asked.length).toBeGreaterThan(1);
    for (const ids of asked) expect(ids.reduce((sum, id) => sum + sizes.get(id)!, 0)).toBeLessThanOrEqual(BATCH_BYTES);
    expect(new Set(asked.flat())).toEqual(new Set(sizes.keys()));
    expect(await onDisk('b').verify(r.manifestId)).toMatchObject({ ok: true, problems: [] });
  }, 120_000);

  test('a chunk damaged in the replica\'s store and on its source host is repaired from the store of another replica of the group (the gateway\'s)', async () => {
    const inB = await runNow(await createPolicy('third-store'));
    const storePolicy = (await t.ok('mutation ($i: CreateReplicationPolicyInput!) { createReplicationPolicy(input: $i) { id } }', { i: { environmentId: env, schedule: 'every 1 hour', targetKind: 'STORE', keep: 5, name: 'in-gateway' } })).createReplicationPolicy.id as string;
    const inGateway = await runNow(storePolicy);
    expect(inGateway.storeHostId).toBeNull();
    const victim = await middleChunk('b', inB.manifestId);
    await corruptChunk(onDisk('b'), victim);
    await corruptChunk(onDisk('a'), victim);
    const repaired = await verify(inB.id);
    expect(repaired.result).toMatchObject({ state: 'OK', repairedChunks: 1, problems: [{ chunk: victim, repaired: true }] });
    // On b's disk, in a pack in place (a store opened afresh sees it: it outlives the agent's process).
    expect(await onDisk('b').verify(inB.manifestId)).toMatchObject({ ok: true, problems: [] });
  }, 120_000);
}

describe('replica verification and repair (agents a and b, fake driver)', () => verifySuite('direct'));
describe('replica verification and repair, through the JSON loopback', () => verifySuite('loopback'));
