import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createRootfsTar } from '../../drivers/fake';
import { ArtifactStore } from '../../gateway/artifacts/artifact-store';
import { corruptChunk } from '../helpers/artifacts';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { collect, startTestGateway, TestGateway } from '../helpers/gateway';

const DRILL = 'at state replicaId hostId environmentName checkedChunks checkedBytes started durationMs message';

interface Drill {
  at: string;
  state: string;
  replicaId: string | null;
  hostId: string | null;
  environmentName: string | null;
  checkedChunks: number;
  checkedBytes: number;
  started: boolean;
  durationMs: number;
  message: string | null;
}

/**
 * Restore drills: a policy's newest replica is restored into a scratch environment on a real
 * agent store (two in-process agents `a` and `b`, fake driver), every chunk checked, started and
 * removed again; the result is recorded on the policy, a failure raises an alert, and the scratch
 * environment's capacity claim is released (`used` as before).
 */
describe('restore drills (agents a and b, fake driver)', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let group: string;
  let hostA: string;
  let hostB: string;
  let env: string;
  const onDisk = (agent: string) => ArtifactStore.inDirectory(join(db.dataDir, 'agents', agent, 'artifacts'));
  const used = async (hostId: string) => {
    const { resources } = await t.ok('query ($h: ID) { resources(hostId: $h) { nodes { type used } } }', { h: hostId });
    return Object.fromEntries((resources.nodes as Array<{ type: string; used: number }>).map((r) => [r.type, r.used]));
  };
  const environmentNames = async () => ((await t.ok('{ environments { nodes { name } } }')).environments.nodes as Array<{ name: string }>).map((e) => e.name);
  const policyDrill = async (id: string) => (await t.ok(`query ($id: ID!) { replicationPolicy(id: $id) { drillSchedule nextDrillAt lastDrill { ${DRILL} } } }`, { id })).replicationPolicy as { drillSchedule: string | null; nextDrillAt: string | null; lastDrill: Drill | null };
  const runNow = async (policyId: string) => {
    const op = await t.gateway.services.operations.settled((await t.ok('mutation ($id: ID!) { replicateNow(policyId: $id) { id } }', { id: policyId })).replicateNow.id);
    expect({ state: op.state, error: op.errorMessage }).toEqual({ state: 'SUCCEEDED', error: null });
    return (await t.ok(`query ($id: ID!) { replica(id: $id) { id manifestId } }`, { id: op.result!.replicaId as string })).replica as { id: string; manifestId: string };
  };
  const drillNow = async (policyId: string) => {
    const op = await t.gateway.services.operations.settled((await t.ok('mutation ($id: ID!) { drillReplicationPolicy(policyId: $id) { id } }', { id: policyId })).drillReplicationPolicy.id);
    expect({ state: op.state, error: op.errorMessage }).toEqual({ state: 'SUCCEEDED', error: null });
    return op.result as unknown as Drill;
  };
  const createPolicy = async (input: Record<string, unknown>) =>
    (await t.ok('mutation ($i: CreateReplicationPolicyInput!) { createReplicationPolicy(input: $i) { id } }', { i: { environmentId: env, schedule: 'every 1 hour', targetKind: 'HOST', targetId: hostB, keep: 3, ...input } })).createReplicationPolicy.id as string;

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db, { RSP_AGENTS: 'a,b', RSP_REPLICATION_INTERVAL_MS: '0', RSP_HEARTBEAT_MS: '200', RSP_HOST_DOWN_AFTER_MS: '5000', RSP_REPLICA_VERIFY_BYTES_PER_SECOND: '0' });
    group = (await t.ok('mutation { createGroup(input: { slug: "drills", name: "Drills" }) { id } }')).createGroup.id;
    const site = (await t.ok('mutation ($g: ID!) { createSite(input: { name: "pair", ownerGroupId: $g }) { id } }', { g: group })).createSite.id;
    const newHost = async (hostname: string, agent: string) => (await t.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: site, ownerGroupId: group, hostname, drivers: ['fake'], agent } })).createHost.id as string;
    hostA = await newHost('host-a', 'a');
    hostB = await newHost('host-b', 'b');
    // Capacity to claim: the scratch environment claims RAM on b like any restore, replicas kept there claim DISK.
    for (const hostId of [hostA, hostB]) {
      await t.ok('mutation ($i: CreateResourceInput!) { createResource(input: $i) { id } }', { i: { hostId, type: 'RAM', unit: 'BYTES', total: 16 * 2 ** 30 } });
      await t.ok('mutation ($i: CreateResourceInput!) { createResource(input: $i) { id } }', { i: { hostId, type: 'DISK', unit: 'BYTES', total: 100 * 2 ** 30 } });
    }
    const image = (await t.ok('mutation ($g: ID!) { registerImage(input: { vendorGroupId: $g, name: "fake", version: "1", technology: "fake" }) { id } }', { g: group })).registerImage.id;
    await t.upload(image, createRootfsTar({ '/a-blob': randomBytes(2 ** 20), '/etc/hostname': 'db', '/z-blob': randomBytes(2 ** 20) }));
    const created = (await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: group, hostId: hostA, imageId: image, name: 'db', limits: { memoryBytes: 64 * 2 ** 20 } } })).createEnvironment;
    expect((await t.gateway.services.operations.settled(created.operation.id)).state).toBe('SUCCEEDED');
    env = created.environment.id;
  }, 180_000);
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test('a drill restores the newest replica into a scratch environment, checks every chunk, starts it, removes it and releases what it held', async () => {
    const policy = await createPolicy({ name: 'drilled', drillSchedule: 'every 1 hour' });
    const before = await policyDrill(policy);
    expect(before).toMatchObject({ drillSchedule: 'every 1 hour', lastDrill: null });
    expect(new Date(before.nextDrillAt!).getTime()).toBeGreaterThan(Date.now());

    const none = await drillNow(policy);
    expect(none).toMatchObject({ state: 'FAILED', replicaId: null, started: false, message: expect.stringMatching(/no replica/) });

    await runNow(policy);
    const newest = await runNow(policy);
    const heldBefore = await used(hostB);
    expect(heldBefore).toMatchObject({ RAM: 0, DISK: expect.any(Number) });
    expect(heldBefore.DISK).toBeGreaterThan(0);
    const drill = await drillNow(policy);
    expect(drill).toMatchObject({ state: 'PASSED', replicaId: newest.id, hostId: hostB, started: true, message: null });
    const manifest = await onDisk('b').manifest(newest.manifestId);
    expect(drill.checkedBytes).toBe(manifest.size);
    expect(drill.checkedChunks).toBe(manifest.chunks.length);
    expect((await policyDrill(policy)).lastDrill).toEqual(drill);
    // The scratch environment is gone, and so is what it held on the host.
    expect(await environmentNames()).not.toContain(drill.environmentName);
    expect(await used(hostB)).toEqual(heldBefore);
  }, 180_000);

  test('a replica damaged beyond repair fails its drill: recorded with the reason, an alert fires, nothing is left behind', async () => {
    const policy = await createPolicy({ name: 'broken' });
    const r = await runNow(policy);
    const m = await onDisk('b').manifest(r.manifestId);
    const victim = m.chunks[Math.floor(m.chunks.length / 2)]!.hash;
    const alerts = collect<{ events: { kind: string; alert: { metric: string; targetId: string; message: string } | null } }>(t.ws(), 'subscription { events { kind alert { metric targetId message } } }', {}, (e) => e.events.kind === 'ALERT' && e.events.alert?.metric === 'restoreDrillFailed', 60_000);
    await alerts.ready;
    const heldBefore = await used(hostB);
    const namesBefore = await environmentNames();
    await corruptChunk(onDisk('b'), victim);
    const drill = await drillNow(policy);
    expect(drill).toMatchObject({ state: 'FAILED', replicaId: r.id, started: false, environmentName: expect.stringMatching(/^db-drill-/), message: expect.stringContaining(victim) });
    expect((await policyDrill(policy)).lastDrill).toEqual(drill);
    const fired = (await alerts.done).at(-1)!.events.alert!;
    expect(fired).toMatchObject({ targetId: env, message: expect.stringContaining(r.id) });
    expect(await environmentNames()).toEqual(namesBefore);
    expect(await used(hostB)).toEqual(heldBefore);
  }, 180_000);

  test('scheduled drills run when due, once per slot; an INTERNAL policy cannot drill; a drill schedule is checked like a schedule', async () => {
    const policy = await createPolicy({ name: 'scheduled', drillSchedule: 'every 2 hours' });
    await runNow(policy);
    const drills = t.gateway.services.replication.drills;
    const later = new Date(Date.now() + 3 * 3_600_000);
    const [first, ...others] = (await drills.runDue(later)).filter((d) => d.replicaId !== null && d.state === 'PASSED');
    expect(first).toBeDefined();
    const after = await policyDrill(policy);
    expect(after.lastDrill).toMatchObject({ state: 'PASSED' });
    expect(new Date(after.nextDrillAt!).getTime()).toBeGreaterThan(later.getTime());
    expect(others.filter((d) => d.replicaId === first!.replicaId)).toEqual([]);
    // The slot is taken: running the same moment again drills nothing of this policy.
    expect((await drills.runDue(later)).some((d) => d.replicaId === first!.replicaId)).toBe(false);

    const internal = await t.gql('mutation ($i: CreateReplicationPolicyInput!) { createReplicationPolicy(input: $i) { id } }', { i: { environmentId: env, schedule: 'every 1 hour', targetKind: 'STORE', kind: 'INTERNAL', backupCommand: ['cat', '/etc/hostname'], drillSchedule: 'every 1 hour' } });
    expect(internal.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const tooOften = await t.gql('mutation ($id: ID!) { updateReplicationPolicy(id: $id, input: { drillSchedule: "every 1 minute" }) { id } }', { id: policy });
    expect(tooOften.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const off = await t.ok('mutation ($id: ID!) { updateReplicationPolicy(id: $id, input: { drillSchedule: "" }) { drillSchedule nextDrillAt } }', { id: policy });
    expect(off.updateReplicationPolicy).toEqual({ drillSchedule: null, nextDrillAt: null });
  }, 180_000);
});
