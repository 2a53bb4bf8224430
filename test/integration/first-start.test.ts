import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { SYSTEM } from '../../gateway/auth/principal';
import { BUSYBOX } from '../fixtures/busybox-rootfs';
import { claimSetup, readSetup } from '../../gateway/setup/setup-record';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { machineState } from '../helpers/machine-state';
import { until } from '../helpers/until';

const ON = { RSP_BOOTSTRAP: 'on', RSP_SITE_NAME: hostname(), RSP_LOCAL_HOST: hostname() };

/**
 * The first start of an empty database sets this machine up: an `admin` group owning a site named
 * after the machine, this machine as a host of the in-process agent with its probed technologies and
 * its resources from the agent's facts, a busybox image for each usable technology; the first
 * site-admin token works. A second start changes nothing; one cut short is completed by the next;
 * with RSP_BOOTSTRAP=off nothing is made.
 */
describe('first start sets up this machine (pglite)', () => {
  let db: TestDatabase;
  let t: TestGateway | undefined;

  beforeEach(async () => {
    db = await createTestDatabase('pglite');
  });
  afterEach(async () => {
    await t?.close();
    t = undefined;
    await db.drop();
  });

  test('a group, a site, this host with probed drivers and resources, an image; the token works; a second start is a no-op', async () => {
    t = await startTestGateway(db, ON);
    const setup = t.gateway.setup!;
    expect(setup.ran).toBe(true);
    expect(t.gateway.bootstrapToken).toMatch(/^rsp_/);
    expect(setup.drivers).toEqual([expect.objectContaining({ name: 'fake', available: true })]);
    const images = await setup.images;
    // The host is UP from the in-process agent's first beat, which may come after the set-up.
    const state = await until('the host UP', async () => {
      const read = await machineState(t!);
      return read.hosts.every((h) => h.state === 'UP') && read;
    }, 60_000);
    expect(state.groups).toEqual([expect.objectContaining({ slug: 'admin' })]);
    expect(state.sites).toEqual([{ name: hostname(), owner: 'admin' }]);
    const facts = await t.gateway.agents.get('local')!.hostFacts();
    expect(state.hosts).toEqual([
      expect.objectContaining({ hostname: hostname(), site: hostname(), owner: 'admin', state: 'UP', agent: 'local', inventoryFromFacts: true, drivers: ['fake'], factsDrivers: ['fake'] }),
    ]);
    const resources = Object.fromEntries(state.hosts[0]!.resources.map((r) => [r.type, r]));
    expect(resources.CPU).toEqual({ type: 'CPU', unit: 'CORES', total: facts.cpus, source: 'FACTS' });
    expect(resources.RAM).toEqual({ type: 'RAM', unit: 'BYTES', total: facts.memoryBytes, source: 'FACTS' });
    expect(resources.DISK?.total).toBe(facts.dataDir.sizeBytes);
    if (existsSync(BUSYBOX)) {
      expect(images.images).toEqual([expect.objectContaining({ name: 'busybox', technology: 'fake' })]);
      expect(state.images).toEqual([expect.objectContaining({ name: 'busybox', technology: 'fake', visibility: 'PUBLIC', digest: expect.stringMatching(/^sha256:/) })]);
    } else {
      process.stdout.write(`first-start: no image checked: ${BUSYBOX} is missing (${images.skipped})\n`);
    }
    expect((await readSetup(t.gateway.dataSource))?.state).toBe('DONE');
    const token = t.gateway.bootstrapToken!;
    await t.close();

    // The second start makes nothing and prints no token; the first start's token still works.
    t = await startTestGateway(db, ON);
    expect(t.gateway.setup?.ran).toBe(false);
    expect(t.gateway.bootstrapToken).toBeUndefined();
    expect(await machineState(t, token)).toEqual(state);
  });

  test('with RSP_BOOTSTRAP=off nothing is made', async () => {
    t = await startTestGateway(db, { RSP_BOOTSTRAP: 'off' });
    expect(t.gateway.setup).toBeUndefined();
    const state = await machineState(t);
    expect([state.groups, state.sites, state.hosts, state.images]).toEqual([[], [], [], []]);
    expect(await readSetup(t.gateway.dataSource)).toBeNull();
  });

  test('a set-up cut short is completed by the next start, with the names it began with', async () => {
    t = await startTestGateway(db, { RSP_BOOTSTRAP: 'off' });
    const claim = await claimSetup(t.gateway.dataSource, { group: 'ops', site: 'lab', host: 'box1', image: false });
    expect(claim.run).toBe(true);
    const token = t.adminToken;
    const group = await t.gateway.services.groups.create(SYSTEM, { slug: 'ops', name: 'ops' });
    await t.close();
    t = await startTestGateway(db, ON);
    expect(t.gateway.setup?.ran).toBe(true);
    await t.gateway.setup?.images;
    const state = await machineState(t, token);
    expect(state.groups.map((g) => g.id)).toEqual([group.id]);
    expect(state.sites).toEqual([{ name: 'lab', owner: 'ops' }]);
    expect(state.hosts.map((h) => [h.hostname, h.drivers])).toEqual([['box1', ['fake']]]);
    expect(state.images).toEqual([]);
    expect((await readSetup(t.gateway.dataSource))?.state).toBe('DONE');
  });

  test('a database already in use is not set up', async () => {
    t = await startTestGateway(db, { RSP_BOOTSTRAP: 'off' });
    const token = t.adminToken;
    await t.gateway.services.groups.create(SYSTEM, { slug: 'mine', name: 'mine' });
    await t.close();
    t = await startTestGateway(db, ON);
    expect(t.gateway.setup).toEqual(expect.objectContaining({ ran: false }));
    const state = await machineState(t, token);
    expect([state.sites, state.hosts]).toEqual([[], []]);
    expect((await readSetup(t.gateway.dataSource))?.state).toBe('SKIPPED');
  });
});
