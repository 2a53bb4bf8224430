import { Client } from 'pg';
import { endAllocations } from '../../gateway/placement/claims';
import { AllocationStatus } from '../../gateway/persistence/entities';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { describeWithEngine } from '../helpers/engines';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { until } from '../helpers/until';

const GiB = 2 ** 30;

/**
 * A release gives capacity back with the resource rows locked in id order, as every claim locks
 * them (`claimImplicit`, `applyDeltas`). Before, its UPDATE locked them in the join's order, and a
 * destroy racing a create on the same host deadlocked: the destroy FAILED INTERNAL_SERVER_ERROR
 * "deadlock detected" (found by bench/soak). Shown here without a race: another session holds one
 * of the two rows, and what the blocked release already holds tells the order it locks them in.
 */
describeWithEngine('postgres', 'a release locks resource rows in id order (PostgreSQL)', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let holder: Client;
  let prober: Client;
  let group: string;
  let host: string;
  /** The host's two resources, lower id first. */
  let ids: [string, string];

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    t = await startTestGateway(db);
    holder = new Client({ connectionString: db.databaseUrl });
    prober = new Client({ connectionString: db.databaseUrl });
    await holder.connect();
    await prober.connect();
    group = (await t.ok('mutation { createGroup(input: { slug: "order", name: "Order" }) { id } }')).createGroup.id;
    const site = (await t.ok('mutation ($g: ID!) { createSite(input: { name: "order", ownerGroupId: $g }) { id } }', { g: group })).createSite.id;
    host = (await t.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: site, ownerGroupId: group, hostname: 'order', drivers: ['fake'] } })).createHost.id;
    const made: string[] = [];
    for (const [type, unit, total] of [['CPU', 'CORES', 100], ['RAM', 'BYTES', 100 * GiB]] as const) {
      made.push((await t.ok('mutation ($i: CreateResourceInput!) { createResource(input: $i) { id } }', { i: { hostId: host, type, unit, total } })).createResource.id);
    }
    ids = made.sort() as [string, string];
    // Placement takes a host once its agent's heartbeat has put it UP.
    await until('the host is UP', async () => (await t.ok('query ($id: ID!) { host(id: $id) { state } }', { id: host })).host.state === 'UP', 60_000, 200);
  }, 120_000);
  afterAll(async () => {
    await holder?.end();
    await prober?.end();
    await t?.close();
    await db?.drop();
  });

  const allocate = async () =>
    (await t.ok('mutation ($r: AllocationRequestInput!) { allocate(request: $r) { allocations { id } } }', { r: { groupId: group, mode: 'DIRECT', hostIds: [host], resources: [{ type: 'CPU', amount: 1, unit: 'CORES' }, { type: 'RAM', amount: GiB, unit: 'BYTES' }] } })).allocate.allocations[0].id as string;

  /** Whether `id`'s row can be locked now by a third session. */
  const lockable = async (id: string) => {
    await prober.query('BEGIN');
    try {
      await prober.query('SELECT id FROM resource WHERE id = $1 FOR UPDATE NOWAIT', [id]);
      return true;
    } catch (e) {
      if ((e as { code?: string }).code === '55P03') return false;
      throw e;
    } finally {
      await prober.query('ROLLBACK');
    }
  };

  /** Releases an allocation while another session holds `held`; returns whether `other` was lockable while the release waited. */
  const releaseWhileHeld = async (held: string, other: string) => {
    const allocation = await allocate();
    await holder.query('BEGIN');
    await holder.query('SELECT id FROM resource WHERE id = $1 FOR UPDATE', [held]);
    const release = t.gateway.dataSource.transaction((m) => endAllocations(m, [allocation], AllocationStatus.RELEASED, new Date()));
    await until('the release waits for the held row', async () => (await prober.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%UPDATE resource%'`)).rows[0].n === 1, 30_000, 50);
    const free = await lockable(other);
    await holder.query('COMMIT');
    expect((await release).ended).toEqual([allocation]);
    return free;
  };

  test('holding the higher id: the release waits with the lower one locked', async () => {
    expect(await releaseWhileHeld(ids[1], ids[0])).toBe(false);
  });

  test('holding the lower id: the release waits before locking the higher one', async () => {
    expect(await releaseWhileHeld(ids[0], ids[1])).toBe(true);
  });

  test('every claim given back exactly', async () => {
    expect((await t.ok('query ($h: ID) { resources(hostId: $h) { nodes { used } } }', { h: host })).resources.nodes.map((r: { used: number }) => r.used)).toEqual([0, 0]);
  });
});
