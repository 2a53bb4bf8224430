import { createRootfsTar } from '../../drivers/fake';
import { LABEL_AGENT } from '../../gateway/agent/environment-request';
import type { HostAgent } from '../../gateway/agent/host-agent';
import type { EnvironmentInfoData } from '../../gateway/agent/protocol';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld } from '../helpers/scenario';

/**
 * The split-brain guard on an agent's return touches only what that agent made: two replicas of
 * one installation run in-process agents on one engine with the same owner, so each lists the
 * other's environments. Agent `replica-b` (a stand-in that lists what the engine holds) comes
 * back: the environment the gateway's own agent made stays; a stale copy marked as `replica-b`'s,
 * or with no mark (made before agents marked theirs), is removed.
 */
describe('split-brain guard: only the returning agent\'s own environments', () => {
  let db: TestDatabase;
  let t: TestGateway;

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db);
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test("another replica's agent on the same engine leaves this agent's environment alone and removes its own stale copies", async () => {
    const w = await buildWorld(t);
    const image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: 'fake', version: '1', technology: 'fake' } })).registerImage.id;
    expect((await t.upload(image, createRootfsTar({ '/etc/hostname': 'x' }))).status).toBe(200);
    const make = async (name: string) => {
      const created = (await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: w.groupA, hostId: w.host1, imageId: image, name } })).createEnvironment;
      expect((await t.gateway.services.operations.settled(created.operation.id)).state).toBe('SUCCEEDED');
      return created.environment.id as string;
    };
    const ours = await make('ours');
    const staleMarked = await make('stale-marked');
    const staleUnmarked = await make('stale-unmarked');
    const local = t.gateway.agents.get(t.gateway.agents.localId)!;
    const engine = await local.listEnvironments({ driver: 'fake' });
    expect(engine.find((e) => e.id === ours)?.labels[LABEL_AGENT]).toBe(t.gateway.agents.localId);

    // What replica B's agent lists on the shared engine: `ours` as made, the stale copies as B (or an agent before marks) made them.
    const listed: EnvironmentInfoData[] = engine.map((e) =>
      e.id === staleMarked ? { ...e, labels: { ...e.labels, [LABEL_AGENT]: 'replica-b' } } : e.id === staleUnmarked ? { ...e, labels: Object.fromEntries(Object.entries(e.labels).filter(([k]) => k !== LABEL_AGENT)) } : e,
    );
    const destroyed: string[] = [];
    const replicaB = {
      id: 'replica-b',
      drivers: async () => [{ name: 'fake', available: true }],
      listEnvironments: async () => listed,
      stopEnvironment: async () => undefined,
      destroyEnvironment: async ({ environmentId }: { environmentId: string }) => void destroyed.push(environmentId),
    } as unknown as HostAgent;

    const removed = await t.gateway.services.health.guard(replicaB);
    expect(removed.sort()).toEqual([staleMarked, staleUnmarked].sort());
    expect(destroyed.sort()).toEqual([staleMarked, staleUnmarked].sort());
    expect((await local.inspectEnvironment({ driver: 'fake', environmentId: ours })).id).toBe(ours);
  });
});
