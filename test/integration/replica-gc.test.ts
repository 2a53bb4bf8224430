import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createRootfsTar } from '../../drivers/fake';
import { ArtifactStore } from '../../gateway/artifacts/artifact-store';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';

/**
 * Garbage collection of replica stores (two in-process agents `a` and `b`, fake driver, real
 * stores on disk): collections running all through a replication run lose nothing the run needs,
 * and a collection reports the bytes it freed.
 */
describe('replica store garbage collection (agents a and b, fake driver)', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let group: string;
  let hostA: string;
  let hostB: string;
  let env: string;
  const onDisk = (agent: string) => ArtifactStore.inDirectory(join(db.dataDir, 'agents', agent, 'artifacts'));
  const disk = async (hostId: string) => ((await t.ok('query ($h: ID) { resources(hostId: $h) { nodes { type used } } }', { h: hostId })).resources.nodes as Array<{ type: string; used: number }>).find((r) => r.type === 'DISK')!.used;
  const collectNow = async (hostId: string | null) => {
    const op = await t.gateway.services.operations.settled((await t.ok('mutation ($h: ID) { collectReplicaStore(hostId: $h) { id } }', { h: hostId })).collectReplicaStore.id);
    expect({ state: op.state, error: op.errorMessage }).toEqual({ state: 'SUCCEEDED', error: null });
    return op.result as { storeHostId: string | null; removedChunks: number; freedBytes: number };
  };

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db, { RSP_AGENTS: 'a,b', RSP_REPLICATION_INTERVAL_MS: '0', RSP_HEARTBEAT_MS: '200', RSP_HOST_DOWN_AFTER_MS: '5000' });
    group = (await t.ok('mutation { createGroup(input: { slug: "gc", name: "GC" }) { id } }')).createGroup.id;
    const site = (await t.ok('mutation ($g: ID!) { createSite(input: { name: "pair", ownerGroupId: $g }) { id } }', { g: group })).createSite.id;
    const newHost = async (hostname: string, agent: string) => (await t.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: site, ownerGroupId: group, hostname, drivers: ['fake'], agent } })).createHost.id as string;
    hostA = await newHost('host-a', 'a');
    hostB = await newHost('host-b', 'b');
    for (const hostId of [hostA, hostB]) await t.ok('mutation ($i: CreateResourceInput!) { createResource(input: $i) { id } }', { i: { hostId, type: 'DISK', unit: 'BYTES', total: 100 * 2 ** 30 } });
    const image = (await t.ok('mutation ($g: ID!) { registerImage(input: { vendorGroupId: $g, name: "fake", version: "1", technology: "fake" }) { id } }', { g: group })).registerImage.id;
    await t.upload(image, createRootfsTar({ '/a-blob': randomBytes(4 * 2 ** 20), '/etc/hostname': 'db', '/z-blob': randomBytes(4 * 2 ** 20) }));
    const created = (await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: group, hostId: hostA, imageId: image, name: 'db' } })).createEnvironment;
    expect((await t.gateway.services.operations.settled(created.operation.id)).state).toBe('SUCCEEDED');
    env = created.environment.id;
  }, 180_000);
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test('collections of the source and the target store all through a run lose nothing it needs: the replica verifies and restores', async () => {
    const policy = (await t.ok('mutation ($i: CreateReplicationPolicyInput!) { createReplicationPolicy(input: $i) { id } }', { i: { environmentId: env, schedule: 'every 1 hour', targetKind: 'HOST', targetId: hostB, keep: 2, name: 'during' } })).createReplicationPolicy.id as string;
    const collector = t.gateway.services.replication.collector;
    const started = (await t.ok('mutation ($id: ID!) { replicateNow(policyId: $id) { id } }', { id: policy })).replicateNow.id as string;
    let settled = false;
    const run = t.gateway.services.operations.settled(started).finally(() => (settled = true));
    let during = 0;
    while (!settled) {
      await collector.collect(hostB);
      await collector.collect(hostA);
      if (!settled) during += 1;
    }
    const op = await run;
    expect({ state: op.state, error: op.errorMessage }).toEqual({ state: 'SUCCEEDED', error: null });
    expect(during).toBeGreaterThan(0);
    const replica = (await t.ok('query ($id: ID!) { replica(id: $id) { id manifestId storeHostId } }', { id: op.result!.replicaId })).replica;
    expect(replica.storeHostId).toBe(hostB);
    // One more collection after the run: the replica's chunks are referenced, so nothing of it goes.
    await collectNow(hostB);
    expect(await onDisk('b').verify(replica.manifestId)).toMatchObject({ ok: true, problems: [] });
    const restored = await t.gateway.services.operations.settled((await t.ok('mutation ($r: ID!) { restoreReplica(replicaId: $r, name: "db-after-gc") { id } }', { r: replica.id })).restoreReplica.id);
    expect({ state: restored.state, error: restored.errorMessage }).toEqual({ state: 'SUCCEEDED', error: null });
  }, 180_000);

  test('a collection removes the chunks no manifest references and reports the bytes freed; deleting a replica releases its DISK claim', async () => {
    const b = onDisk('b');
    const orphan = randomBytes(3 * 2 ** 20);
    const { manifest } = await b.put(Readable.from([orphan]));
    await b.delete(manifest.id);
    const freed = await collectNow(hostB);
    expect(freed.storeHostId).toBe(hostB);
    expect(freed.removedChunks).toBeGreaterThanOrEqual(manifest.chunks.length);
    expect(freed.freedBytes).toBeGreaterThanOrEqual(orphan.length);
    expect(await collectNow(hostB)).toMatchObject({ removedChunks: 0, freedBytes: 0 });

    const before = await disk(hostB);
    const policy = (await t.ok('mutation ($i: CreateReplicationPolicyInput!) { createReplicationPolicy(input: $i) { id } }', { i: { environmentId: env, schedule: 'every 1 hour', targetKind: 'HOST', targetId: hostB, keep: 2, name: 'released' } })).createReplicationPolicy.id as string;
    const op = await t.gateway.services.operations.settled((await t.ok('mutation ($id: ID!) { replicateNow(policyId: $id) { id } }', { id: policy })).replicateNow.id);
    const replica = (await t.ok('query ($id: ID!) { replica(id: $id) { id bytes } }', { id: op.result!.replicaId })).replica;
    expect(await disk(hostB)).toBe(before + replica.bytes);
    await t.ok('mutation ($id: ID!) { deleteReplica(id: $id) { id } }', { id: replica.id });
    expect(await disk(hostB)).toBe(before);
    // The gateway's store is collected too (site admins).
    expect((await collectNow(null)).storeHostId).toBeNull();
  }, 180_000);
});
