import { randomUUID } from 'node:crypto';
import { In } from 'typeorm';
import { createRootfsTar } from '../../drivers/fake';
import { EntityStatements } from '../../gateway/persistence/entity-statements';
import { EnvironmentEntity, EnvironmentStatus, HostEntity, ImageEntity, LayerEntity } from '../../gateway/persistence/entities';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { until } from '../helpers/until';

/**
 * The hot statements written out from the entities' metadata read and write exactly what
 * TypeORM's repository and update query builder do: the same entities from the same rows, the
 * same UPDATE text and parameters.
 */
describe('EntityStatements: the same as TypeORM', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let environmentId: string;
  let hostId: string;
  let imageId: string;

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db, { RSP_METRICS_INTERVAL_MS: '0' });
    const group = (await t.ok('mutation { createGroup(input: { slug: "rows", name: "Rows" }) { id } }')).createGroup.id;
    const site = (await t.ok('mutation ($g: ID!) { createSite(input: { name: "rows", ownerGroupId: $g }) { id } }', { g: group })).createSite.id;
    hostId = (await t.ok('mutation ($s: ID!, $g: ID!) { createHost(input: { siteId: $s, ownerGroupId: $g, hostname: "rows" }) { id } }', { s: site, g: group })).createHost.id;
    imageId = (await t.ok('mutation ($g: ID!) { registerImage(input: { vendorGroupId: $g, name: "fake", version: "1", technology: "fake" }) { id } }', { g: group })).registerImage.id;
    expect((await t.upload(imageId, createRootfsTar({ '/etc/hostname': 'rows' }))).status).toBe(200);
    // A create needs the host UP: its agent's heartbeat puts it there.
    await until('the host is UP', async () => (await t.ok('query ($id: ID!) { host(id: $id) { state } }', { id: hostId })).host.state === 'UP', 60_000, 200);
    const created = (await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: group, hostId, imageId, name: 'rows', config: { A: '1' }, command: ['sleep', '1'] } })).createEnvironment;
    expect((await t.gateway.services.operations.settled(created.operation.id)).state).toBe('SUCCEEDED');
    environmentId = created.environment.id;
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test('byId reads the entity findOneBy reads (types, dates, JSON, nulls), and null for an unknown id', async () => {
    const ds = t.gateway.dataSource;
    for (const [target, id] of [[EnvironmentEntity, environmentId], [HostEntity, hostId], [ImageEntity, imageId]] as const) {
      const read = await new EntityStatements(ds, target).byId(id);
      const expected = await ds.getRepository(target).findOneBy({ id });
      expect(read).toBeInstanceOf(target);
      expect(read).toEqual(expected);
    }
    expect(await new EntityStatements(ds, HostEntity).byId('00000000-0000-0000-0000-000000000000')).toBeNull();
  });

  test('select and hydrate read two entities from one joined row', async () => {
    const ds = t.gateway.dataSource;
    const environments = new EntityStatements(ds, EnvironmentEntity);
    const hosts = new EntityStatements(ds, HostEntity);
    const [row] = await ds.query(`SELECT ${environments.select('e')}, ${hosts.select('h')} FROM ${environments.tableName} e JOIN ${hosts.tableName} h ON h.id = e."hostId" WHERE e.id = $1`, [environmentId]);
    expect(environments.hydrate(row, 'e_')).toEqual(await ds.getRepository(EnvironmentEntity).findOneBy({ id: environmentId }));
    expect(hosts.hydrate(row, 'h_')).toEqual(await ds.getRepository(HostEntity).findOneBy({ id: hostId }));
  });

  test('versionedUpdate writes the statement and parameters of the update query builder, and the same change', async () => {
    const ds = t.gateway.dataSource;
    const statements = new EntityStatements(ds, EnvironmentEntity);
    const changes: Array<Partial<EnvironmentEntity>> = [
      { status: EnvironmentStatus.STARTING },
      { status: EnvironmentStatus.RUNNING, lastError: null },
      { status: EnvironmentStatus.CREATED, imageRef: { ref: 'sha256:abc', digest: 'sha256:def' } as never, lastError: null },
      { status: EnvironmentStatus.STOPPING, intervention: { byGroupId: null, action: 'stop', reason: 'why', at: new Date(0).toISOString() } },
      { limits: { cpuQuota: 1.5, memoryBytes: 1 << 20 }, status: EnvironmentStatus.REBUILDING, intervention: undefined },
      { hostId, iface: { hostname: 'x', dns: [], network: 'none', config: { A: '1' } } },
      { drift: 'missing', status: EnvironmentStatus.FAILED, lastError: 'gone' },
    ];
    for (const change of changes) {
      for (const returning of [true, false]) {
        const qb = ds.createQueryBuilder().update(EnvironmentEntity).set(change as never).where('id = :id AND version = :version', { id: environmentId, version: 7 });
        const expected = (returning ? qb.returning('id') : qb).getQueryAndParameters();
        // Twice: the text built once is the one used again.
        expect(statements.versionedUpdate(environmentId, 7, change, returning)).toEqual(expected);
        expect(statements.versionedUpdate(environmentId, 7, change, returning)).toEqual(expected);
      }
    }
    const before = (await ds.getRepository(EnvironmentEntity).findOneBy({ id: environmentId }))!;
    expect(await ds.query(...statements.versionedUpdate(environmentId, before.version + 1, { lastError: 'stale' }, true))).toEqual([[], 0]);
    expect(await ds.query(...statements.versionedUpdate(environmentId, before.version, { lastError: 'written' }, true))).toEqual([[{ id: environmentId }], 1]);
    const after = (await ds.getRepository(EnvironmentEntity).findOneBy({ id: environmentId }))!;
    expect(after).toMatchObject({ lastError: 'written', version: before.version + 1, status: before.status });
    expect(after.updatedAt.getTime()).toBeGreaterThanOrEqual(before.updatedAt.getTime());
  });

  test('insert writes the statement and parameters of the insert query builder, and the same row and entity', async () => {
    const ds = t.gateway.dataSource;
    const source = (await ds.getRepository(EnvironmentEntity).findOneBy({ id: environmentId }))!;
    const layers = ds.getRepository(LayerEntity);
    const envs = ds.getRepository(EnvironmentEntity);
    const fields = (name: string): Partial<EnvironmentEntity> => ({ id: randomUUID(), name, groupId: source.groupId, hostId, driver: 'fake', technology: 'fake', imageId, limits: { cpuQuota: 1 }, volumes: [], iface: { hostname: name, dns: [], network: 'none', config: { A: '1' } }, command: ['sleep', '1'], allocationId: null, imageRef: null, status: EnvironmentStatus.CREATING, layerId: null });
    const layer = (name: string) => layers.create({ id: randomUUID(), kind: 'ZONE', name, groupId: source.groupId, parentId: null, properties: [{ key: 'environment', value: name, locked: false }], requirements: [] });
    for (const [repo, make, statements] of [
      [envs, (name: string) => envs.create(fields(name)), new EntityStatements(ds, EnvironmentEntity)],
      [layers, layer, new EntityStatements(ds, LayerEntity)],
    ] as const) {
      const [theirs, ours] = [make('by-typeorm'), make('written-out')] as Array<EnvironmentEntity | LayerEntity>;
      const expected = ds.createQueryBuilder().insert().into(repo.target as typeof LayerEntity).values(ours as never).returning(repo.metadata.getInsertionReturningColumns().map((c) => c.databaseName)).getQueryAndParameters();
      const insert = statements.insert(ours as never);
      expect([insert.text, insert.params]).toEqual(expected);
      await repo.insert(theirs as never);
      insert.merge((await ds.query(insert.text, insert.params))[0]);
      const differing = ['id', 'name', 'createdAt', 'updatedAt', 'hostname', 'value'];
      const same = (e: object) => JSON.parse(JSON.stringify(e, (k, v) => (differing.includes(k) ? undefined : v)));
      expect(same(ours)).toEqual(same(theirs));
      expect(Object.keys(ours).sort()).toEqual(Object.keys(theirs).sort());
      expect(same((await repo.findOneBy({ id: ours.id }))!)).toEqual(same((await repo.findOneBy({ id: theirs.id }))!));
      await repo.delete({ id: In([ours.id, theirs.id]) });
    }
  });

  test('versionedUpdate refuses a property that is not a plain column', () => {
    const statements = new EntityStatements(t.gateway.dataSource, EnvironmentEntity);
    expect(() => statements.versionedUpdate(environmentId, 1, { nothing: 1 } as never)).toThrow(/not a plain column/);
  });
});
