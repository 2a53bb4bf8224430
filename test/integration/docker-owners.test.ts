import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDockerDriver, type DockerDriver } from '../../drivers/docker';
import { LABEL_OWNER } from '../../drivers/docker/labels';
import type { ImageRef } from '../../drivers/contract';
import { SYSTEM } from '../../gateway/auth/principal';
import { installationId } from '../../gateway/persistence/installation';
import { importBusyboxImage } from '../fixtures/busybox-rootfs';
import { createTestDatabase, type TestDatabase } from '../helpers/databases';
import { describeWithEngine } from '../helpers/engines';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { buildWorld } from '../helpers/scenario';

/**
 * Two RSP installations on one Docker engine: each gateway's in-process agent labels what it makes
 * with its installation's id (`rsp.owner`), and its orphan detection, listing and removal see only
 * its own containers and unlabelled ones (made before owners existed) — never the other's. A
 * managed network is shared: it goes only when no container of any owner is attached.
 */
describeWithEngine('docker', 'docker: two installations share one engine', () => {
  const dbs: TestDatabase[] = [];
  const gateways: TestGateway[] = [];
  const drivers: DockerDriver[] = [];
  const made: Array<{ driver: DockerDriver; id: string }> = [];
  let dir: string;
  let image: ImageRef;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rsp-docker-owners-'));
    for (let i = 0; i < 2; i++) {
      const db = await createTestDatabase('pglite');
      dbs.push(db);
      gateways.push(await startTestGateway(db, { RSP_DRIVERS: 'docker' }));
    }
  }, 120_000);

  afterAll(async () => {
    for (const { driver, id } of made) await driver.destroy(id).catch(() => undefined);
    if (drivers[0] && image) await drivers[0].engine.getImage(image.ref).remove().catch(() => undefined);
    for (const t of gateways) await t.close().catch(() => undefined);
    for (const db of dbs) await db.drop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }, 120_000);

  /** A driver labelling as `owner` does (as a gateway's agent would), with the busybox image. */
  const driverOf = async (owner: string | undefined): Promise<DockerDriver> => {
    const driver = createDockerDriver({ stateDir: join(dir, owner ?? 'legacy'), owner });
    drivers.push(driver);
    image ??= await importBusyboxImage(driver);
    return driver;
  };
  const create = async (driver: DockerDriver): Promise<string> => {
    const id = randomUUID();
    made.push({ driver, id });
    await driver.create({ id, image, iface: { hostname: 'owners' }, labels: {} });
    return id;
  };

  test("a gateway reports and removes as orphans its own unknown containers and unlabelled ones, never another installation's", async () => {
    const [a, b] = gateways as [TestGateway, TestGateway];
    await buildWorld(a);
    const hostB = (await buildWorld(b)).host1;
    const ownerA = await installationId(a.gateway.dataSource);
    const ownerB = await installationId(b.gateway.dataSource);
    expect(ownerA).not.toBe(ownerB);
    const ofA = await create(await driverOf(ownerA));
    const ofB = await create(await driverOf(ownerB));
    const legacy = await create(await driverOf(undefined));
    expect((await drivers[0]!.engine.getContainer(`rsp-${ofA}`).inspect()).Config.Labels[LABEL_OWNER]).toBe(ownerA);

    const names = async (t: TestGateway) => (await t.gateway.services.orphans.scan('local')).map((o) => o.name).sort();
    expect(await names(a)).toEqual([ofA, legacy].sort());
    expect(await names(b)).toEqual([ofB, legacy].sort());
    const listedByB = (await b.gateway.agents.local!.listEnvironments({ driver: 'docker' })).map((i) => i.id);
    expect(listedByB).not.toContain(ofA);

    const removed = await b.gateway.services.orphans.remove(SYSTEM, hostB);
    expect(removed.failed).toEqual([]);
    expect(removed.removed.map((o) => o.name).sort()).toEqual([ofB, legacy].sort());
    expect((await drivers[0]!.inspect(ofA)).id).toBe(ofA);
    expect(await names(a)).toEqual([ofA]);
    expect(await names(b)).toEqual([]);

    // The Docker driver's own reconciliation (destroying what is not kept) spares the other installation's too.
    expect(await drivers[1]!.reconcile([])).toEqual([]);
    expect((await drivers[0]!.inspect(ofA)).id).toBe(ofA);
  }, 120_000);

  test("a managed network both installations use stays while the other's container is attached, stopped or not, and goes with the last container", async () => {
    const [a, b] = [await driverOf(`net-a-${randomUUID().slice(0, 8)}`), await driverOf(`net-b-${randomUUID().slice(0, 8)}`)];
    const name = `rsp-owners-${randomUUID().slice(0, 8)}`;
    const third = 100 + Math.floor(Math.random() * 150);
    const on = (host: number) => ({ mode: 'bridge' as const, network: name, ipv4: `10.213.${third}.${host}/24`, gateway: `10.213.${third}.1` });
    const onNetwork = async (driver: DockerDriver, host: number) => {
      const id = randomUUID();
      made.push({ driver, id });
      await driver.create({ id, image, command: ['sleep', '600'], iface: { hostname: 'net', network: on(host) }, labels: {} });
      return id;
    };
    const ofA = await onNetwork(a, 10);
    const ofB = await onNetwork(b, 11);
    // B's container is stopped (never started): Docker would let the network go under it, and B could not start it again.
    await a.destroy(ofA);
    expect((await a.engine.getNetwork(name).inspect()).Name).toBe(name);
    await b.start(ofB);
    expect((await b.inspect(ofB)).state).toBe('running');
    await b.destroy(ofB);
    await expect(b.engine.getNetwork(name).inspect()).rejects.toMatchObject({ statusCode: 404 });
  }, 120_000);
});
