import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createRootfsTar } from '../../drivers/fake';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { GROUP_RECORD_LIMITS } from '../../gateway/limits/group-records';
import { LISTED_TEXT_LIMITS } from '../../gateway/limits/listed-text';
import { AlertComparison, AlertRuleEntity, ApiTokenEntity, LayerEntity, ReplicationPolicyEntity, ExchangeStatus, ImageEntity, ImageSource, NeedEntity, OfferEntity } from '../../gateway/persistence/entities';
import { collect, startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, World } from '../helpers/scenario';
import { asImageBits } from '../helpers/image-bits';

/**
 * What one group tries against another's objects, as an attacker would: each test names the way
 * in and checks that it leads nowhere, and that the refusal tells nothing a missing object would not.
 */
describe('tenancy: one group against another', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;
  let n = 0;

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db);
    w = await buildWorld(t);
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  const register = async (groupId: string, token: string, digest?: string): Promise<string> =>
    (await t.ok<{ registerImage: { id: string } }>('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: groupId, name: `img${++n}`, version: '1', technology: 'fake', ...(digest ? { digest } : {}) } }, token)).registerImage.id;
  const content = async (digest: string, token: string) => {
    const res = await fetch(`${t.gateway.url}/images/content/${digest}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
  };
  const digestOf = (bits: Buffer) => `sha256:${createHash('sha256').update(bits).digest('hex')}`;
  const createEnvironment = (imageId: string, token: string) =>
    t.gql('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } } }', { i: { groupId: w.groupA, hostId: w.host1, imageId, name: `env${++n}` } }, token);

  test("declaring another group's private image's digest gives neither its bits nor whether they are here; uploading them does", async () => {
    const secret = asImageBits(randomBytes(4096));
    const victim = await register(w.groupB, w.tokens.memberB);
    expect((await t.upload(victim, secret, w.tokens.memberB)).status).toBe(200);
    const digest = digestOf(secret);
    expect((await content(digest, w.tokens.memberB)).status).toBe(200);

    // Group A learnt the digest (a log, a listing while the image was shared…) and claims it.
    const claimed = await register(w.groupA, w.tokens.memberA, digest);
    const nowhere = await register(w.groupA, w.tokens.memberA, digestOf(randomBytes(64)));
    const stolen = await content(digest, w.tokens.memberA);
    expect(stolen.status).toBe(404);
    expect(stolen.body.equals(secret)).toBe(false);
    // The same answers as for a digest whose bits are nowhere.
    const claimedEnv = await createEnvironment(claimed, w.tokens.memberA);
    const nowhereEnv = await createEnvironment(nowhere, w.tokens.memberA);
    expect(claimedEnv.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(claimedEnv.errors?.[0]?.message).toContain('has no content yet');
    expect(nowhereEnv.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(nowhereEnv.errors?.[0]?.message).toContain('has no content yet');
    // Other bits than the declared digest's are refused as for any image, not answered "already has its content".
    const wrong = await t.upload(claimed, asImageBits(randomBytes(100)), w.tokens.memberA);
    expect(wrong.status).toBe(400);
    expect((await t.upload(nowhere, asImageBits(randomBytes(100)), w.tokens.memberA)).status).toBe(400);

    // Group B deletes its image: a digest only declared does not keep its bits.
    expect((await t.ok('mutation ($id: ID!) { deleteImage(id: $id) }', { id: victim }, w.tokens.memberB)).deleteImage).toBe(true);
    expect((await content(digest, t.adminToken)).status).toBe(404);

    // A group that holds the bits shows it by uploading them: then they are its image's.
    const proof = await t.upload(claimed, secret, w.tokens.memberA);
    expect(proof.status).toBe(200);
    expect(proof.body.digest).toBe(digest);
    const mine = await content(digest, w.tokens.memberA);
    expect(mine.status).toBe(200);
    expect(mine.body.equals(secret)).toBe(true);
    // An image it may use already is proof enough for another of its own of the same digest.
    const again = await register(w.groupA, w.tokens.memberA, digest);
    expect((await t.upload(again, secret, w.tokens.memberA)).status).toBe(409);
  });

  test("a host's machine layer is changed only by those governing the host, and another group's layer on it answers as a missing one", async () => {
    const machine = (await t.ok('query ($id: ID!) { host(id: $id) { layerId } }', { id: w.host1 })).host.layerId as string;
    const update = (input: Record<string, unknown>, token: string) => t.gql('mutation ($i: UpdateLayerInput!) { updateLayer(input: $i) { id } }', { i: { id: machine, ...input } }, token);
    const lie = [{ key: 'diskEncryption', value: true }, { key: 'arch', value: 'arm64' }];

    // A member of the owning group does not govern the host: its description (which every group's placement reads) stays.
    const byMember = await update({ properties: lie }, w.tokens.memberA);
    expect(byMember.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const props = (await t.ok('query ($id: ID!) { layer(id: $id) { properties { key value locked } } }', { id: machine })).layer.properties;
    expect(props).toEqual(expect.arrayContaining([{ key: 'arch', value: 'x86_64', locked: true }]));
    expect((await update({ requirements: [] }, w.tokens.adminA)).errors).toBeUndefined();

    // Group B, with a share on the host, stacks a private layer on it.
    await t.ok('mutation ($i: GrantShareInput!) { grantShare(input: $i) { id } }', { i: { hostId: w.host1, groupId: w.groupB, kind: 'CUSTOM', quotas: { CPU: 0.5 } } });
    const hidden = (await t.ok('mutation ($i: CreateLayerInput!) { createLayer(input: $i) { id } }', { i: { groupId: w.groupB, kind: 'OS', name: 'private', parentId: machine } }, w.tokens.memberB)).createLayer.id as string;
    const missing = '00000000-0000-4000-8000-000000000000';
    // Naming it as the machine layer's parent (a cycle) answers as a missing layer: nothing tells it is there.
    const onHidden = await update({ parentId: hidden }, w.tokens.adminA);
    const onMissing = await update({ parentId: missing }, w.tokens.adminA);
    expect(onHidden.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(onMissing.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(onHidden.errors?.[0]?.message.replace(hidden, '<id>')).toBe(onMissing.errors?.[0]?.message.replace(missing, '<id>'));
  });

  test('one group cannot grow what every group lists, or the alert evaluator reads, without end', async () => {
    const ds = t.gateway.dataSource;
    const code = (res: { errors?: Array<{ extensions?: { code?: string; details?: any } }> }) => [res.errors?.[0]?.extensions?.code, res.errors?.[0]?.extensions?.details?.reason];
    const limited = ['CONFLICT', 'GROUP_LIMIT'];
    const times = <T>(n: number, f: (i: number) => T) => Array.from({ length: n }, (_, i) => f(i));

    // Open needs (listed to all and paired with every open offer by satisfiableNeeds).
    await ds.getRepository(NeedEntity).insert(times(GROUP_RECORD_LIMITS.openNeeds, () => ({ groupId: w.groupB, resourceType: 'CPU', unit: 'CORES', amount: 1, remaining: 1, status: ExchangeStatus.OPEN, technologies: [], description: '' })));
    const need = (groupId: string, token: string) => t.gql('mutation ($i: PublishNeedInput!) { publishNeed(input: $i) { id } }', { i: { groupId, resourceType: 'CPU', unit: 'CORES', amount: 1 } }, token);
    const needed = await need(w.groupB, w.tokens.memberB);
    expect(code(needed)).toEqual(limited);
    expect(needed.errors?.[0]?.extensions?.details).toMatchObject({ groupId: w.groupB, kind: 'openNeeds', limit: GROUP_RECORD_LIMITS.openNeeds });
    expect((await need(w.groupA, w.tokens.memberA)).errors).toBeUndefined();
    // Closed ones do not count; withdrawing one makes room.
    const [oldest] = (await t.ok('query ($g: ID!) { needs(groupId: $g) { id } }', { g: w.groupB }, w.tokens.memberB)).needs;
    expect((await t.ok('mutation ($id: ID!) { withdrawNeed(id: $id) }', { id: oldest.id }, w.tokens.memberB)).withdrawNeed).toBe(true);
    expect((await need(w.groupB, w.tokens.memberB)).errors).toBeUndefined();
    expect(code(await need(w.groupB, w.tokens.memberB))).toEqual(limited);

    // Open offers.
    await ds.getRepository(OfferEntity).insert(times(GROUP_RECORD_LIMITS.openOffers, () => ({ groupId: w.groupA, hostId: w.host1, resourceType: 'CPU', unit: 'CORES', amount: 0.001, remaining: 0.001, status: ExchangeStatus.OPEN, technologies: [], terms: '' })));
    expect(code(await t.gql('mutation ($i: PublishOfferInput!) { publishOffer(input: $i) { id } }', { i: { groupId: w.groupA, hostId: w.host1, resourceType: 'CPU', unit: 'CORES', amount: 0.001 } }, w.tokens.memberA))).toEqual(limited);

    // Alert rules (each checked against every sample).
    await ds.getRepository(AlertRuleEntity).insert(times(GROUP_RECORD_LIMITS.alertRules, (i) => ({ name: `r${i}`, groupId: w.groupB, siteId: null, targetType: 'ENVIRONMENT', targetId: null, metric: 'cpu.usage', comparison: AlertComparison.ABOVE, threshold: 1, durationSeconds: 0 })) as never);
    expect(code(await t.gql('mutation ($i: CreateAlertRuleInput!) { createAlertRule(input: $i) { id } }', { i: { name: 'one more', groupId: w.groupB, targetType: 'ENVIRONMENT', metric: 'cpu.usage', threshold: 0.5 } }, w.tokens.memberB))).toEqual(limited);

    // Images (public ones are in everyone's catalog).
    await ds.getRepository(ImageEntity).insert(times(GROUP_RECORD_LIMITS.images, (i) => ({ name: 'flood', version: String(i), technology: 'fake', vendorGroupId: w.groupB, source: ImageSource.USER_SUPPLIED })) as never);
    expect(code(await t.gql('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupB, name: 'more', version: '1', technology: 'fake', visibility: 'PUBLIC' } }, w.tokens.memberB))).toEqual(limited);
    expect((await t.gql('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: 'mine', version: '1', technology: 'fake' } }, w.tokens.memberA)).errors).toBeUndefined();
  });

  test("a group's admins cannot multiply its request rates by minting tokens without end", async () => {
    const tokens = t.gateway.dataSource.getRepository(ApiTokenEntity);
    const row = (i: number, extra: Partial<ApiTokenEntity> = {}) => ({ groupId: w.groupB, name: `t${i}`, role: 'MEMBER', siteAdmin: false, secretHash: randomBytes(32).toString('hex'), prefix: `rsp_${i}`, ...extra });
    const live = (await tokens.countBy({ groupId: w.groupB })) as number;
    const past = new Date(Date.now() - 60_000);
    // Revoked and expired tokens do not count; live ones (with or without an end to come) do.
    await tokens.insert([...Array.from({ length: 5 }, (_, i) => row(1000 + i, { revokedAt: past })), ...Array.from({ length: 5 }, (_, i) => row(2000 + i, { expiresAt: past }))] as never);
    await tokens.insert(Array.from({ length: GROUP_RECORD_LIMITS.liveTokens - live - 1 }, (_, i) => row(i, i % 2 ? { expiresAt: new Date(Date.now() + 3_600_000) } : {})) as never);
    const mint = () => t.gql('mutation ($i: CreateTokenInput!) { createToken(input: $i) { token { id } } }', { i: { groupId: w.groupB, role: 'MEMBER', name: 'one more' } });
    const last = await mint();
    expect(last.errors).toBeUndefined();
    const refused = await mint();
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT', details: { reason: 'GROUP_LIMIT', groupId: w.groupB, kind: 'liveTokens', limit: GROUP_RECORD_LIMITS.liveTokens } });
    expect(await tokens.countBy({ groupId: w.groupB, name: 'one more' })).toBe(1);
    // Another group is not held back; revoking one of the group's makes room.
    expect((await t.gql('mutation ($i: CreateTokenInput!) { createToken(input: $i) { token { id } } }', { i: { groupId: w.groupA, role: 'MEMBER', name: 'a' } })).errors).toBeUndefined();
    expect((await t.gql('mutation ($id: ID!) { revokeToken(id: $id) { id } }', { id: (last.data as any).createToken.token.id })).errors).toBeUndefined();
    expect((await mint()).errors).toBeUndefined();
  });

  test('a token made through a token is revoked with it, transitively, and never outlives it', async () => {
    const mint = async (maker: string, input: Record<string, unknown>) => (await t.ok('mutation ($i: CreateTokenInput!) { createToken(input: $i) { token { id expiresAt } secret } }', { i: { groupId: w.groupA, ...input } }, maker)).createToken as { token: { id: string; expiresAt: string | null }; secret: string };
    const me = async (token: string) => (await t.gql('{ viewer { authenticated } }', {}, token)).errors?.[0]?.extensions?.code ?? 'ok';
    // An admin about to be removed mints a spare admin token, which mints another, which mints a member's.
    const leaving = await mint(w.tokens.adminA, { name: 'leaving', role: 'ADMIN' });
    const spare = await mint(leaving.secret, { name: 'spare', role: 'ADMIN' });
    const hidden = await mint(spare.secret, { name: 'hidden', role: 'MEMBER' });
    const bystander = await mint(w.tokens.adminA, { name: 'bystander', role: 'MEMBER' });
    for (const s of [leaving, spare, hidden]) expect(await me(s.secret)).toBe('ok');
    expect((await t.gql('mutation ($id: ID!) { revokeToken(id: $id) { id } }', { id: leaving.token.id }, w.tokens.adminA)).errors).toBeUndefined();
    for (const s of [leaving, spare, hidden]) expect(await me(s.secret)).toBe('UNAUTHENTICATED');
    expect(await me(bystander.secret)).toBe('ok');
    expect(await me(w.tokens.adminA)).toBe('ok');
    const listed = (await t.ok('query ($g: ID!) { tokens(groupId: $g) { id revokedAt } }', { g: w.groupA }, w.tokens.adminA)).tokens as Array<{ id: string; revokedAt: string | null }>;
    for (const s of [spare, hidden]) expect(listed.find((l) => l.id === s.token.id)?.revokedAt).toEqual(expect.any(String));

    // A token that expires cannot mint one that lives on: the new one ends when its maker does.
    const end = new Date(Date.now() + 3_600_000);
    const shortLived = await mint(w.tokens.adminA, { name: 'short', role: 'ADMIN', expiresAt: end.toISOString() });
    const forever = await mint(shortLived.secret, { name: 'forever', role: 'ADMIN' });
    const later = await mint(shortLived.secret, { name: 'later', role: 'ADMIN', expiresAt: new Date(end.getTime() + 86_400_000).toISOString() });
    expect(new Date(forever.token.expiresAt!).getTime()).toBe(end.getTime());
    expect(new Date(later.token.expiresAt!).getTime()).toBe(end.getTime());

    // Keeping what a revoked token made is for site admins rotating their own.
    const revoke = (id: string, token?: string) => t.gql('mutation ($id: ID!) { revokeToken(id: $id, keepMade: true) { id } }', { id }, token);
    const rotated = (await t.ok('mutation ($i: CreateTokenInput!) { createToken(input: $i) { token { id } secret } }', { i: { siteAdmin: true, name: 'old', role: 'ADMIN' } })).createToken as { token: { id: string }; secret: string };
    const kept = await mint(rotated.secret, { name: 'kept', role: 'ADMIN' });
    expect((await revoke(rotated.token.id, w.tokens.adminA)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await revoke(kept.token.id, kept.secret)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await revoke(rotated.token.id)).errors).toBeUndefined();
    expect(await me(rotated.secret)).toBe('UNAUTHENTICATED');
    expect(await me(kept.secret)).toBe('ok');
  });

  test('one group cannot grow its layers or replication policies (each run on its schedule) without end', async () => {
    const ds = t.gateway.dataSource;
    const times = <T>(n: number, f: (i: number) => T) => Array.from({ length: n }, (_, i) => f(i));
    const refusal = (res: { errors?: Array<{ extensions?: unknown }> }) => res.errors?.[0]?.extensions;
    // Layers the group made: its environments' ZONE layers and hosts' MACHINE layers do not count.
    const made = await ds.getRepository(LayerEntity).createQueryBuilder('l').where('l."groupId" = :g AND l.kind NOT IN (:...k)', { g: w.groupB, k: ['ZONE', 'MACHINE'] }).getCount();
    await ds.getRepository(LayerEntity).insert(times(10, (i) => ({ kind: 'ZONE', name: `zone${i}`, groupId: w.groupB })) as never);
    await ds.getRepository(LayerEntity).insert(times(GROUP_RECORD_LIMITS.layers - made - 1, (i) => ({ kind: 'PROJECT', name: `p${i}`, groupId: w.groupB })) as never);
    const layer = (groupId: string, token: string) => t.gql('mutation ($i: CreateLayerInput!) { createLayer(input: $i) { id } }', { i: { groupId, kind: 'PROJECT', name: 'one more' } }, token);
    expect((await layer(w.groupB, w.tokens.memberB)).errors).toBeUndefined();
    expect(refusal(await layer(w.groupB, w.tokens.memberB))).toMatchObject({ code: 'CONFLICT', details: { reason: 'GROUP_LIMIT', groupId: w.groupB, kind: 'layers', limit: GROUP_RECORD_LIMITS.layers } });
    expect((await layer(w.groupA, w.tokens.memberA)).errors).toBeUndefined();

    // Replication policies.
    const image = await register(w.groupA, w.tokens.memberA);
    expect((await t.upload(image, asImageBits(randomBytes(64)), w.tokens.memberA)).status).toBe(200);
    const created = await createEnvironment(image, w.tokens.memberA);
    expect(created.errors).toBeUndefined();
    const environmentId = (created.data as any).createEnvironment.environment.id as string;
    const { layerId } = await ds.query(`SELECT "layerId" FROM environment WHERE id = $1`, [environmentId]).then((rows: Array<{ layerId: string }>) => rows[0]!);
    await ds.getRepository(ReplicationPolicyEntity).insert(times(GROUP_RECORD_LIMITS.replicationPolicies, (i) => ({ name: `r${i}`, groupId: w.groupA, environmentId, layerId, targetKind: 'STORE', schedule: 'every 60 minutes', kind: 'EXTERNAL', enabled: false })) as never);
    const policy = await t.gql('mutation ($i: CreateReplicationPolicyInput!) { createReplicationPolicy(input: $i) { id } }', { i: { environmentId, targetKind: 'STORE', schedule: 'every 60 minutes' } }, w.tokens.memberA);
    expect(refusal(policy)).toMatchObject({ code: 'CONFLICT', details: { reason: 'GROUP_LIMIT', groupId: w.groupA, kind: 'replicationPolicies', limit: GROUP_RECORD_LIMITS.replicationPolicies } });
    expect(await ds.getRepository(ReplicationPolicyEntity).countBy({ groupId: w.groupA })).toBe(GROUP_RECORD_LIMITS.replicationPolicies);
  });

  test("one caller cannot bloat what every placement reads (layers) or every catalog listing carries (an image's sharedWith)", async () => {
    const code = (r: { errors?: Array<{ extensions?: Record<string, any> }> }) => r.errors?.[0]?.extensions?.code ?? 'ok';
    const layer = (input: Record<string, unknown>) => t.gql('mutation ($i: CreateLayerInput!) { createLayer(input: $i) { id } }', { i: { groupId: w.groupA, kind: 'RACK', name: `bloat${++n}`, ...input } }, w.tokens.memberA);
    const props = (count: number, chars: number) => Array.from({ length: count }, (_, i) => ({ key: `k${i}`, value: 'v'.repeat(chars) }));
    // 900 properties of 1,000 characters (~900 KB a layer, 1,000 layers a group) were taken as they came.
    expect(code(await layer({ properties: props(900, 1000) }))).toBe('BAD_USER_INPUT');
    expect(code(await layer({ properties: props(1, 100_000) }))).toBe('BAD_USER_INPUT');
    expect(code(await layer({ requirements: [{ key: 'k'.repeat(100_000), op: 'EXISTS' }] }))).toBe('BAD_USER_INPUT');
    expect(code(await layer({ requirements: [{ key: 'k', op: 'IN', values: Array.from({ length: 500 }, (_, i) => `v${i}`) }] }))).toBe('BAD_USER_INPUT');
    expect(code(await layer({ requirements: Array.from({ length: 500 }, (_, i) => ({ key: `k${i}`, op: 'EXISTS' })) }))).toBe('BAD_USER_INPUT');
    const machine = (await t.ok('query ($id: ID!) { host(id: $id) { layerId } }', { id: w.host1 })).host.layerId as string;
    expect(code(await t.gql('mutation ($i: UpdateLayerInput!) { updateLayer(input: $i) { id } }', { i: { id: machine, properties: props(900, 1000) } }))).toBe('BAD_USER_INPUT');
    // Within the bounds: taken.
    expect(code(await layer({ properties: props(100, 1000), requirements: [{ key: 'k0', op: 'IN', values: ['a', 'b'] }] }))).toBe('ok');

    const bogus = Array.from({ length: 900 }, () => '00000000-0000-0000-0000-000000000000');
    expect(code(await t.gql('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: `sw${++n}`, version: '1', technology: 'fake', visibility: 'SHARED', sharedWith: bogus } }, w.tokens.memberA))).toBe('BAD_USER_INPUT');
    const image = await register(w.groupA, w.tokens.memberA);
    expect(code(await t.gql('mutation ($id: ID!, $s: [ID!]) { setImageVisibility(id: $id, visibility: SHARED, sharedWith: $s) { id } }', { id: image, s: bogus }, w.tokens.memberA))).toBe('BAD_USER_INPUT');
    expect(code(await t.gql('mutation ($id: ID!, $s: [ID!]) { setImageVisibility(id: $id, visibility: SHARED, sharedWith: $s) { id } }', { id: image, s: [w.groupB] }, w.tokens.memberA))).toBe('ok');
  });

  test("a group's admins cannot push its environments and images onto another group by deleting it with HANDOVER", async () => {
    const pusher = (await t.ok('mutation { createGroup(input: { slug: "pusher", name: "Pusher" }) { id } }')).createGroup.id as string;
    const admin = (await t.ok('mutation ($i: CreateTokenInput!) { createToken(input: $i) { secret } }', { i: { groupId: pusher, role: 'ADMIN', name: 'pa' } })).createToken.secret as string;
    const image = await register(pusher, admin);
    const handover = (token: string) => t.gql('mutation ($id: ID!, $h: ID) { deleteGroup(id: $id, mode: HANDOVER, handoverTo: $h) { id } }', { id: pusher, h: w.groupB }, token);

    const pushed = await handover(admin);
    expect(pushed.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await t.ok('query ($id: ID!) { image(id: $id) { vendorGroupId } }', { id: image })).image.vendorGroupId).toBe(pusher);
    expect((await t.ok('query ($id: ID!) { group(id: $id) { id } }', { id: pusher })).group.id).toBe(pusher);
    // Its admins may still delete it (DESTROY), and a site admin hand it over.
    expect((await handover(t.adminToken)).errors).toBeUndefined();
  });
  test("the admins governing a host see a guest's metadata and usage, not its console output or who in its group took its snapshots", async () => {
    // A tenant group, with a share on A's host 1, runs an environment there; A's admins govern the host.
    const tenant = (await t.ok('mutation { createGroup(input: { slug: "tenant", name: "Tenant" }) { id } }')).createGroup.id as string;
    const member = (await t.ok('mutation ($i: CreateTokenInput!) { createToken(input: $i) { secret } }', { i: { groupId: tenant, role: 'MEMBER', name: 'tenant-laptop' } })).createToken.secret as string;
    await t.ok('mutation ($i: GrantShareInput!) { grantShare(input: $i) { id } }', { i: { hostId: w.host1, groupId: tenant, kind: 'CUSTOM', quotas: { CPU: 0.5 } } });
    const image = await register(tenant, member);
    expect((await t.upload(image, createRootfsTar({ '/etc/hostname': 'guest' }), member)).status).toBe(200);
    const created = (await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: tenant, hostId: w.host1, imageId: image, name: `guest${++n}` } }, member)).createEnvironment;
    await t.gateway.services.operations.settled(created.operation.id);
    const guest = created.environment.id as string;
    await t.gateway.services.operations.settled((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: guest }, member)).startEnvironment.id);
    await t.gateway.services.operations.settled((await t.ok('mutation ($e: ID!) { createSnapshot(environmentId: $e, name: "before-upgrade") { id } }', { e: guest }, member)).createSnapshot.id);
    const code = (r: { errors?: Array<{ extensions?: { code?: string } }> }) => r.errors?.[0]?.extensions?.code ?? 'ok';

    // What the governors see: the environment, its status and usage.
    expect((await t.ok('query ($id: ID!) { environment(id: $id) { status } }', { id: guest }, w.tokens.adminA)).environment.status).toBe('RUNNING');
    expect(code(await t.gql('query ($id: ID!) { environmentStats(id: $id) { cpuSeconds } }', { id: guest }, w.tokens.adminA))).toBe('ok');
    // Not what the guest writes to its console: like exec, FORBIDDEN (they know it is there).
    expect(code(await t.gql('query ($id: ID!) { environmentLogs(id: $id, tail: 5) { text } }', { id: guest }, member))).toBe('ok');
    expect(code(await t.gql('query ($id: ID!) { environmentLogs(id: $id, tail: 5) { text } }', { id: guest }, w.tokens.adminA))).toBe('FORBIDDEN');
    const follow = collect(t.ws({ authorization: `Bearer ${w.tokens.adminA}` }), 'subscription ($id: ID!) { environmentLog(environmentId: $id, tail: 5) { text } }', { id: guest }, () => true, 10_000);
    await expect(follow.done).rejects.toThrow(/FORBIDDEN/);
    // Its snapshots (disk on their host) but not the name of the token that took each.
    const snapshots = (await t.ok('query ($id: ID!) { environment(id: $id) { snapshots { name createdBy } } }', { id: guest }, w.tokens.adminA)).environment.snapshots;
    expect(snapshots).toEqual([{ name: 'before-upgrade', createdBy: `a token of group ${tenant}` }]);
    expect((await t.ok('query ($id: ID!) { environment(id: $id) { snapshots { createdBy } } }', { id: guest }, member)).environment.snapshots).toEqual([{ createdBy: 'tenant-laptop' }]);
  });
  test("a group an image is shared with sees itself in its sharedWith, not the vendor's other customers", async () => {
    const other = (await t.ok('mutation { createGroup(input: { slug: "customer", name: "Another customer" }) { id } }')).createGroup.id as string;
    const image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: `shared${++n}`, version: '1', technology: 'fake', visibility: 'SHARED', sharedWith: [w.groupB, other] } }, w.tokens.memberA)).registerImage.id as string;
    const one = async (token: string) => (await t.ok('query ($id: ID!) { image(id: $id) { sharedWith } }', { id: image }, token)).image.sharedWith;
    const listed = async (token: string) => (await t.ok('{ images { id sharedWith } }', {}, token)).images.find((i: { id: string }) => i.id === image)?.sharedWith;
    expect(await one(w.tokens.memberB)).toEqual([w.groupB]);
    expect(await listed(w.tokens.memberB)).toEqual([w.groupB]);
    const entity = await t.ok('query ($r: [_Any!]!) { _entities(representations: $r) { ... on Image { sharedWith } } }', { r: [{ __typename: 'Image', id: image }] }, w.tokens.memberB);
    expect(entity._entities).toEqual([{ sharedWith: [w.groupB] }]);
    // The vendor's members and site admins see them all.
    expect((await one(w.tokens.viewerA)).sort()).toEqual([w.groupB, other].sort());
    expect((await listed(t.adminToken)).sort()).toEqual([w.groupB, other].sort());
  });
  test("one group cannot make every group's offers and needs listings carry megabytes of technologies", async () => {
    const refusal = (r: { errors?: Array<{ message: string; extensions?: { code?: string; details?: any } }> }) => r.errors?.[0]?.extensions?.code === 'BAD_USER_INPUT' ? r.errors[0]!.extensions!.details?.field ?? r.errors[0]!.message : r.errors?.[0]?.extensions?.code ?? 'ok';
    const long = (chars: number) => 'x'.repeat(chars);
    const offer = (extra: Record<string, unknown>) => t.gql('mutation ($i: PublishOfferInput!) { publishOffer(input: $i) { id } }', { i: { groupId: w.groupA, hostId: w.host1, resourceType: 'CPU', unit: 'CORES', amount: 0.001, ...extra } }, w.tokens.memberA);
    const need = (extra: Record<string, unknown>) => t.gql('mutation ($i: PublishNeedInput!) { publishNeed(input: $i) { id } }', { i: { groupId: w.groupA, resourceType: 'CPU', unit: 'CORES', amount: 1, ...extra } }, w.tokens.memberA);
    expect(refusal(await offer({ technologies: Array.from({ length: 50_000 }, (_, i) => `t${i}`) }))).toBe('technologies');
    expect(refusal(await need({ technologies: [long(10_000)] }))).toBe('technologies[]');
    expect(refusal(await offer({ technologies: Array.from({ length: LISTED_TEXT_LIMITS.listEntries + 1 }, (_, i) => `t${i}`) }))).toBe('technologies');
    expect(refusal(await need({ description: 'two cores for a mailing list', technologies: ['docker', 'lxc'] }))).toBe('ok');
  });
});
