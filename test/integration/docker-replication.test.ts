import { readFile } from 'node:fs/promises';
import Docker from 'dockerode';
import { resolveDockerConfig } from '../../drivers/docker/config';
import type { InProcessAgent } from '../../gateway/agent/in-process-agent';
import { corruptChunk } from '../helpers/artifacts';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { describeWithEngine } from '../helpers/engines';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, World } from '../helpers/scenario';
import { until } from '../helpers/until';
import { buildBusyboxRootfs } from '../fixtures/busybox-rootfs';

/** Replication on a real Docker engine: deduplicated second runs, restore with the data intact, corruption refused. */
describeWithEngine('docker', 'replication of docker environments', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;
  let source: string;
  let policy: string;
  const ids: string[] = [];
  const engine = new Docker(resolveDockerConfig().connection);

  const settle = (id: string) => t.gateway.services.operations.settled(id);
  const succeeded = async (id: string) => {
    const op = await settle(id);
    expect({ state: op.state, error: op.errorMessage }).toEqual({ state: 'SUCCEEDED', error: null });
    return op;
  };
  const exec = async (id: string, command: string[]) => (await t.ok('mutation ($id: ID!, $c: [String!]!) { execEnvironment(id: $id, command: $c) { exitCode stdout stderr } }', { id, c: command }, w.tokens.memberA)).execEnvironment;
  const replicateNow = async () => (await succeeded((await t.ok('mutation ($id: ID!) { replicateNow(policyId: $id) { id } }', { id: policy }, w.tokens.memberA)).replicateNow.id)).result as { replicaId: string; bytes: number; newBytes: number; chunks: number };
  const rspContainers = async () => (await engine.listContainers({ all: true, filters: { label: ['rsp.environment'] } })).map((c) => c.Labels['rsp.environment']);

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db, { RSP_DRIVERS: 'docker', RSP_REPLICATION_INTERVAL_MS: '0' });
    w = await buildWorld(t);
    // zaphod is this machine: its in-process agent's beats bring it UP, which on a busy machine can come after it was created.
    await until('zaphod UP', async () => (await t.ok('query ($id: ID!) { host(id: $id) { state } }', { id: w.host1 })).host.state === 'UP', 60_000);
    const image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: 'busybox', version: '1', technology: 'docker' } })).registerImage.id;
    expect((await t.upload(image, await readFile(await buildBusyboxRootfs()))).status).toBe(200);
    const created = (await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: w.groupA, hostId: w.host1, imageId: image, name: 'files', volumes: [{ name: 'data', mountPath: '/data' }] } }, w.tokens.memberA)).createEnvironment;
    source = created.environment.id;
    ids.push(source);
    await succeeded(created.operation.id);
    await succeeded((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: source }, w.tokens.memberA)).startEnvironment.id);
    policy = (await t.ok('mutation ($i: CreateReplicationPolicyInput!) { createReplicationPolicy(input: $i) { id } }', { i: { environmentId: source, targetKind: 'HOST', targetId: w.host1, schedule: '*/30 * * * *', keep: 3, encrypted: true } }, w.tokens.memberA)).createReplicationPolicy.id;
  }, 180_000);

  afterAll(async () => {
    for (const id of ids) {
      const res = await t.gql('mutation ($id: ID!) { destroyEnvironment(id: $id) { id } }', { id });
      if (res.data) await settle(res.data.destroyEnvironment.id);
    }
    await t?.close();
    await db?.drop();
  }, 180_000);

  test('a second replication after a small change moves a small fraction of the first', async () => {
    expect((await exec(source, ['sh', '-c', 'dd if=/dev/urandom of=/data/blob bs=1024 count=24576 2>/dev/null && echo first > /data/note.txt && sync'])).exitCode).toBe(0);
    const first = await replicateNow();
    expect(first.bytes).toBeGreaterThan(24 * 2 ** 20);
    expect(first.newBytes).toBeGreaterThan(24 * 2 ** 20);

    // Change 16 KiB in the middle of the 24 MiB file and one small file: at most a few chunks around each change differ.
    expect((await exec(source, ['sh', '-c', 'dd if=/dev/urandom of=/data/blob bs=1024 count=16 seek=12000 conv=notrunc 2>/dev/null && echo second > /data/note.txt && sync'])).exitCode).toBe(0);
    const second = await replicateNow();
    expect(second.bytes).toBeGreaterThan(24 * 2 ** 20);
    const fraction = second.newBytes / first.newBytes;
    expect(fraction).toBeLessThan(0.1);
    expect(second.newBytes).toBeGreaterThan(0);
    process.stdout.write(`docker replication: first run moved ${first.newBytes} bytes, second ${second.newBytes} (${(fraction * 100).toFixed(2)}%)\n`);

    const status = (await t.ok('query ($id: ID!) { replicationPolicy(id: $id) { status { state failCount lastSyncAt } } }', { id: policy }, w.tokens.memberA)).replicationPolicy.status;
    expect(status).toMatchObject({ state: 'OK', failCount: 0 });
  }, 180_000);

  test('restore to a new environment brings the data back, checked from inside', async () => {
    const [newest] = (await t.ok('query ($p: ID!) { replicas(policyId: $p) { id } }', { p: policy }, w.tokens.memberA)).replicas;
    const expected = (await exec(source, ['md5sum', '/data/blob'])).stdout.split(' ')[0];
    const op = await succeeded((await t.ok('mutation ($r: ID!) { restoreReplica(replicaId: $r, name: "files-restored", start: true) { id } }', { r: newest.id }, w.tokens.memberA)).restoreReplica.id);
    const restored = op.result!.environmentId as string;
    ids.push(restored);
    expect((await t.ok('query ($id: ID!) { environment(id: $id) { status hostId } }', { id: restored }, w.tokens.memberA)).environment).toEqual({ status: 'RUNNING', hostId: w.host1 });
    expect((await exec(restored, ['cat', '/data/note.txt'])).stdout).toBe('second\n');
    expect((await exec(restored, ['md5sum', '/data/blob'])).stdout.split(' ')[0]).toBe(expected);
  }, 180_000);

  test('a corrupted chunk: restore refuses with the integrity error and nothing is created or running', async () => {
    const [newest] = (await t.ok('query ($p: ID!) { replicas(policyId: $p) { id manifestId } }', { p: policy }, w.tokens.memberA)).replicas;
    // The policy's target is host 1: the replica lives in its agent's store.
    const store = (t.gateway.agents.local as InProcessAgent).artifacts();
    const manifest = await store.manifest(newest.manifestId);
    const victim = manifest.chunks[Math.floor(manifest.chunks.length / 2)]!.hash;
    await corruptChunk(store, victim);
    const containersBefore = (await rspContainers()).sort();
    const envsBefore = (await t.ok('{ environments(first: 100) { nodes { id } } }')).environments.nodes.length;

    const op = await settle((await t.ok('mutation ($r: ID!) { restoreReplica(replicaId: $r, name: "files-broken", start: true) { id } }', { r: newest.id }, w.tokens.memberA)).restoreReplica.id);
    expect(op.state).toBe('FAILED');
    expect(op.errorCode).toBe('INTEGRITY_ERROR');
    expect(op.errorMessage).toContain(victim);
    expect((await rspContainers()).sort()).toEqual(containersBefore);
    const after = (await t.ok('{ environments(first: 100) { nodes { id name } } }')).environments.nodes;
    expect(after).toHaveLength(envsBefore);
    expect(after.map((e: { name: string }) => e.name)).not.toContain('files-broken');

    // The system-level restore used by failover refuses the same way.
    await expect(t.gateway.services.replication.restoreReplica(newest.id, w.host1, { sameIdentity: true, start: true })).rejects.toMatchObject({ category: 'INTEGRITY_ERROR' });
    expect((await t.ok('query ($id: ID!) { environment(id: $id) { status hostId } }', { id: source }, w.tokens.memberA)).environment).toEqual({ status: 'RUNNING', hostId: w.host1 });
    expect((await rspContainers()).sort()).toEqual(containersBefore);
  }, 180_000);
});
