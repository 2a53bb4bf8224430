import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { createRootfsTar } from '../../drivers/fake';
import { agentRegistry } from '../../gateway/agent/builtin-drivers';
import { InProcessAgent } from '../../gateway/agent/in-process-agent';
import { AgentDialer } from '../../gateway/agent/remote/agent-dialer';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { until } from '../helpers/until';

const logger = pino({ level: process.env.LOG_LEVEL ?? 'silent' });

/**
 * A remote agent beats from its welcome on, but joins the agent link only once its opening calls
 * (hello, its facts, recorded) are done: until then no host of it is UP — neither one registered
 * before nor one registered meanwhile — so no work is sent where it would find no agent. Its beats
 * are answered meanwhile (its lease renewed), and once it joins its hosts are UP with its next beat.
 */
describe('a remote agent whose opening calls are not done yet', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let group: string;
  let site: string;
  const dialers: Array<{ dialer: AgentDialer; running: Promise<void> }> = [];

  const state = async (id: string) => (await t.ok('query ($id: ID!) { host(id: $id) { state } }', { id })).host.state as string;
  const newHost = async (hostname: string, agent: string) =>
    (await t.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id state } }', { i: { siteId: site, ownerGroupId: group, hostname, drivers: ['fake'], agent } })).createHost as { id: string; state: string };

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db, { RSP_HEARTBEAT_MS: '100', RSP_HOST_DOWN_AFTER_MS: '1000' });
    group = (await t.ok('mutation { createGroup(input: { slug: "ops", name: "Ops" }) { id } }')).createGroup.id;
    site = (await t.ok('mutation ($g: ID!) { createSite(input: { name: "far", ownerGroupId: $g }) { id } }', { g: group })).createSite.id;
  });
  afterAll(async () => {
    for (const d of dialers) d.dialer.stop();
    await Promise.allSettled(dialers.map((d) => d.running));
    await t?.close();
    await db?.drop();
  });

  test('its hosts stay UNKNOWN while the gateway waits for its facts, though its beats are heard and written; once it is in the link they are UP and take work', async () => {
    const early = await newHost('held-early', 'held');
    expect(early.state).toBe('UNKNOWN');

    // An agent (in this process, fake driver) whose answer to the gateway's opening `hostFacts` waits for the test.
    let release: () => void = () => undefined;
    const factsHeld = new Promise<void>((resolve) => (release = resolve));
    let factsAsked = false;
    const token = (await t.ok('mutation { createAgentJoinToken(agentId: "held") { token } }')).createAgentJoinToken.token as string;
    const dataDir = mkdtempSync(join(tmpdir(), 'rsp-held-agent-'));
    const dialer = new AgentDialer({
      gateway: t.gateway.url,
      token,
      dataDir,
      logger,
      backoff: { baseMs: 50, maxMs: 200 },
      facts: { everyMs: 0 },
      makeAgent: async (agentId, upstream) => {
        const agent = new InProcessAgent(await agentRegistry(['fake'], dataDir), dataDir, logger, agentId, join(dataDir, 'artifacts'), upstream);
        await agent.probe();
        const facts = agent.hostFacts.bind(agent);
        agent.hostFacts = async () => {
          factsAsked = true;
          await factsHeld;
          return facts();
        };
        return agent;
      },
    });
    const running = dialer.run();
    running.catch(() => undefined);
    dialers.push({ dialer, running });

    try {
      const beats = t.gateway.services.health.beats;
      /** Waits until a beat of the agent was written (its batch done): one that would have brought an UNKNOWN host UP. */
      const beatWritten = () => until('a beat of the agent written', () => beats.lastHeard('held') !== undefined && !beats.firstWrite('held'), 20_000, 10);
      await until('the gateway asking the agent for its facts', () => factsAsked, 20_000, 10);
      await beatWritten();
      expect(t.gateway.agents.get('held')).toBeUndefined();
      expect(await state(early.id)).toBe('UNKNOWN');
      expect(beats.isLive('held')).toBe(false);
      // A host registered now is UNKNOWN too (its agent heard, but not usable), and its agent's next beat written leaves it so.
      const during = await newHost('held-during', 'held');
      expect(during.state).toBe('UNKNOWN');
      await beatWritten();
      expect(t.gateway.agents.get('held')).toBeUndefined();
      expect(await state(during.id)).toBe('UNKNOWN');
      expect(await state(early.id)).toBe('UNKNOWN');

      release();
      await until('the agent in the link', () => t.gateway.agents.get('held') !== undefined, 20_000, 10);
      await until('both hosts UP', async () => (await state(early.id)) === 'UP' && (await state(during.id)) === 'UP', 20_000, 20);
      // Work sent to an UP host reaches its agent.
      const image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: group, name: 'held', version: '1', technology: 'fake' } })).registerImage.id;
      expect((await t.upload(image, createRootfsTar({ '/etc/os-release': 'ID=held\n' }))).status).toBe(200);
      const created = await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { operation { id } } }', { i: { groupId: group, hostId: during.id, imageId: image, name: 'held-web' } });
      await t.gateway.services.operations.settled(created.createEnvironment.operation.id);
      expect((await t.ok('query ($id: ID!) { operation(id: $id) { state error { code message } } }', { id: created.createEnvironment.operation.id })).operation).toEqual({ state: 'SUCCEEDED', error: null });
    } finally {
      release();
    }
  });
});
