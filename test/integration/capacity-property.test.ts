import { createRootfsTar } from '../../drivers/fake';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { GiB } from '../helpers/scenario';

/** Steps of one random sequence. */
const STEPS = Number(process.env.CAPACITY_STEPS ?? 40);
/** The sequence's seed: CAPACITY_SEED to replay one, else a new one (printed). */
const SEED = Number(process.env.CAPACITY_SEED ?? Math.floor(Math.random() * 2 ** 31));

/** A small seeded generator (mulberry32): the same seed replays the same sequence. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Property: whatever sequence of create / copy / restore / migrate / destroy / allocate / release
 * several groups run, after each step every resource's `used` is the sum of the active claims,
 * every live environment holds exactly its limits on its own host (its allocation or one implicit
 * claim) and nothing else holds for it, no group is over its share and no host over its capacity
 * × allocation ratio. Refusals are FORBIDDEN (no share) or CONFLICT (short), never anything else.
 */
describe('capacity: random sequences keep used equal to what environments and allocations hold (PostgreSQL)', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let image: string;
  const groups: Record<string, { id: string; token: string }> = {};
  const hosts: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    t = await startTestGateway(db, { RSP_AGENTS: 'a,b,c', RSP_REPLICATION_INTERVAL_MS: '0' });
    for (const slug of ['owner', 'shared', 'small']) {
      const id = (await t.ok('mutation ($i: CreateGroupInput!) { createGroup(input: $i) { id } }', { i: { slug, name: slug } })).createGroup.id as string;
      const token = (await t.ok('mutation ($i: CreateTokenInput!) { createToken(input: $i) { secret } }', { i: { groupId: id, role: 'MEMBER', name: `${slug}-member` } })).createToken.secret as string;
      groups[slug] = { id, token };
    }
    const site = (await t.ok('mutation ($g: ID!) { createSite(input: { name: "prop", ownerGroupId: $g }) { id } }', { g: groups.owner!.id })).createSite.id;
    for (const agent of ['a', 'b', 'c']) {
      const id = (await t.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: site, ownerGroupId: groups.owner!.id, hostname: `host-${agent}`, drivers: ['fake'], agent } })).createHost.id as string;
      await t.ok('mutation ($i: CreateResourceInput!) { createResource(input: $i) { id } }', { i: { hostId: id, type: 'RAM', unit: 'BYTES', total: 8 * GiB, allocationRatio: agent === 'c' ? 1.5 : 1 } });
      hosts.push(id);
    }
    const share = (hostId: string, groupId: string, ram: number) => t.ok('mutation ($i: GrantShareInput!) { grantShare(input: $i) { id } }', { i: { hostId, groupId, kind: 'CUSTOM', quotas: { RAM: ram } } });
    await share(hosts[0]!, groups.shared!.id, 5 * GiB);
    await share(hosts[1]!, groups.shared!.id, 3 * GiB);
    await share(hosts[2]!, groups.small!.id, 2 * GiB);
    image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: groups.owner!.id, name: 'prop', version: '1', technology: 'fake', visibility: 'PUBLIC' } })).registerImage.id;
    expect((await t.upload(image, createRootfsTar({ '/etc/hostname': 'prop' }))).status).toBe(200);
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  /** Every broken invariant, as readable lines (none: all hold). */
  async function broken(): Promise<string[]> {
    const q = (sql: string) => t.gateway.dataSource.query(sql);
    const problems: string[] = [];
    for (const r of await q(`SELECT r.id, r.used, COALESCE((SELECT SUM(amount) FROM allocation_claim c WHERE c."resourceId" = r.id AND c.active), 0) AS held, (r.total - r.reserved) * r."allocationRatio" AS capacity FROM resource r`)) {
      if (Math.abs(Number(r.used) - Number(r.held)) > 1e-3) problems.push(`resource ${r.id}: used ${r.used} but its active claims hold ${r.held}`);
      if (Number(r.used) > Number(r.capacity) + 1e-3) problems.push(`resource ${r.id}: used ${r.used} over capacity × ratio ${r.capacity}`);
    }
    for (const r of await q(`SELECT c."hostId", c."groupId", c.type, SUM(c.amount) AS held, (s.quotas ->> c.type)::float8 AS quota FROM allocation_claim c JOIN host h ON h.id = c."hostId" LEFT JOIN share s ON s."hostId" = c."hostId" AND s."groupId" = c."groupId" WHERE c.active AND h."ownerGroupId" <> c."groupId" GROUP BY 1, 2, 3, s.quotas`)) {
      if (r.quota === null || Number(r.held) > Number(r.quota) + 1e-3) problems.push(`group ${r.groupId} holds ${r.held} ${r.type} on host ${r.hostId}, its share allows ${r.quota ?? 'nothing'}`);
    }
    for (const e of await q(`SELECT e.id, e.name, e.status, e."hostId", (e.limits ->> 'memoryBytes')::float8 AS memory, e."allocationId",
        (SELECT json_agg(json_build_object('host', a."hostId", 'ram', (SELECT SUM(amount) FROM allocation_claim c WHERE c."allocationId" = a.id AND c.type = 'RAM'))) FROM allocation a WHERE a.status = 'ACTIVE' AND (a."environmentId" = e.id OR a.id = e."allocationId")) AS held
        FROM environment e`)) {
      const held: Array<{ host: string; ram: number | null }> = e.held ?? [];
      if (e.status === 'DESTROYED') {
        if (held.length) problems.push(`destroyed environment ${e.name} still holds ${JSON.stringify(held)}`);
        continue;
      }
      if (held.length !== 1 || held[0]!.host !== e.hostId) problems.push(`environment ${e.name} (${e.status}) on ${e.hostId} is held by ${JSON.stringify(held)}`);
      else if (!e.allocationId && Number(held[0]!.ram ?? 0) !== Number(e.memory ?? 0)) problems.push(`environment ${e.name} holds ${held[0]!.ram} of RAM for a limit of ${e.memory}`);
    }
    for (const a of await q(`SELECT a.id FROM allocation a WHERE a.status = 'ACTIVE' AND a."environmentId" IS NOT NULL AND NOT EXISTS (SELECT 1 FROM environment e WHERE e.id = a."environmentId")`)) problems.push(`allocation ${a.id} holds for an environment that is gone`);
    for (const a of await q(`SELECT a.id FROM allocation a WHERE a.status = 'ACTIVE' AND a."replicaId" IS NOT NULL AND NOT EXISTS (SELECT 1 FROM replica r WHERE r.id = a."replicaId")`)) problems.push(`allocation ${a.id} holds for a replica that is gone`);
    return problems;
  }

  test(`${STEPS} random steps by three groups (seed ${SEED})`, async () => {
    process.stdout.write(`capacity property: seed ${SEED} (CAPACITY_SEED=${SEED} replays it)\n`);
    const rnd = random(SEED);
    const pick = <T>(items: T[]): T => items[Math.floor(rnd() * items.length)]!;
    const slugs = Object.keys(groups);
    const settled = async (id: string) => (await t.gateway.services.operations.settled(id)).state;
    const live = async (groupId: string): Promise<Array<{ id: string; hostId: string }>> =>
      (await t.gateway.dataSource.query(`SELECT id, "hostId" FROM environment WHERE "groupId" = $1 AND status IN ('CREATED', 'STOPPED', 'RUNNING') ORDER BY "createdAt", id`, [groupId])) as Array<{ id: string; hostId: string }>;
    const outcomes: Record<string, number> = {};
    let n = 0;
    for (let step = 0; step < STEPS; step++) {
      const slug = pick(slugs);
      const g = groups[slug]!;
      const host = pick(hosts);
      const memoryBytes = pick([0.5, 1, 2, 3]) * GiB;
      const envs = await live(g.id);
      const env = envs.length ? pick(envs) : undefined;
      const op = pick(['create', 'create', 'copy', 'restore', 'migrate', 'destroy', 'allocate', 'release']);
      let res: { errors?: Array<{ extensions?: { code?: string } }>; data?: any } | undefined;
      let what = `${op} by ${slug}`;
      switch (op) {
        case 'create':
          res = await t.gql('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { operation { id } } }', { i: { groupId: g.id, hostId: host, imageId: image, name: `e${n++}`, limits: { memoryBytes } } }, g.token);
          if (!res.errors) await settled(res.data.createEnvironment.operation.id);
          break;
        case 'copy':
          if (!env) continue;
          res = await t.gql('mutation ($id: ID!, $h: ID, $n: String!) { copyEnvironment(id: $id, name: $n, hostId: $h) { operation { id } } }', { id: env.id, h: host, n: `c${n++}` }, g.token);
          if (!res.errors) await settled(res.data.copyEnvironment.operation.id);
          break;
        case 'restore': {
          if (!env) continue;
          const replica = await t.gateway.services.replication.replicateEnvironment(env.id);
          res = await t.gql('mutation ($r: ID!, $h: ID, $n: String) { restoreReplica(replicaId: $r, hostId: $h, name: $n) { id } }', { r: replica.id, h: host, n: `r${n++}` }, g.token);
          if (!res.errors) what += ` → ${await settled(res.data.restoreReplica.id)}`;
          await t.gateway.services.replication.discardReplicas([replica]);
          break;
        }
        case 'migrate':
          if (!env || env.hostId === host) continue;
          res = await t.gql('mutation ($id: ID!, $h: ID) { migrateEnvironment(id: $id, hostId: $h) { id } }', { id: env.id, h: host }, g.token);
          if (!res.errors) what += ` → ${await settled(res.data.migrateEnvironment.id)}`;
          break;
        case 'destroy':
          if (!env) continue;
          res = await t.gql('mutation ($id: ID!) { destroyEnvironment(id: $id) { id } }', { id: env.id }, g.token);
          if (!res.errors) await settled(res.data.destroyEnvironment.id);
          break;
        case 'allocate':
          res = await t.gql('mutation ($r: AllocationRequestInput!) { allocate(request: $r) { id } }', { r: { groupId: g.id, mode: 'DIRECT', hostIds: [host], resources: [{ type: 'RAM', amount: memoryBytes, unit: 'BYTES' }] } }, g.token);
          break;
        case 'release': {
          const [a] = await t.gateway.dataSource.query(`SELECT id FROM allocation WHERE "groupId" = $1 AND status = 'ACTIVE' AND "environmentId" IS NULL AND "replicaId" IS NULL AND id NOT IN (SELECT "allocationId" FROM environment WHERE "allocationId" IS NOT NULL) ORDER BY "createdAt" LIMIT 1`, [g.id]);
          if (!a) continue;
          res = await t.gql('mutation ($id: ID!) { releaseAllocation(id: $id) { id } }', { id: a.id }, g.token);
          break;
        }
      }
      const code = res?.errors?.[0]?.extensions?.code ?? 'ok';
      outcomes[`${op}:${code}`] = (outcomes[`${op}:${code}`] ?? 0) + 1;
      expect({ step, what, code: ['ok', 'FORBIDDEN', 'CONFLICT'].includes(code) ? 'expected' : res?.errors }).toEqual({ step, what, code: 'expected' });
      expect({ step, what, broken: await broken() }).toEqual({ step, what, broken: [] });
    }
    process.stdout.write(`capacity property: outcomes ${JSON.stringify(outcomes)}\n`);
  }, 600_000);
});
