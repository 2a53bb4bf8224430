import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createRootfsTar } from '../../drivers/fake';
import { ArtifactStore } from '../../gateway/artifacts/artifact-store';
import type { AgentLink } from '../../gateway/agent/agent-link';
import { ReplicationPolicyEntity } from '../../gateway/persistence/entities';
import { corruptChunk } from '../helpers/artifacts';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { describeWithEngine } from '../helpers/engines';
import { collect, startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, World } from '../helpers/scenario';

const POLICY = 'id name status { state lastSyncAt lastTryAt lastDurationMs failCount nextRunAt lastError runningOperationId } target { kind id } keep kind encrypted';

/**
 * Replication policies, runs, pruning, retries and restore through GraphQL, over the fake driver,
 * on one database kind; with `loopback`, the agents are reached through the JSON agent protocol.
 */
function replicationSuite(kind: 'pglite' | 'postgres', transport: 'direct' | 'loopback' = 'direct') {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;
  let env: { id: string; layerId: string };

  const createPolicy = (input: Record<string, unknown>, token?: string) => t.gql(`mutation ($i: CreateReplicationPolicyInput!) { createReplicationPolicy(input: $i) { ${POLICY} } }`, { i: { environmentId: env.id, ...input } }, token);
  const runNow = async (policyId: string) => {
    const op = (await t.ok('mutation ($id: ID!) { replicateNow(policyId: $id) { id } }', { id: policyId }, w.tokens.memberA)).replicateNow;
    return t.gateway.services.operations.settled(op.id);
  };
  const policyOf = async (id: string) => (await t.ok(`query ($id: ID!) { replicationPolicy(id: $id) { ${POLICY} } }`, { id }, w.tokens.memberA)).replicationPolicy;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    t = await startTestGateway(db, { RSP_REPLICATION_INTERVAL_MS: '0', ...(transport === 'loopback' ? { RSP_AGENT_TRANSPORT: 'loopback' } : {}) });
    w = await buildWorld(t);
    const image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: 'fake', version: '1', technology: 'fake' } })).registerImage.id;
    await t.upload(image, createRootfsTar({ '/etc/hostname': 'db', '/data/db.txt': 'rows v1\n' }));
    const created = (await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id layerId } operation { id } } }', { i: { groupId: w.groupA, hostId: w.host1, imageId: image, name: 'db' } }, w.tokens.memberA)).createEnvironment;
    await t.gateway.services.operations.settled(created.operation.id);
    await t.gateway.services.operations.settled((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: created.environment.id })).startEnvironment.id);
    env = created.environment;
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test('a policy that breaks the seed-000 layer rule is refused with the reason', async () => {
    const service = (await t.ok('mutation ($i: CreateLayerInput!) { createLayer(input: $i) { id } }', { i: { groupId: w.groupA, kind: 'SERVICE', name: 'postgres', parentId: env.layerId } }, w.tokens.memberA)).createLayer.id;
    const hostLayer = (await t.ok('query ($id: ID!) { layer(id: $id) { parentId } }', { id: env.layerId })).layer.parentId;
    const above = await createPolicy({ layerId: service, targetKind: 'STORE', schedule: 'every 1 hour' }, w.tokens.memberA);
    expect(above.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(above.errors?.[0]?.message).toMatch(/SERVICE layer "postgres" sits above the environment's ZONE layer "db".*a layer replicates itself and the layers above it, never the layers below/);
    const below = await createPolicy({ layerId: hostLayer, kind: 'INTERNAL', backupCommand: ['cat', '/data/db.txt'], targetKind: 'STORE', schedule: 'every 1 hour' }, w.tokens.memberA);
    expect(below.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' }, message: expect.stringMatching(/MACHINE layer "zaphod" lies below/) });
    // The same layers the right way round are accepted.
    expect((await createPolicy({ layerId: hostLayer, targetKind: 'STORE', schedule: 'every 1 hour', name: 'from-host' }, w.tokens.memberA)).errors).toBeUndefined();
    expect((await createPolicy({ layerId: service, kind: 'INTERNAL', backupCommand: ['cat', '/data/db.txt'], targetKind: 'STORE', schedule: 'every 1 hour', name: 'from-service' }, w.tokens.memberA)).errors).toBeUndefined();
  });

  test('bad schedules, targets and commands are BAD_USER_INPUT or NOT_FOUND', async () => {
    const code = async (input: Record<string, unknown>) => (await createPolicy({ targetKind: 'STORE', schedule: 'every 1 hour', ...input }, w.tokens.memberA)).errors?.[0]?.extensions?.code;
    expect(await code({ schedule: '*/2 * * * *' })).toBe('BAD_USER_INPUT');
    expect(await code({ schedule: 'sometimes' })).toBe('BAD_USER_INPUT');
    expect(await code({ targetKind: 'HOST' })).toBe('BAD_USER_INPUT');
    expect(await code({ targetKind: 'HOST', targetId: '00000000-0000-0000-0000-000000000001' })).toBe('NOT_FOUND');
    expect(await code({ kind: 'INTERNAL' })).toBe('BAD_USER_INPUT');
    expect(await code({ keep: 0 })).toBe('BAD_USER_INPUT');
    expect(await code({ backupCommand: ['cat', '/x'] })).toBe('BAD_USER_INPUT');
  });

  test('replicateNow runs as an operation, records the status, publishes the event to the group only, and prunes beyond keep', async () => {
    const created = await createPolicy({ targetKind: 'HOST', targetId: w.host2, schedule: '0 3 * * *', keep: 2, name: 'nightly' }, w.tokens.memberA);
    const policy = created.data!.createReplicationPolicy;
    expect(policy.status).toMatchObject({ state: 'PENDING', failCount: 0, lastSyncAt: null });
    expect(new Date(policy.status.nextRunAt).getUTCHours()).toBe(3);

    const mine = collect<{ events: { kind: string; replication: { policyId: string; state: string; replicaId: string } | null } }>(t.ws({ authorization: `Bearer ${w.tokens.viewerA}` }), 'subscription { events { kind replication { policyId state replicaId newBytes movedBytes } } }', {}, (e) => e.events.kind === 'REPLICATION');
    const theirs = collect<{ events: { kind: string } }>(t.ws({ authorization: `Bearer ${w.tokens.memberB}` }), 'subscription { events { kind } }', {}, (e) => e.events.kind === 'REPLICATION', 3000);
    await Promise.all([mine.ready, theirs.ready]);

    const first = await runNow(policy.id);
    expect({ state: first.state, error: first.errorMessage }).toEqual({ state: 'SUCCEEDED', error: null });
    expect(first.result).toMatchObject({ replicaId: expect.any(String), bytes: expect.any(Number), newBytes: expect.any(Number) });
    const event = (await mine.done).find((e) => e.events.kind === 'REPLICATION')!;
    expect(event.events.replication).toMatchObject({ policyId: policy.id, state: 'SUCCEEDED', replicaId: first.result!.replicaId, movedBytes: first.result!.movedBytes });
    await expect(theirs.done).rejects.toThrow(/timed out/);

    const status = (await policyOf(policy.id)).status;
    expect(status).toMatchObject({ state: 'OK', failCount: 0, lastError: null, runningOperationId: null });
    expect(status.lastDurationMs).toBeGreaterThanOrEqual(0);
    expect(new Date(status.nextRunAt).getTime()).toBeGreaterThan(Date.now());

    await runNow(policy.id);
    await runNow(policy.id);
    const replicas = (await t.ok('query ($p: ID!) { replicas(policyId: $p) { id manifestId bytes newBytes chunks target { kind id } environmentName } }', { p: policy.id }, w.tokens.memberA)).replicas;
    expect(replicas).toHaveLength(2);
    expect(replicas[0]).toMatchObject({ target: { kind: 'HOST', id: w.host2 }, environmentName: 'db' });
    expect(replicas.map((r: { id: string }) => r.id)).not.toContain(first.result!.replicaId);
    // The unchanged environment was already in the store: later runs add (almost) nothing.
    expect(replicas[0].newBytes).toBeLessThan(replicas[0].bytes);
    const other = await t.gql('query ($p: ID!) { replicas(policyId: $p) { id } }', { p: policy.id }, w.tokens.memberB);
    expect(other.data!.replicas).toEqual([]);
  });

  test("an environment's replication: NOT_FOUND for an id the caller may not see, the same answer for an unknown id as for another group's environment", async () => {
    const query = 'query ($e: ID!) { replicationPolicies(environmentId: $e) { id } replicas(environmentId: $e) { id } }';
    const mine = await t.gql(query, { e: env.id }, w.tokens.memberA);
    // The caller's own environment: its lists, empty or not, never an error.
    expect(mine.errors).toBeUndefined();
    expect(mine.data).toEqual({ replicationPolicies: expect.any(Array), replicas: expect.any(Array) });
    // What a caller learns, the id itself left out.
    const answer = async (id: string, token: string, q: string) => {
      const r = await t.gql(q, { e: id }, token);
      return { data: r.data ?? null, errors: r.errors?.map((e) => ({ code: e.extensions?.code, path: e.path, message: e.message.split(id).join('<id>') })) };
    };
    const unknown = '00000000-0000-4000-8000-00000000dead';
    const policies = 'query ($e: ID!) { replicationPolicies(environmentId: $e) { id } }';
    const theirs = await answer(env.id, w.tokens.memberB, policies);
    expect(theirs).toEqual({ data: null, errors: [{ code: 'NOT_FOUND', path: ['replicationPolicies'], message: expect.stringContaining('<id>') }] });
    expect(await answer(unknown, w.tokens.memberB, policies)).toEqual(theirs);
    expect(await answer(unknown, w.tokens.memberA, policies)).toEqual(theirs);
    const replicas = 'query ($e: ID!) { replicas(environmentId: $e) { id } }';
    const theirReplicas = await answer(env.id, w.tokens.memberB, replicas);
    expect(theirReplicas).toEqual({ data: null, errors: [{ code: 'NOT_FOUND', path: ['replicas'], message: expect.stringContaining('<id>') }] });
    expect(await answer(unknown, w.tokens.memberB, replicas)).toEqual(theirReplicas);
    // A site admin sees every group's.
    expect((await t.gql(query, { e: env.id })).errors).toBeUndefined();
  });

  test('a failed run counts, records the error and retries with backoff instead of waiting for the schedule', async () => {
    const created = await createPolicy({ kind: 'INTERNAL', backupCommand: ['cat', '/data/missing.txt'], targetKind: 'STORE', schedule: '0 3 * * *', name: 'failing' }, w.tokens.memberA);
    const id = created.data!.createReplicationPolicy.id;
    const op = await runNow(id);
    expect(op.state).toBe('FAILED');
    expect(op.errorMessage).toMatch(/exited with 1/);
    let status = (await policyOf(id)).status;
    expect(status).toMatchObject({ state: 'FAILED', failCount: 1, lastError: expect.stringMatching(/exited with 1/) });
    const retryIn = new Date(status.nextRunAt).getTime() - Date.now();
    expect(retryIn).toBeLessThanOrEqual(60_000);
    expect(retryIn).toBeGreaterThan(30_000);
    await runNow(id);
    status = (await policyOf(id)).status;
    expect(status.failCount).toBe(2);
    expect(new Date(status.nextRunAt).getTime() - Date.now()).toBeGreaterThan(90_000);
  });

  test('the scheduler runs due policies, one run at a time per policy', async () => {
    const id = (await createPolicy({ targetKind: 'STORE', schedule: 'every 10 minutes', name: 'due' }, w.tokens.memberA)).data!.createReplicationPolicy.id;
    await t.gateway.dataSource.getRepository(ReplicationPolicyEntity).update({ id }, { nextRunAt: new Date(Date.now() - 1000) });
    const started = await t.gateway.services.replication.runs.runDue();
    const mine = started.filter((o) => o.targetId === id);
    expect(mine).toHaveLength(1);
    const again = await t.gql('mutation ($id: ID!) { replicateNow(policyId: $id) { id } }', { id }, w.tokens.memberA);
    const settled = await t.gateway.services.operations.settled(mine[0]!.id);
    expect(settled.state).toBe('SUCCEEDED');
    // replicateNow during the run was refused, or ran after it: never two at once.
    if (again.errors) expect(again.errors[0]!.extensions!.code).toBe('CONFLICT');
    const status = (await policyOf(id)).status;
    expect(status.lastSyncAt).not.toBeNull();
    expect(new Date(status.nextRunAt).getTime()).toBeGreaterThan(Date.now() + 9 * 60_000);
  });

  test('a policy whose run ended without releasing it (a gateway stopped mid-run) is freed and runs again', async () => {
    const id = (await createPolicy({ targetKind: 'STORE', schedule: 'every 10 minutes', name: 'stuck' }, w.tokens.memberA)).data!.createReplicationPolicy.id;
    const ended = await t.gateway.services.operations.start({ kind: 'replication.run', groupId: w.groupA }, async () => undefined);
    await t.gateway.services.operations.settled(ended.id);
    const repo = t.gateway.dataSource.getRepository(ReplicationPolicyEntity);
    await repo.update({ id }, { runningOperationId: ended.id, nextRunAt: new Date(Date.now() - 1000) });
    expect((await policyOf(id)).status.state).toBe('RUNNING');
    const started = (await t.gateway.services.replication.runs.runDue()).filter((o) => o.targetId === id);
    expect(started).toHaveLength(1);
    expect((await t.gateway.services.operations.settled(started[0]!.id)).state).toBe('SUCCEEDED');
    expect((await policyOf(id)).status).toMatchObject({ state: 'OK', runningOperationId: null });
  });

  test('an encrypted INTERNAL replica is restored through the restore command inside the environment', async () => {
    const id = (await createPolicy({ kind: 'INTERNAL', backupCommand: ['cat', '/data/db.txt'], restoreCommand: ['tee', '/data/db.txt'], encrypted: true, targetKind: 'STORE', schedule: 'every 1 hour', name: 'dump' }, w.tokens.memberA)).data!.createReplicationPolicy.id;
    const run = await runNow(id);
    expect(run.state).toBe('SUCCEEDED');
    const exec = (command: string[]) => t.ok('mutation ($id: ID!, $c: [String!]!) { execEnvironment(id: $id, command: $c) { exitCode stdout } }', { id: env.id, c: command }, w.tokens.memberA);
    await exec(['rm', '/data/db.txt']);
    const restore = (await t.ok('mutation ($r: ID!) { restoreReplica(replicaId: $r) { id } }', { r: run.result!.replicaId }, w.tokens.memberA)).restoreReplica;
    const done = await t.gateway.services.operations.settled(restore.id);
    expect({ state: done.state, error: done.errorMessage }).toEqual({ state: 'SUCCEEDED', error: null });
    expect((await exec(['cat', '/data/db.txt'])).execEnvironment).toEqual({ exitCode: 0, stdout: 'rows v1\n' });
    const replica = (await t.ok('query ($id: ID!) { replica(id: $id) { encrypted verifiedAt } }', { id: run.result!.replicaId }, w.tokens.memberA)).replica;
    expect(replica.encrypted).toBe(true);
    expect(replica.verifiedAt).not.toBeNull();
  });

  test('system-level restore with the same identity moves the environment to another host, data intact (failover and migration)', async () => {
    const policyId = (await createPolicy({ targetKind: 'HOST', targetId: w.host2, schedule: 'every 1 hour', name: 'identity', autoFailover: true }, w.tokens.memberA)).data!.createReplicationPolicy.id;
    const svc = t.gateway.services.replication;
    expect((await svc.autoFailoverPolicies(env.id)).map((p) => p.id)).toContain(policyId);
    const progress: number[] = [];
    const replica = await svc.replicateEnvironment(env.id, { policyId, onProgress: (p) => progress.push(p.bytes) });
    expect(progress.length).toBeGreaterThan(0);
    expect((await svc.newestReplica(env.id))!.id).toBe(replica.id);
    expect((await svc.restores.defaultRestoreHost(replica))!.id).toBe(w.host2);
    // The first host is lost: its copy of the environment is gone from the engine.
    const agent = (t.gateway.services.environments as unknown as { agents: AgentLink }).agents.local!;
    await agent.destroyEnvironment({ driver: 'fake', environmentId: env.id });
    const moved = await svc.restoreReplica(replica.id, w.host2, { sameIdentity: true, start: true });
    expect(moved).toMatchObject({ id: env.id, name: 'db', hostId: w.host2, status: 'RUNNING' });
    const seen = (await t.ok('query ($id: ID!) { environment(id: $id) { id name status hostId layerId } }', { id: env.id }, w.tokens.memberA)).environment;
    const host2Layer = (await t.ok('query ($id: ID!) { host(id: $id) { layerId } }', { id: w.host2 })).host.layerId;
    expect(seen).toEqual({ id: env.id, name: 'db', status: 'RUNNING', hostId: w.host2, layerId: env.layerId });
    expect((await t.ok('query ($id: ID!) { layer(id: $id) { parentId } }', { id: env.layerId }, w.tokens.memberA)).layer.parentId).toBe(host2Layer);
    const out = (await t.ok('mutation ($id: ID!) { execEnvironment(id: $id, command: ["cat", "/data/db.txt"]) { stdout } }', { id: env.id }, w.tokens.memberA)).execEnvironment;
    expect(out.stdout).toBe('rows v1\n');
    // A second same-identity restore onto a host where it already runs fails and leaves it as it was.
    await expect(svc.restoreReplica(replica.id, w.host1, { sameIdentity: true, start: true })).rejects.toThrow();
    expect((await t.ok('query ($id: ID!) { environment(id: $id) { status hostId } }', { id: env.id }, w.tokens.memberA)).environment).toEqual({ status: 'RUNNING', hostId: w.host2 });
  });

  test('restore makes a new environment on the named host; a damaged chunk fails the restore before anything is created', async () => {
    const id = (await createPolicy({ targetKind: 'STORE', schedule: 'every 1 hour', name: 'to-restore', encrypted: true }, w.tokens.memberA)).data!.createReplicationPolicy.id;
    const replicaId = (await runNow(id)).result!.replicaId as string;
    const restore = async (name: string) => {
      const op = (await t.ok('mutation ($r: ID!, $h: ID!, $n: String) { restoreReplica(replicaId: $r, hostId: $h, name: $n) { id } }', { r: replicaId, h: w.host1, n: name }, w.tokens.memberA)).restoreReplica;
      return t.gateway.services.operations.settled(op.id);
    };
    const ok = await restore('db-restored');
    expect({ state: ok.state, error: ok.errorMessage }).toEqual({ state: 'SUCCEEDED', error: null });
    const restored = (await t.ok('query ($id: ID!) { environment(id: $id) { name status hostId } }', { id: ok.result!.environmentId }, w.tokens.memberA)).environment;
    expect(restored).toEqual({ name: 'db-restored', status: 'STOPPED', hostId: w.host1 });

    const manifestId = (await t.ok('query ($id: ID!) { replica(id: $id) { manifestId } }', { id: replicaId })).replica.manifestId;
    const manifest = await t.gateway.services.replication.store.manifest(manifestId);
    const chunk = manifest.chunks[0]!.hash;
    await corruptChunk(t.gateway.services.replication.store, chunk);
    const before = (await t.ok('{ environments(first: 100) { totalCount } }')).environments.totalCount;
    const bad = await restore('db-broken');
    expect(bad.state).toBe('FAILED');
    expect(bad.errorCode).toBe('INTEGRITY_ERROR');
    expect(bad.errorMessage).toContain(chunk);
    expect((await t.ok('{ environments(first: 100) { totalCount } }')).environments.totalCount).toBe(before);
    expect((await t.ok('{ environments(first: 100) { nodes { name } } }')).environments.nodes.map((n: { name: string }) => n.name)).not.toContain('db-broken');
  });
}

describe('replication on pglite', () => replicationSuite('pglite'));
describe('replication on pglite, the agents reached through the JSON loopback', () => replicationSuite('pglite', 'loopback'));
describeWithEngine('postgres', 'replication on postgres', () => replicationSuite('postgres'));

/**
 * Replicas live where the policy's target says (two in-process agents `a` and `b`, each with its
 * own fake driver and artifact store under its data directory): the export goes into the source
 * host's store, then only the chunks the target's store lacks are copied there. With `loopback`,
 * every call, answer and chunk crosses the JSON agent protocol.
 */
function targetStoreSuite(transport: 'direct' | 'loopback') {
  let db: TestDatabase;
  let t: TestGateway;
  let group: string;
  let site: string;
  let hostA: string;
  let hostB: string;
  let env: string;
  const storeDir = (agent: string) => join(db.dataDir, 'agents', agent, 'artifacts');
  /** A store opened afresh on an agent's directory: what is on its disk, not in a cached index. */
  const onDisk = (agent: string) => ArtifactStore.inDirectory(storeDir(agent));
  const REPLICA = 'id manifestId bytes newBytes movedBytes storeHostId chunks target { kind id }';
  const runNow = async (policyId: string) => {
    const op = await t.gateway.services.operations.settled((await t.ok('mutation ($id: ID!) { replicateNow(policyId: $id) { id } }', { id: policyId })).replicateNow.id);
    expect({ state: op.state, error: op.errorMessage }).toEqual({ state: 'SUCCEEDED', error: null });
    return (await t.ok(`query ($id: ID!) { replica(id: $id) { ${REPLICA} } }`, { id: op.result!.replicaId })).replica as { id: string; manifestId: string; bytes: number; newBytes: number; movedBytes: number; storeHostId: string | null; chunks: number };
  };
  const createPolicy = async (input: Record<string, unknown>) => (await t.ok('mutation ($i: CreateReplicationPolicyInput!) { createReplicationPolicy(input: $i) { id } }', { i: { environmentId: env, schedule: 'every 1 hour', ...input } })).createReplicationPolicy.id as string;

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db, { RSP_AGENTS: 'a,b', RSP_REPLICATION_INTERVAL_MS: '0', RSP_HEARTBEAT_MS: '200', RSP_HOST_DOWN_AFTER_MS: '5000', ...(transport === 'loopback' ? { RSP_AGENT_TRANSPORT: 'loopback' } : {}) });
    group = (await t.ok('mutation { createGroup(input: { slug: "offsite", name: "Offsite" }) { id } }')).createGroup.id;
    site = (await t.ok('mutation ($g: ID!) { createSite(input: { name: "pair", ownerGroupId: $g }) { id } }', { g: group })).createSite.id;
    const newHost = async (hostname: string, agent: string) => (await t.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: site, ownerGroupId: group, hostname, drivers: ['fake'], agent } })).createHost.id as string;
    hostA = await newHost('host-a', 'a');
    hostB = await newHost('host-b', 'b');
    const image = (await t.ok('mutation ($g: ID!) { registerImage(input: { vendorGroupId: $g, name: "fake", version: "1", technology: "fake" }) { id } }', { g: group })).registerImage.id;
    // 2 × 2 MiB of random bytes around a small file: about 64 chunks, a small change touches one or two.
    await t.upload(image, createRootfsTar({ '/a-blob': randomBytes(2 * 2 ** 20), '/etc/hostname': 'db', '/etc/note': 'first\n', '/z-blob': randomBytes(2 * 2 ** 20) }));
    const created = (await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: group, hostId: hostA, imageId: image, name: 'db' } })).createEnvironment;
    expect((await t.gateway.services.operations.settled(created.operation.id)).state).toBe('SUCCEEDED');
    env = created.environment.id;
    expect((await t.gateway.services.operations.settled((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: env })).startEnvironment.id)).state).toBe('SUCCEEDED');
  }, 180_000);
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test('a HOST-target replica is kept in the target agent\'s store; a second run after a small change moves a small fraction', async () => {
    const policy = await createPolicy({ targetKind: 'HOST', targetId: hostB, keep: 2, name: 'to-b' });
    const first = await runNow(policy);
    expect(first).toMatchObject({ storeHostId: hostB, target: { kind: 'HOST', id: hostB } });
    expect(first.movedBytes).toBeGreaterThan(4 * 2 ** 20);
    // On b's disk: the manifest and every chunk; a's store keeps the export (the base of the next run); the gateway's store has nothing of it.
    const b = onDisk('b');
    const manifest = await b.manifest(first.manifestId);
    for (const c of manifest.chunks) expect(await b.backend.has('chunk', c.hash)).toBe(true);
    expect((await b.verify(first.manifestId)).ok).toBe(true);
    expect(await onDisk('a').has(first.manifestId)).toBe(true);
    expect(await t.gateway.services.replication.store.has(first.manifestId)).toBe(false);

    expect((await t.ok('mutation ($id: ID!) { execEnvironment(id: $id, command: ["rm", "/etc/note"]) { exitCode } }', { id: env })).execEnvironment.exitCode).toBe(0);
    const second = await runNow(policy);
    expect(second.storeHostId).toBe(hostB);
    const fraction = second.movedBytes / first.movedBytes;
    expect(second.movedBytes).toBeGreaterThan(0);
    expect(fraction).toBeLessThan(0.1);
    process.stdout.write(`fake replication to host b: first run moved ${first.movedBytes} bytes, second ${second.movedBytes} (${(fraction * 100).toFixed(2)}%)\n`);

    // keep 2: the third run prunes the first from b's store and from a's, and gc removes the chunks only it had.
    const secondChunks = new Set((await b.manifest(second.manifestId)).chunks.map((c) => c.hash));
    const gone = manifest.chunks.map((c) => c.hash).filter((h) => !secondChunks.has(h));
    expect(gone.length).toBeGreaterThan(0);
    const third = await runNow(policy);
    expect(third.movedBytes).toBeLessThan(first.movedBytes / 10);
    const kept = (await t.ok('query ($p: ID!) { replicas(policyId: $p) { id } }', { p: policy })).replicas.map((r: { id: string }) => r.id);
    expect(kept.sort()).toEqual([second.id, third.id].sort());
    expect(await onDisk('b').has(first.manifestId)).toBe(false);
    expect(await onDisk('a').has(first.manifestId)).toBe(false);
    for (const h of gone) expect(await onDisk('b').backend.has('chunk', h)).toBe(false);
    expect((await onDisk('b').verify(third.manifestId)).ok).toBe(true);

    // A restore without a host goes where the replica lives and reads it from there.
    const op = await t.gateway.services.operations.settled((await t.ok('mutation ($r: ID!) { restoreReplica(replicaId: $r, name: "db-on-b") { id } }', { r: third.id })).restoreReplica.id);
    expect({ state: op.state, error: op.errorMessage }).toEqual({ state: 'SUCCEEDED', error: null });
    expect(op.result).toMatchObject({ hostId: hostB });
  });

  test('progress shows the export and the copy; a SITE target chooses another host than the source once and remembers it', async () => {
    const policy = await createPolicy({ targetKind: 'SITE', targetId: site, name: 'to-site' });
    const phases = new Set<string>();
    const replica = await t.gateway.services.replication.replicateEnvironment(env, { policyId: policy, onProgress: (p) => phases.add(p.phase) });
    expect([...phases].sort()).toEqual(['copy', 'export']);
    expect(replica.storeHostId).toBe(hostB);
    expect((await t.ok('query ($id: ID!) { replicationPolicy(id: $id) { storeHostId } }', { id: policy })).replicationPolicy.storeHostId).toBe(hostB);
    // b already has every chunk (the HOST policy's replicas): nothing new moves.
    expect(replica.movedBytes).toBe(0);
    expect(await onDisk('b').has(replica.manifestId)).toBe(true);
    const again = await runNow(policy);
    expect(again.storeHostId).toBe(hostB);
  });

  test('deleteReplica removes it from its store; deleting a policy keeps its replicas unless deleteReplicas', async () => {
    const keepPolicy = await createPolicy({ targetKind: 'HOST', targetId: hostB, name: 'kept' });
    const dropPolicy = await createPolicy({ targetKind: 'STORE', name: 'dropped' });
    const kept = await runNow(keepPolicy);
    const single = await runNow(keepPolicy);
    const dropped = await runNow(dropPolicy);
    expect(dropped.storeHostId).toBeNull();
    expect(await t.gateway.services.replication.store.has(dropped.manifestId)).toBe(true);

    expect((await t.ok('mutation ($id: ID!) { deleteReplica(id: $id) { id storeHostId } }', { id: single.id })).deleteReplica).toEqual({ id: single.id, storeHostId: hostB });
    expect(await onDisk('b').has(single.manifestId)).toBe(false);
    expect(await onDisk('a').has(single.manifestId)).toBe(false);
    expect((await t.gql('query ($id: ID!) { replica(id: $id) { id } }', { id: single.id })).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');

    await t.ok('mutation ($id: ID!) { deleteReplicationPolicy(id: $id) { id } }', { id: keepPolicy });
    expect((await t.ok('query ($id: ID!) { replica(id: $id) { id } }', { id: kept.id })).replica.id).toBe(kept.id);
    expect(await onDisk('b').has(kept.manifestId)).toBe(true);

    await t.ok('mutation ($id: ID!) { deleteReplicationPolicy(id: $id, deleteReplicas: true) { id } }', { id: dropPolicy });
    expect((await t.gql('query ($id: ID!) { replica(id: $id) { id } }', { id: dropped.id })).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(await t.gateway.services.replication.store.has(dropped.manifestId)).toBe(false);
    expect(await onDisk('a').has(dropped.manifestId)).toBe(false);
  });

  test('failover takes the newest replica it can read: not one on a DOWN host', async () => {
    const svc = t.gateway.services.replication;
    const inGateway = await svc.replicateEnvironment(env);
    expect(inGateway.storeHostId).toBeNull();
    const onB = await runNow(await createPolicy({ targetKind: 'HOST', targetId: hostB, name: 'newest-on-b' }));
    expect((await svc.newestReplica(env))!.id).toBe(onB.id);
    t.gateway.agents.disconnect('b');
    try {
      const deadline = Date.now() + 20_000;
      while ((await t.ok('query ($id: ID!) { host(id: $id) { state } }', { id: hostB })).host.state !== 'DOWN') {
        if (Date.now() > deadline) throw new Error('host b never went DOWN');
        await new Promise((r) => setTimeout(r, 100));
      }
      expect((await svc.newestReplica(env))!.id).toBe(inGateway.id);
    } finally {
      t.gateway.agents.reconnect('b');
    }
  });
}

describe('replicas in the target host\'s store (agents a and b, fake driver)', () => targetStoreSuite('direct'));
describe('replicas in the target host\'s store (agents a and b, fake driver), through the JSON loopback', () => targetStoreSuite('loopback'));
