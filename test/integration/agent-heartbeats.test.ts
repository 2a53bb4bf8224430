import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRootfsTar } from '../../drivers/fake';
import { RSP_VERSION } from '../../gateway/version';
import type { HostAgent } from '../../gateway/agent/host-agent';
import { AGENT_PROTOCOL_VERSION } from '../../gateway/agent/protocol';
import { leaseUntil } from '../../gateway/agent/remote/agent-lease';
import { restartGraceMs } from '../../gateway/services/failure-detector';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { describeWithEngine } from '../helpers/engines';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { until } from '../helpers/until';

const OP = 'id state error { code message }';

/**
 * Hosts are UP only on the word of their agent's pushed heartbeats: UNKNOWN until the first,
 * `setHostState(UP)` refused without a live agent, DOWN after silence (one last heard before a
 * gateway started only after its restart grace), and the environments an agent self-fenced resumed only where
 * they were not failed over.
 */
describeWithEngine('postgres', 'agent-pushed heartbeats and host states', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let group: string;
  let site: string;
  const settings = { heartbeatMs: 100, downAfterMs: 600 };
  const env = { RSP_AGENTS: 'x', RSP_HEARTBEAT_MS: String(settings.heartbeatMs), RSP_HOST_DOWN_AFTER_MS: String(settings.downAfterMs) };

  const host = async (id: string) => (await t.ok('query ($id: ID!) { host(id: $id) { state lastHeartbeatAt } }', { id })).host as { state: string; lastHeartbeatAt: string | null };
  const newHost = async (hostname: string, agent: string) =>
    (await t.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id state } }', { i: { siteId: site, ownerGroupId: group, hostname, drivers: ['fake'], agent } })).createHost as { id: string; state: string };
  /** Puts a stand-in remote agent `id` in the gateway's agent link (as a remote agent joins once its opening calls are done); returns what takes it out. */
  const inLink = (id: string) => {
    const agent = { id } as HostAgent;
    t.gateway.agents.add(agent, 'remote');
    return () => t.gateway.agents.remove(id, agent);
  };
  const setState = (id: string, state: string) => t.gql('mutation ($id: ID!, $s: HostState!) { setHostState(id: $id, state: $s) { state } }', { id, s: state });

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    t = await startTestGateway(db, env);
    group = (await t.ok('mutation { createGroup(input: { slug: "ops", name: "Ops" }) { id } }')).createGroup.id;
    site = (await t.ok('mutation ($g: ID!) { createSite(input: { name: "one", ownerGroupId: $g }) { id } }', { g: group })).createSite.id;
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test('a host whose agent never connected is UNKNOWN, cannot be set UP, and is UP on its first heartbeat', async () => {
    const h = await newHost('later', 'later');
    expect(h.state).toBe('UNKNOWN');
    const refused = await setState(h.id, 'UP');
    expect(refused.errors?.[0]).toMatchObject({ message: expect.stringMatching(/agent "later" never connected/), extensions: { code: 'CONFLICT' } });
    // Not judged: never heard.
    expect(await t.gateway.services.health.detect(Date.now() + 60_000)).toEqual([]);

    // A beat of an agent not in the agent link (a remote one whose opening calls are not done): answered with its lease, the host stays UNKNOWN.
    const early = Date.now();
    const earlyAnswer = await t.gateway.services.health.receiveHeartbeat('later', { sentAt: early, fenced: [] });
    expect(earlyAnswer).toEqual({ leaseUntil: leaseUntil(early, settings), ...settings, acknowledged: [], failover: [] });
    expect(await host(h.id)).toEqual({ state: 'UNKNOWN', lastHeartbeatAt: null });

    // In the link, its next beat brings the host UP.
    const later = inLink('later');
    try {
      const sentAt = Date.now();
      const answer = await t.gateway.services.health.receiveHeartbeat('later', { sentAt, fenced: [] });
      expect(answer).toEqual({ leaseUntil: leaseUntil(sentAt, settings), ...settings, acknowledged: [], failover: [] });
      expect(answer.leaseUntil).toBeLessThan(sentAt + settings.downAfterMs);
      expect(await host(h.id)).toMatchObject({ state: 'UP', lastHeartbeatAt: expect.any(String) });
    } finally {
      later();
    }
  });

  test('a host of a connected agent is UP from its creation; its agent cut off, a new host is UNKNOWN and UP is refused until it beats again', async () => {
    expect((await newHost('x-one', 'x')).state).toBe('UP');
    const maint = await newHost('x-two', 'x');
    expect((await t.ok('mutation ($id: ID!) { setHostState(id: $id, state: MAINTENANCE) { state } }', { id: maint.id })).setHostState.state).toBe('MAINTENANCE');
    t.gateway.agents.disconnect('x');
    expect((await newHost('x-three', 'x')).state).toBe('UNKNOWN');
    const refused = await setState(maint.id, 'UP');
    expect(refused.errors?.[0]).toMatchObject({ message: expect.stringMatching(/agent "x" is not connected/), extensions: { code: 'CONFLICT', details: { agentConnected: false } } });
    t.gateway.agents.reconnect('x');
    await until('x heard again', () => t.gateway.services.health.beats.isLive('x'), 20_000, 20);
    expect((await t.ok('mutation ($id: ID!) { setHostState(id: $id, state: UP) { state } }', { id: maint.id })).setHostState.state).toBe('UP');
  });

  test("a host of this gateway's in-process agent is UP from its creation even when its beats were held back (a busy event loop): the agent lives in the gateway", async () => {
    const beats = t.gateway.services.health.beats;
    const record = beats.record;
    // x's beats are not heard meanwhile: it is not live, as after more than RSP_HOST_DOWN_AFTER_MS without a beat.
    beats.record = (agentId, at) => (agentId === 'x' ? undefined : record.call(beats, agentId, at));
    try {
      beats.forget('x');
      expect(beats.isLive('x')).toBe(false);
      expect((await newHost('x-held', 'x')).state).toBe('UP');
      // Cut off, it gets no such credit (as in the test before).
      t.gateway.agents.disconnect('x');
      expect((await newHost('x-held-off', 'x')).state).toBe('UNKNOWN');
    } finally {
      t.gateway.agents.reconnect('x');
      beats.record = record;
    }
  });

  test('after a gateway start, a host last heard before it is judged only once the restart grace is over; one heard since is judged as always', async () => {
    // A gateway started on a database of its own (its detector run at chosen times, far ahead: nothing else there to judge) stands for one restarted.
    const other = await createTestDatabase('postgres');
    const fresh = await startTestGateway(other, { ...env, RSP_AGENTS: '' });
    const health = fresh.gateway.services.health;
    await health.stop();
    const started = health.startedAt!;
    const graceEnds = started + restartGraceMs(settings);
    // The default grace covers the agents' longest wait between dials (30 s), far more than the old `heartbeat + down-after`.
    expect(graceEnds - started).toBeGreaterThan(30_000 + settings.downAfterMs);
    try {
      const g = (await fresh.ok('mutation { createGroup(input: { slug: "ops", name: "Ops" }) { id } }')).createGroup.id as string;
      const s = (await fresh.ok('mutation ($g: ID!) { createSite(input: { name: "one", ownerGroupId: $g }) { id } }', { g })).createSite.id as string;
      const hostIn = async (hostname: string, agent: string, heardAt: number) => {
        const id = (await fresh.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: s, ownerGroupId: g, hostname, drivers: ['fake'], agent } })).createHost.id as string;
        // Heard at `heardAt` by another gateway (this one's predecessor, or a replica): UP, what is written.
        await fresh.gateway.dataSource.query(`UPDATE host SET state = 'UP', "lastHeartbeatAt" = $2 WHERE id = $1`, [id, new Date(heardAt)]);
        return id;
      };
      const stateOf = async (id: string) => (await fresh.ok('query ($id: ID!) { host(id: $id) { state } }', { id })).host.state as string;
      // One last heard before the start; the other just after it: both silent from then on.
      const before = await hostIn('ghost-box', 'ghost', started - 60_000);
      const since = await hostIn('recent-box', 'recent', started + 1);
      const judged = async (now: number) => (await health.detect(now)).map((h) => h.id).filter((id) => id === before || id === since);
      expect(await judged(started + 1)).toEqual([]);
      // During the grace the one heard since the start is judged (as a replica that did not hear its agent reads what is written); the other is not.
      expect(await judged(graceEnds - 1)).toEqual([since]);
      expect(await stateOf(before)).toBe('UP');
      expect(await judged(graceEnds)).toEqual([before]);
      expect(await stateOf(before)).toBe('DOWN');
    } finally {
      await fresh.close();
      await other.drop();
    }
  });

  test('environments an agent self-fenced: resumed on its host when not failed over, left alone when they were', async () => {
    const image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: group, name: 'app', version: '1', technology: 'fake' } })).registerImage.id;
    expect((await t.upload(image, createRootfsTar({ '/etc/os-release': 'ID=app\n' }))).status).toBe(200);
    const hostId = (await newHost('x-fence', 'x')).id;
    const settle = async (id: string) => {
      await t.gateway.services.operations.settled(id);
      return (await t.ok(`query ($id: ID!) { operation(id: $id) { ${OP} } }`, { id })).operation;
    };
    const running = async (name: string) => {
      const created = await t.ok(`mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }`, { i: { groupId: group, hostId, imageId: image, name } });
      expect(await settle(created.createEnvironment.operation.id)).toMatchObject({ state: 'SUCCEEDED' });
      const id = created.createEnvironment.environment.id as string;
      expect(await settle((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id })).startEnvironment.id)).toMatchObject({ state: 'SUCCEEDED' });
      return id;
    };
    const stays = await running('stays');
    const moved = await running('moved');
    const agent = t.gateway.agents.get('x')!;
    // The agent fenced both (killed them); meanwhile `moved` was failed over to a host of another agent.
    for (const id of [stays, moved]) await agent.stopEnvironment({ driver: 'fake', environmentId: id, graceSeconds: 0 }, { operationId: 'fence' });
    const elsewhere = (await newHost('elsewhere', 'local')).id;
    await t.gateway.dataSource.query('UPDATE environment SET "hostId" = $1 WHERE id = $2', [elsewhere, moved]);
    const fenced = [stays, moved].map((id) => ({ id, driver: 'fake', at: Date.now() }));

    expect((await t.gateway.services.health.receiveHeartbeat('x', { sentAt: Date.now(), fenced })).acknowledged).toEqual([]);
    await t.gateway.services.health.settleFenced();
    const resumed = await until('the resume operation', async () => {
      const rows = (await t.gateway.dataSource.query(`SELECT id FROM operation WHERE kind = 'environment.resume' AND "targetId" = $1`, [stays])) as Array<{ id: string }>;
      return rows[0]?.id;
    }, 20_000, 50);
    expect(await settle(resumed)).toMatchObject({ state: 'SUCCEEDED' });
    expect((await t.gateway.dataSource.query(`SELECT count(*)::int AS n FROM operation WHERE kind = 'environment.resume' AND "targetId" = $1`, [moved]))[0].n).toBe(0);
    const state = async (id: string) => (await agent.inspectEnvironment({ driver: 'fake', environmentId: id }, { operationId: 'look' })).state;
    expect(await state(stays)).toBe('running');
    expect(await state(moved)).toBe('stopped');
    // The next beat acknowledges both: the agent forgets them.
    expect((await t.gateway.services.health.receiveHeartbeat('x', { sentAt: Date.now(), fenced })).acknowledged.sort()).toEqual([stays, moved].sort());
    expect(t.gateway.services.health.fencedPending('x')).toEqual([]);
  });

  test("each answer names the environments on the agent's hosts that failover would restart elsewhere: only those are self-fenced", async () => {
    const image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: group, name: 'ha', version: '1', technology: 'fake' } })).registerImage.id;
    expect((await t.upload(image, createRootfsTar({ '/etc/os-release': 'ID=ha\n' }))).status).toBe(200);
    const hostId = (await newHost('x-ha', 'x')).id;
    const target = (await newHost('ha-target', 'local')).id;
    const create = async (name: string) => {
      const created = await t.ok(`mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }`, { i: { groupId: group, hostId, imageId: image, name } });
      await t.gateway.services.operations.settled(created.createEnvironment.operation.id);
      return created.createEnvironment.environment.id as string;
    };
    const ha = await create('ha');
    const plain = await create('plain');
    const before = (await t.gateway.services.health.receiveHeartbeat('x', { sentAt: Date.now(), fenced: [] })).failover;
    expect(before).not.toContain(ha);
    await t.ok('mutation ($i: CreateReplicationPolicyInput!) { createReplicationPolicy(input: $i) { id } }', { i: { environmentId: plain, targetKind: 'HOST', targetId: target, keep: 1, schedule: 'every 60 minutes' } });
    await t.ok('mutation ($i: CreateReplicationPolicyInput!) { createReplicationPolicy(input: $i) { id } }', { i: { environmentId: ha, targetKind: 'HOST', targetId: target, keep: 1, schedule: 'every 60 minutes', autoFailover: true } });
    const after = (await t.gateway.services.health.receiveHeartbeat('x', { sentAt: Date.now(), fenced: [] })).failover;
    expect(after).toContain(ha);
    expect(after).not.toContain(plain);
    // Another agent's answer does not name them.
    expect((await t.gateway.services.health.receiveHeartbeat('later', { sentAt: Date.now(), fenced: [] })).failover).toEqual([]);
    // Answered from memory while nothing changes; an environment's status change moves the scope at once.
    expect((await t.gateway.services.health.receiveHeartbeat('x', { sentAt: Date.now(), fenced: [] })).failover).toContain(ha);
    await t.gateway.services.operations.settled((await t.ok('mutation ($id: ID!) { destroyEnvironment(id: $id) { id } }', { id: ha })).destroyEnvironment.id);
    expect((await t.gateway.services.health.receiveHeartbeat('x', { sentAt: Date.now(), fenced: [] })).failover).not.toContain(ha);
  });

  test('Host.agentConnection: NEVER, CONNECTED (with the negotiated protocol), DISCONNECTED; rows a crashed run of the gateway left open are closed at its start', async () => {
    const connection = async (id: string) => (await t.ok('query ($id: ID!) { host(id: $id) { agentConnection { agentId state version protocol connectedAt lastHeartbeatAt } } }', { id })).host.agentConnection;
    const nobody = await newHost('nobody-box', 'nobody');
    expect(await connection(nobody.id)).toEqual({ agentId: 'nobody', state: 'NEVER', version: null, protocol: null, connectedAt: null, lastHeartbeatAt: null });
    const ours = await newHost('x-conn', 'x');
    expect(await connection(ours.id)).toMatchObject({ agentId: 'x', state: 'CONNECTED', version: RSP_VERSION, protocol: AGENT_PROTOCOL_VERSION, connectedAt: expect.any(String), lastHeartbeatAt: expect.any(String) });
    t.gateway.agents.disconnect('x');
    await until('x DISCONNECTED', async () => ((await connection(ours.id)).state === 'DISCONNECTED' ? true : undefined), 20_000, 50);
    t.gateway.agents.reconnect('x');
    await until('x CONNECTED again', async () => ((await connection(ours.id)).state === 'CONNECTED' ? true : undefined), 20_000, 50);

    // A row this gateway left open in a run that crashed: corrected as the gateway starts (closeStale is its start's step).
    const crashed = await newHost('crashed-box', 'crashed');
    const gatewayId = readFileSync(join(db.dataDir, 'gateway-id'), 'utf8').trim();
    await t.gateway.dataSource.query(`INSERT INTO agent_connection ("agentId", "gatewayId", "connectedAt", version, "remoteAddress") VALUES ('crashed', $1, now() - interval '1 hour', '0.0.1', '198.51.100.7')`, [gatewayId]);
    expect((await connection(crashed.id)).state).toBe('CONNECTED');
    expect(await t.gateway.services.agentConnections.closeStale()).toBeGreaterThanOrEqual(1);
    expect(await connection(crashed.id)).toMatchObject({ state: 'DISCONNECTED', version: '0.0.1', protocol: null });
  });
});
