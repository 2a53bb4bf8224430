import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { describeWithEngine } from '../helpers/engines';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, GiB, World } from '../helpers/scenario';

/** The unified schema end to end through GraphQL: groups, sites, hosts, resources, shares, layers, discovery. */
function unifiedSchemaSuite(kind: 'pglite' | 'postgres') {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    t = await startTestGateway(db);
    w = await buildWorld(t, { declaredTechnologies: true });
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test('groups show labor and preferences to all, private notes to members only', async () => {
    const q = 'query ($id: ID!) { group(id: $id) { slug name contact labor { kind people hoursPerWeek } financial { kind amount unit } techHosts } }';
    const own = await t.ok(q, { id: w.groupA }, w.tokens.viewerA);
    expect(own.group).toEqual({ slug: 'alpha', name: 'Alpha collective', contact: 'alpha@example.org', labor: [{ kind: 'SYSADMIN', people: 2, hoursPerWeek: 4 }], financial: [{ kind: 'budget', amount: 300, unit: 'EUR' }], techHosts: ['docker'] });
    const other = await t.ok(q, { id: w.groupA }, w.tokens.memberB);
    expect(other.group).toMatchObject({ slug: 'alpha', contact: null, financial: null, labor: [{ kind: 'SYSADMIN', people: 2, hoursPerWeek: 4 }] });
  });

  test('resources carry SRSM-2 fields and derived inventory', async () => {
    const { host } = await t.ok('query ($id: ID!) { host(id: $id) { hostname drivers resources { type unit value total reserved allocationRatio capacity used free attributes description } } }', { id: w.host1 });
    expect(host.hostname).toBe('zaphod');
    expect(host.resources.find((r: any) => r.type === 'CPU')).toEqual({ type: 'CPU', unit: 'CORES', value: 8, total: 8, reserved: 0, allocationRatio: 4, capacity: 32, used: 0, free: 32, attributes: {}, description: 'AMD Opteron' });
    expect(host.resources.find((r: any) => r.type === 'RAM')).toMatchObject({ capacity: 30 * GiB, free: 30 * GiB, attributes: { ecc: true } });
  });

  test('shares: FULL and HALF sized from the host; more than the host is a CONFLICT that writes nothing', async () => {
    const grant = (groupId: string, kind: string) => t.gql('mutation ($i: GrantShareInput!) { grantShare(input: $i) { kind quotas cpuWeight } }', { i: { hostId: w.host1, groupId, kind } });
    const full = await grant(w.groupA, 'FULL');
    expect(full.data?.grantShare).toEqual({ kind: 'FULL', quotas: { RAM: 15 * GiB, DISK: 500 * GiB, NET_BANDWIDTH: 5e8 }, cpuWeight: 100 });
    const half = await grant(w.groupB, 'HALF');
    expect(half.data?.grantShare).toEqual({ kind: 'HALF', quotas: { RAM: 7.5 * GiB, DISK: 250 * GiB, NET_BANDWIDTH: 2.5e8 }, cpuWeight: 50 });
    const tooBig = await t.gql('mutation ($i: GrantShareInput!) { grantShare(input: $i) { id } }', { i: { hostId: w.host2, groupId: w.groupB, kind: 'CUSTOM', quotas: { RAM: 9 * GiB } } });
    expect(tooBig.errors?.[0]).toMatchObject({ extensions: { code: 'CONFLICT' }, message: expect.stringMatching(/larger than what is left of host trillian: RAM/) });
    const again = await grant(w.groupA, 'HALF');
    expect(again.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    const { shares } = await t.ok('query ($h: ID) { shares(hostId: $h) { kind groupId } }', { h: w.host1 });
    expect(shares).toEqual([{ kind: 'FULL', groupId: w.groupA }, { kind: 'HALF', groupId: w.groupB }]);
    expect((await t.ok('query ($h: ID) { shares(hostId: $h) { id } }', { h: w.host2 })).shares).toEqual([]);
  });

  test('discovery: hosts and resources by type, free amount, site, technology, attributes and class', async () => {
    const names = (conn: any) => conn.nodes.map((n: any) => n.hostname ?? `${n.type}@${n.hostId === w.host1 ? 'zaphod' : 'trillian'}`);
    expect(names((await t.ok('{ hosts(minFreeType: "RAM", minFreeAmount: 16106127360) { nodes { hostname } } }')).hosts)).toEqual(['zaphod']);
    expect(names((await t.ok('{ hosts(technology: "lxc") { totalCount nodes { hostname } } }')).hosts)).toEqual(['trillian', 'zaphod']);
    expect(names((await t.ok('{ hosts(technology: "docker") { nodes { hostname } } }')).hosts)).toEqual(['zaphod']);
    expect(names((await t.ok('query ($s: ID) { resources(type: "RAM", siteId: $s) { nodes { type hostId } } }', { s: w.site })).resources)).toEqual(['RAM@zaphod', 'RAM@trillian']);
    expect(names((await t.ok('{ resources(type: "CPU", minFree: 10) { nodes { type hostId } } }')).resources)).toEqual(['CPU@zaphod']);
    expect(names((await t.ok('{ resources(attributes: { ecc: false }) { nodes { type hostId } } }')).resources)).toEqual(['RAM@trillian']);
    const cls = await t.ok('mutation ($i: CreateResourceClassInput!) { createResourceClass(input: $i) { id name uses matchingHostIds } }', { i: { name: 'mail', uses: ['email', 'lists'], requirements: [{ type: 'RAM', unit: 'BYTES', amount: 4 * GiB }, { type: 'DISK', unit: 'BYTES', amount: 300 * GiB }] } });
    expect(cls.createResourceClass).toMatchObject({ name: 'mail', uses: ['email', 'lists'], matchingHostIds: [w.host1] });
    const byClass = await t.ok('query ($c: ID) { resources(classId: $c, type: "DISK") { totalCount nodes { type hostId } } }', { c: cls.createResourceClass.id });
    expect(byClass.resources).toEqual({ totalCount: 1, nodes: [{ type: 'DISK', hostId: w.host1 }] });
    // Explicit nulls are absent filters, not filters on null.
    expect((await t.ok('{ resources(minFree: null, type: null) { totalCount } }')).resources.totalCount).toBe(7);
    expect((await t.ok('{ hosts(minFreeType: null, minFreeAmount: null) { totalCount } }')).hosts.totalCount).toBe(2);
    const page = await t.ok('{ resources(first: 2) { totalCount pageInfo { hasNextPage endCursor } nodes { uid } } }');
    expect(page.resources.totalCount).toBe(7);
    const next = await t.ok('query ($a: String) { resources(first: 10, after: $a) { nodes { uid } } }', { a: page.resources.pageInfo.endCursor });
    expect(next.resources.nodes).toHaveLength(5);
  });

  test('offers and needs: a need that other groups cover is listed with those offers', async () => {
    await t.ok('mutation ($i: PublishOfferInput!) { publishOffer(input: $i) { id } }', { i: { groupId: w.groupA, hostId: w.host1, resourceType: 'DISK', unit: 'BYTES', amount: 100 * GiB, terms: 'mutual backups' } }, w.tokens.memberA);
    await t.ok('mutation ($i: PublishNeedInput!) { publishNeed(input: $i) { id } }', { i: { groupId: w.groupB, resourceType: 'DISK', unit: 'BYTES', amount: 50 * GiB, description: 'offsite backups' } }, w.tokens.memberB);
    await t.ok('mutation ($i: PublishNeedInput!) { publishNeed(input: $i) { id } }', { i: { groupId: w.groupB, resourceType: 'RAM', unit: 'BYTES', amount: GiB } }, w.tokens.memberB);
    const { satisfiableNeeds } = await t.ok('{ satisfiableNeeds { need { resourceType amount description } offered offers { terms } } }', {}, w.tokens.viewerA);
    expect(satisfiableNeeds).toEqual([{ need: { resourceType: 'DISK', amount: 50 * GiB, description: 'offsite backups' }, offered: 100 * GiB, offers: [{ terms: 'mutual backups' }] }]);
  });

  test('layers: a stack on the host inherits its properties, and requirements say why they fail', async () => {
    const { host } = await t.ok('query ($id: ID!) { host(id: $id) { layerId } }', { id: w.host2 });
    const create = (input: Record<string, unknown>) => t.ok('mutation ($i: CreateLayerInput!) { createLayer(input: $i) { id } }', { i: { groupId: w.groupA, ...input } }, w.tokens.memberA);
    const os = (await create({ kind: 'OS', name: 'debian', parentId: host.layerId, properties: [{ key: 'os', value: 'debian' }, { key: 'arch', value: 'arm64' }] })).createLayer.id;
    const mail = (await create({ kind: 'SERVICE', name: 'mail', parentId: os, requirements: [{ key: 'diskEncryption', op: 'EQ', values: [true] }, { key: 'arch', op: 'IN', values: ['x86_64'] }] })).createLayer.id;
    const { layer } = await t.ok('query ($id: ID!) { layer(id: $id) { effectiveProperties { key value fromLayerId } requirementCheck { satisfied unmet { requirement { key } reason } } } }', { id: mail }, w.tokens.viewerA);
    expect(layer.effectiveProperties.map((p: any) => [p.key, p.value])).toEqual([['arch', 'x86_64'], ['diskEncryption', false], ['hostname', 'trillian'], ['os', 'debian'], ['site', 'north']]);
    expect(layer.requirementCheck).toEqual({ satisfied: false, unmet: [{ requirement: { key: 'diskEncryption' }, reason: 'diskEncryption is false, needs true' }] });
    // Moving the OS layer onto the encrypted host satisfies the service.
    const { host: h1 } = await t.ok('query ($id: ID!) { host(id: $id) { layerId } }', { id: w.host1 });
    await t.ok('mutation ($i: UpdateLayerInput!) { updateLayer(input: $i) { id } }', { i: { id: os, parentId: h1.layerId } }, w.tokens.memberA);
    expect((await t.ok('query ($id: ID!) { layer(id: $id) { requirementCheck { satisfied } } }', { id: mail })).layer.requirementCheck.satisfied).toBe(true);
    // A cycle is refused and changes nothing.
    const cycle = await t.gql('mutation ($i: UpdateLayerInput!) { updateLayer(input: $i) { id } }', { i: { id: os, parentId: mail } }, w.tokens.memberA);
    expect(cycle.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' }, message: expect.stringMatching(/cycle/) });
    expect((await t.ok('query ($id: ID!) { layer(id: $id) { parentId } }', { id: os })).layer.parentId).toBe(h1.layerId);
  });

  test('images: private to the vendor group, shared with named groups, public to all', async () => {
    const reg = await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id readOnly visibility } }', { i: { vendorGroupId: w.groupA, name: 'debian', version: '12', technology: 'lxc', source: 'READY', digest: `sha256:${'a'.repeat(64)}`, sizeBytes: 1e8 } }, w.tokens.memberA);
    expect(reg.registerImage).toMatchObject({ readOnly: true, visibility: 'PRIVATE' });
    const id = reg.registerImage.id;
    expect((await t.gql('query ($id: ID!) { image(id: $id) { id } }', { id }, w.tokens.memberB)).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect((await t.ok('{ images { name } }', {}, w.tokens.memberB)).images).toEqual([]);
    await t.ok('mutation ($id: ID!, $g: [ID!]) { setImageVisibility(id: $id, visibility: SHARED, sharedWith: $g) { id } }', { id, g: [w.groupB] }, w.tokens.memberA);
    expect((await t.ok('{ images(technology: "lxc") { name version } }', {}, w.tokens.memberB)).images).toEqual([{ name: 'debian', version: '12' }]);
  });

  test('null in a partial update leaves the field alone', async () => {
    const { updateGroup } = await t.ok('mutation ($i: UpdateGroupInput!) { updateGroup(input: $i) { name description } }', { i: { id: w.groupB, name: null, description: 'still here' } });
    expect(updateGroup).toEqual({ name: 'Beta co-op', description: 'still here' });
  });

  test('bad input gets a clear code and writes nothing', async () => {
    const before = (await t.ok('{ resources { totalCount } }')).resources.totalCount;
    const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
      ['mutation ($i: CreateResourceInput!) { createResource(input: $i) { id } }', { i: { hostId: w.host2, type: 'NET_BANDWIDTH', unit: 'BYTES', total: 1 } }, 'BAD_USER_INPUT', /measured in BITS_PER_SECOND/],
      ['mutation ($i: CreateResourceInput!) { createResource(input: $i) { id } }', { i: { hostId: w.host2, type: 'GPU', unit: 'COUNT', total: -1 } }, 'BAD_USER_INPUT', /total/],
      ['mutation ($i: CreateResourceInput!) { createResource(input: $i) { id } }', { i: { hostId: w.host2, type: 'GPU', unit: 'COUNT', total: 1e308 } }, 'BAD_USER_INPUT', /total must be ≥ 0 and ≤ 9007199254740991/],
      ['mutation ($i: CreateResourceInput!) { createResource(input: $i) { id } }', { i: { hostId: w.host2, type: 'RAM', unit: 'BYTES', total: 1 } }, 'CONFLICT', /already has a RAM resource/],
      ['mutation ($i: CreateResourceInput!) { createResource(input: $i) { id } }', { i: { hostId: w.host2, type: 'ram', unit: 'BYTES', total: 1 } }, 'BAD_USER_INPUT', /UPPER_CASE/],
      ['mutation ($i: CreateGroupInput!) { createGroup(input: $i) { id } }', { i: { slug: 'alpha', name: 'dup' } }, 'CONFLICT', /slug "alpha" already exists/],
      ['mutation ($i: CreateGroupInput!) { createGroup(input: $i) { id } }', { i: { slug: '../etc', name: 'x' } }, 'BAD_USER_INPUT', /slug/],
      ['mutation ($i: CreateTokenInput!) { createToken(input: $i) { secret } }', { i: { groupId: w.groupB, name: 'x', role: 'ADMIN' } }, 'FORBIDDEN', /another group/],
    ];
    for (const [query, vars, code, message] of cases) {
      const token = code === 'FORBIDDEN' ? w.tokens.adminA : undefined;
      const res = await t.gql(query, vars, token);
      expect({ code: res.errors?.[0]?.extensions?.code, message: res.errors?.[0]?.message }).toEqual({ code, message: expect.stringMatching(message) });
    }
    expect((await t.ok('{ resources { totalCount } }')).resources.totalCount).toBe(before);
  });

  test('tokens: hashed at rest, revocable, expired or unknown ones are refused', async () => {
    const issued = await t.ok('mutation ($i: CreateTokenInput!) { createToken(input: $i) { secret token { id prefix } } }', { i: { groupId: w.groupA, name: 'script', role: 'VIEWER' } }, w.tokens.adminA);
    const { secret, token } = issued.createToken;
    const stored = await t.gateway.dataSource.query('SELECT "secretHash" FROM api_token WHERE id = $1', [token.id]);
    expect(stored[0].secretHash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(stored)).not.toContain(secret);
    expect(secret.startsWith(token.prefix)).toBe(true);
    expect((await t.ok('{ viewer { authenticated role groupId } }', {}, secret)).viewer).toEqual({ authenticated: true, role: 'VIEWER', groupId: w.groupA });
    await t.ok('mutation ($id: ID!) { revokeToken(id: $id) { revokedAt } }', { id: token.id }, w.tokens.adminA);
    const after = await t.gql('{ viewer { authenticated } }', {}, secret);
    expect(after.status).toBe(401);
    expect(after.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect((await t.gql('{ viewer { authenticated } }', {}, 'rsp_made-up')).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });
}

describe('unified schema on pglite', () => unifiedSchemaSuite('pglite'));
describeWithEngine('postgres', 'unified schema on postgres', () => unifiedSchemaSuite('postgres'));
