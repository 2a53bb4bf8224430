import { createRootfsTar } from '../../drivers/fake';
import { createTestDatabase, DATABASE_KINDS, TestDatabase } from '../helpers/databases';
import { collect, startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, GiB, World } from '../helpers/scenario';

const OFFER = 'id remaining status';
const NEED = 'id remaining status';
const EXCHANGE = `hostId amount share { id groupId kind quotas } offer { ${OFFER} } need { ${NEED} }`;
const PUBLISH_OFFER = `mutation ($i: PublishOfferInput!) { publishOffer(input: $i) { ${OFFER} } }`;
const PUBLISH_NEED = `mutation ($i: PublishNeedInput!) { publishNeed(input: $i) { ${NEED} } }`;
const ACCEPT = `mutation ($i: AcceptOfferInput!) { acceptOffer(input: $i) { ${EXCHANGE} } }`;
const GRANT = `mutation ($i: GrantNeedInput!) { grantNeed(input: $i) { ${EXCHANGE} } }`;
const CREATE = 'mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }';

/** An exchange event as the `events` subscription delivers it. */
interface ExchangeSeen {
  events: { kind: string; groupId: string; exchange: { change: string; shareId: string; hostId: string; fromGroupId: string; toGroupId: string; offerId: string | null; needId: string | null; amount: number } | null };
}

/**
 * The seed's exchange, end to end: group alpha owns the hosts and offers RAM on them; group beta
 * needs it. Offers are checked against their host's room and technologies, needs match only
 * offers that can cover them, and accepting an offer or granting a need makes beta a share of
 * the host (in one transaction, both groups told) in which beta then runs an environment.
 */
describe('the exchange: offers, needs and the shares they become', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;
  let image: string;
  let adminB: string;
  let adminC: string;
  let groupC: string;

  /** A new host of alpha running the fake driver (the gateway's own agent) with `ram` of RAM. */
  const newHost = async (hostname: string, ram: number) => {
    const id = (await t.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: w.site, ownerGroupId: w.groupA, hostname, drivers: ['fake'] } })).createHost.id as string;
    await t.ok('mutation ($i: CreateResourceInput!) { createResource(input: $i) { id } }', { i: { hostId: id, type: 'RAM', unit: 'BYTES', total: ram } });
    return id;
  };
  const offer = (hostId: string, amount: number, extra: Record<string, unknown> = {}, as = w.tokens.memberA) =>
    t.gql(PUBLISH_OFFER, { i: { groupId: w.groupA, hostId, resourceType: 'RAM', unit: 'BYTES', amount, ...extra } }, as);
  const need = async (amount: number, technologies: string[]) => (await t.ok(PUBLISH_NEED, { i: { groupId: w.groupB, resourceType: 'RAM', unit: 'BYTES', amount, technologies } }, w.tokens.memberB)).publishNeed.id as string;
  const sharesOn = async (hostId: string) => (await t.ok('query ($h: ID) { shares(hostId: $h) { groupId kind quotas } }', { h: hostId })).shares;
  const offerNow = async (id: string) => (await t.ok(`query { offers { ${OFFER} } }`)).offers.find((o: { id: string }) => o.id === id);
  const needNow = async (id: string) => (await t.ok(`query { needs { ${NEED} } }`)).needs.find((n: { id: string }) => n.id === id);
  const settle = async (id: string) => (await t.gateway.services.operations.settled(id)).state;

  beforeAll(async () => {
    db = await createTestDatabase(DATABASE_KINDS.includes('postgres') ? 'postgres' : 'pglite');
    t = await startTestGateway(db);
    w = await buildWorld(t);
    const token = async (groupId: string) => (await t.ok('mutation ($i: CreateTokenInput!) { createToken(input: $i) { secret } }', { i: { groupId, role: 'ADMIN', name: 'admin' } })).createToken.secret as string;
    adminB = await token(w.groupB);
    groupC = (await t.ok('mutation ($i: CreateGroupInput!) { createGroup(input: $i) { id } }', { i: { slug: 'gamma', name: 'Gamma' } })).createGroup.id;
    adminC = await token(groupC);
    image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupB, name: 'app', version: '1', technology: 'fake' } }, w.tokens.memberB)).registerImage.id;
    expect((await t.upload(image, createRootfsTar({ '/etc/os-release': 'ID=app\n' }))).status).toBe(200);
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test("an offer is refused beyond its host's capacity, beyond what is left of it, or for a technology the host does not run", async () => {
    const host = await newHost('arthur', 8 * GiB);
    const huge = await offer(host, 400 * GiB);
    expect(huge.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' }, message: 'Host arthur has 8 GiB of RAM in all: 400 GiB wanted' });
    const lxc = await offer(host, GiB, { technologies: ['lxc'] });
    expect(lxc.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' }, message: 'Host arthur does not run lxc: it runs fake' });
    const cpu = await t.gql(PUBLISH_OFFER, { i: { groupId: w.groupA, hostId: host, resourceType: 'CPU', unit: 'CORES', amount: 1 } }, w.tokens.memberA);
    expect(cpu.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' }, message: 'Host arthur has no CPU resource' });
    const first = await offer(host, 6 * GiB, { technologies: ['fake'] });
    expect(first.data?.publishOffer).toMatchObject({ remaining: 6 * GiB, status: 'OPEN' });
    const second = await offer(host, 4 * GiB);
    expect(second.errors?.[0]).toMatchObject({
      extensions: { code: 'CONFLICT' },
      message: 'Host arthur: RAM is short: 4 GiB wanted, 2 GiB of 8 GiB left (0 B shared, 6 GiB promised in open offers)',
    });
    // Only the owner group offers its host.
    expect((await offer(host, GiB, { groupId: w.groupB }, w.tokens.memberB)).errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect((await offer(host, GiB, {}, w.tokens.memberB)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await t.ok('query ($g: ID) { offers(groupId: $g) { hostId amount } }', { g: w.groupA })).offers.filter((o: { hostId: string }) => o.hostId === host)).toEqual([{ hostId: host, amount: 6 * GiB }]);
    expect(await t.ok('mutation ($id: ID!) { withdrawOffer(id: $id) }', { id: first.data!.publishOffer.id }, w.tokens.memberA)).toEqual({ withdrawOffer: true });
  });

  test('a need matches only offers whose host runs a technology it accepts and has the amount', async () => {
    const host = await newHost('ford', 8 * GiB);
    const o = (await offer(host, 4 * GiB)).data!.publishOffer.id as string;
    const fits = await need(2 * GiB, ['lxc', 'fake']);
    const wrongTechnology = await need(2 * GiB, ['lxc']);
    const tooBig = await need(6 * GiB, []);
    const matched = (await t.ok('{ satisfiableNeeds { need { id } offers { id } offered } }', {}, w.tokens.viewerA)).satisfiableNeeds as Array<{ need: { id: string }; offers: Array<{ id: string }>; offered: number }>;
    const byNeed = new Map(matched.map((s) => [s.need.id, s]));
    expect(byNeed.get(fits)).toEqual({ need: { id: fits }, offers: [{ id: o }], offered: 4 * GiB });
    expect(byNeed.has(wrongTechnology)).toBe(false);
    expect(byNeed.has(tooBig)).toBe(false);
    for (const id of [fits, wrongTechnology, tooBig]) await t.ok('mutation ($id: ID!) { withdrawNeed(id: $id) }', { id }, w.tokens.memberB);
    await t.ok('mutation ($id: ID!) { withdrawOffer(id: $id) }', { id: o }, w.tokens.memberA);
  });

  test('offer → accept → share → an environment of the receiving group on that host, within the share; both groups are told', async () => {
    const host = await newHost('marvin', 8 * GiB);
    const o = (await offer(host, 4 * GiB, { technologies: ['fake'], terms: 'friends' })).data!.publishOffer.id as string;
    const n = await need(2 * GiB, ['fake']);
    const seen = (token: string) => collect<ExchangeSeen>(t.ws({ authorization: `Bearer ${token}` }), 'subscription { events { kind groupId exchange { change shareId hostId fromGroupId toGroupId offerId needId amount } } }', {}, (e) => e.events.kind === 'EXCHANGE', 20_000);
    const [byA, byB] = [seen(w.tokens.viewerA), seen(w.tokens.memberB)];
    await Promise.all([byA.ready, byB.ready]);

    // Only an admin of the need's group accepts for it.
    for (const token of [w.tokens.memberB, w.tokens.adminA, adminC]) {
      expect((await t.gql(ACCEPT, { i: { offerId: o, needId: n } }, token)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    }
    expect((await t.gql(ACCEPT, { i: { offerId: o } }, w.tokens.adminA)).errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' }, message: 'A group cannot accept its own offer' });
    expect((await t.gql(ACCEPT, { i: { offerId: '00000000-0000-4000-8000-000000000000', needId: n } }, adminB)).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(await sharesOn(host)).toEqual([]);

    const accepted = (await t.ok(ACCEPT, { i: { offerId: o, needId: n } }, adminB)).acceptOffer;
    expect(accepted).toMatchObject({ hostId: host, amount: 2 * GiB, share: { groupId: w.groupB, kind: 'CUSTOM', quotas: { RAM: 2 * GiB } }, offer: { id: o, remaining: 2 * GiB, status: 'OPEN' }, need: { id: n, remaining: 0, status: 'CLOSED' } });
    const expected = { change: 'OFFER_ACCEPTED', shareId: accepted.share.id, hostId: host, fromGroupId: w.groupA, toGroupId: w.groupB, offerId: o, needId: n, amount: 2 * GiB };
    expect((await byA.done).at(-1)!.events).toEqual({ kind: 'EXCHANGE', groupId: w.groupA, exchange: expected });
    expect((await byB.done).at(-1)!.events).toEqual({ kind: 'EXCHANGE', groupId: w.groupB, exchange: expected });

    // Beta runs an environment there, within its share and not beyond it.
    const made = (await t.ok(CREATE, { i: { groupId: w.groupB, hostId: host, imageId: image, name: 'b-app', limits: { memoryBytes: 2 * GiB } } }, w.tokens.memberB)).createEnvironment;
    expect(await settle(made.operation.id)).toBe('SUCCEEDED');
    expect((await t.ok('query ($id: ID!) { environment(id: $id) { hostId groupId } }', { id: made.environment.id }, w.tokens.memberB)).environment).toEqual({ hostId: host, groupId: w.groupB });
    const over = await t.gql(CREATE, { i: { groupId: w.groupB, hostId: host, imageId: image, name: 'b-more', limits: { memoryBytes: GiB } } }, w.tokens.memberB);
    expect(over.errors?.[0]).toMatchObject({ extensions: { code: 'CONFLICT' }, message: expect.stringMatching(/RAM is short in group beta's share/) });

    // Accepting the rest (no need named) enlarges the share and closes the offer; nothing is left to accept.
    const rest = (await t.ok(ACCEPT, { i: { offerId: o } }, adminB)).acceptOffer;
    expect(rest).toMatchObject({ amount: 2 * GiB, share: { id: accepted.share.id, quotas: { RAM: 4 * GiB } }, offer: { remaining: 0, status: 'CLOSED' }, need: null });
    expect((await t.gql(ACCEPT, { i: { offerId: o } }, adminB)).errors?.[0]).toMatchObject({ extensions: { code: 'CONFLICT' }, message: `Offer ${o} is CLOSED: nothing of it is left` });
    const more = (await t.ok(CREATE, { i: { groupId: w.groupB, hostId: host, imageId: image, name: 'b-more', limits: { memoryBytes: GiB } } }, w.tokens.memberB)).createEnvironment;
    expect(await settle(more.operation.id)).toBe('SUCCEEDED');
  });

  test('refused acceptances write nothing: a technology the host does not run, more than the offer, a host filled meanwhile', async () => {
    const host = await newHost('zarniwoop', 8 * GiB);
    const o = (await offer(host, 4 * GiB)).data!.publishOffer.id as string;
    const lxc = await need(2 * GiB, ['lxc']);
    const wrong = await t.gql(ACCEPT, { i: { offerId: o, needId: lxc } }, adminB);
    expect(wrong.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' }, message: 'Host zarniwoop offers fake, none of the technologies needed (lxc)' });
    expect((await t.gql(ACCEPT, { i: { offerId: o, amount: 5 * GiB } }, adminB)).errors?.[0]).toMatchObject({ extensions: { code: 'CONFLICT' }, message: `Offer ${o} has 4 GiB of RAM left: 5 GiB asked` });

    // The owner gives most of the host to another group directly: the offer can no longer be given.
    await t.ok('mutation ($i: GrantShareInput!) { grantShare(input: $i) { id } }', { i: { hostId: host, groupId: groupC, kind: 'CUSTOM', quotas: { RAM: 6 * GiB } } }, w.tokens.adminA);
    const n = await need(4 * GiB, []);
    const short = await t.gql(ACCEPT, { i: { offerId: o, needId: n } }, adminB);
    expect(short.errors?.[0]).toMatchObject({ extensions: { code: 'CONFLICT' }, message: 'Host zarniwoop: RAM is short: 4 GiB wanted, 2 GiB of 8 GiB left (6 GiB shared, 0 B promised in open offers)' });
    expect(await sharesOn(host)).toEqual([{ groupId: groupC, kind: 'CUSTOM', quotas: { RAM: 6 * GiB } }]);
    expect(await offerNow(o)).toEqual({ id: o, remaining: 4 * GiB, status: 'OPEN' });
    for (const id of [lxc, n]) expect(await needNow(id)).toEqual({ id, remaining: id === n ? 4 * GiB : 2 * GiB, status: 'OPEN' });
  });

  test('two groups racing for the last of an offer: one gets the share, the other a CONFLICT, nothing over-given', async () => {
    const host = await newHost('fenchurch', 8 * GiB);
    const o = (await offer(host, 4 * GiB)).data!.publishOffer.id as string;
    const needB = await need(4 * GiB, []);
    const needC = (await t.ok(PUBLISH_NEED, { i: { groupId: groupC, resourceType: 'RAM', unit: 'BYTES', amount: 4 * GiB } }, adminC)).publishNeed.id as string;
    const results = await Promise.all([t.gql(ACCEPT, { i: { offerId: o, needId: needB } }, adminB), t.gql(ACCEPT, { i: { offerId: o, needId: needC } }, adminC)]);
    const won = results.filter((r) => !r.errors);
    const lost = results.filter((r) => r.errors);
    expect(won).toHaveLength(1);
    expect(lost.map((r) => r.errors![0])).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'CONFLICT' }), message: `Offer ${o} is CLOSED: nothing of it is left` })]);
    const winner = won[0]!.data!.acceptOffer.share.groupId as string;
    expect(await sharesOn(host)).toEqual([{ groupId: winner, kind: 'CUSTOM', quotas: { RAM: 4 * GiB } }]);
    expect(await offerNow(o)).toEqual({ id: o, remaining: 0, status: 'CLOSED' });
    expect([await needNow(needB), await needNow(needC)].map((n) => n.status).sort()).toEqual(['CLOSED', 'OPEN']);
  });

  test("a host owner's admin grants a need from its host, drawing on its offer there; other groups may not", async () => {
    const host = await newHost('slartibartfast', 8 * GiB);
    const o = (await offer(host, 6 * GiB)).data!.publishOffer.id as string;
    const n = await need(2 * GiB, ['fake']);
    for (const token of [w.tokens.memberA, adminB, adminC]) {
      expect((await t.gql(GRANT, { i: { needId: n, hostId: host } }, token)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    }
    expect((await t.gql(GRANT, { i: { needId: n } }, adminC)).errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' }, message: 'No host of group gamma can grant this need' });
    expect((await t.gql(GRANT, { i: { needId: '00000000-0000-4000-8000-000000000000', hostId: host } }, w.tokens.adminA)).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const lxc = await need(GiB, ['lxc']);
    expect((await t.gql(GRANT, { i: { needId: lxc, hostId: host } }, w.tokens.adminA)).errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' }, message: 'Host slartibartfast offers fake, none of the technologies needed (lxc)' });
    expect(await sharesOn(host)).toEqual([]);

    const seen = collect<ExchangeSeen>(t.ws({ authorization: `Bearer ${w.tokens.memberB}` }), 'subscription { events { kind groupId exchange { change shareId hostId fromGroupId toGroupId offerId needId amount } } }', {}, (e) => e.events.exchange?.change === 'NEED_GRANTED', 20_000);
    await seen.ready;
    const granted = (await t.ok(GRANT, { i: { needId: n } }, w.tokens.adminA)).grantNeed;
    expect(granted).toMatchObject({ hostId: host, amount: 2 * GiB, share: { groupId: w.groupB, quotas: { RAM: 2 * GiB } }, offer: { id: o, remaining: 4 * GiB, status: 'OPEN' }, need: { id: n, remaining: 0, status: 'CLOSED' } });
    expect((await seen.done).at(-1)!.events).toEqual({ kind: 'EXCHANGE', groupId: w.groupB, exchange: { change: 'NEED_GRANTED', shareId: granted.share.id, hostId: host, fromGroupId: w.groupA, toGroupId: w.groupB, offerId: o, needId: n, amount: 2 * GiB } });
    expect((await t.gql(GRANT, { i: { needId: n, hostId: host } }, w.tokens.adminA)).errors?.[0]).toMatchObject({ extensions: { code: 'CONFLICT' }, message: `Need ${n} is CLOSED: nothing of it is left` });
    const made = (await t.ok(CREATE, { i: { groupId: w.groupB, hostId: host, imageId: image, name: 'b-granted', limits: { memoryBytes: 2 * GiB } } }, w.tokens.memberB)).createEnvironment;
    expect(await settle(made.operation.id)).toBe('SUCCEEDED');
  });
});
