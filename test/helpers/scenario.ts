import type { TestGateway } from './gateway';

/** Ids and tokens of a small world: two groups, a site with two hosts, tokens of every role. */
export interface World {
  groupA: string;
  groupB: string;
  site: string;
  host1: string;
  host2: string;
  tokens: { viewerA: string; memberA: string; adminA: string; memberB: string };
}

/** GiB in bytes. */
export const GiB = 2 ** 30;

/** How the world's hosts are served. */
export interface WorldOptions {
  /**
   * Register zaphod (docker, lxc) and trillian (lxc) on an agent that never connects, so they
   * offer the technologies declared, and put them UP in the database (no agent would): for tests
   * of inventory and placement that run nothing on them. By default they are on the gateway's own agent and offer what it probed.
   */
  declaredTechnologies?: boolean;
  /** The address range (CIDR) of zaphod; default: the one picked from its id. */
  addressRange?: string;
  /** The IPv6 range (a /64, or auto) of zaphod; default: none. */
  ipv6Range?: string;
}

/** Agent id of hosts whose agent never connects (their technologies are taken as declared). */
export const UNCONNECTED_AGENT = 'simulated';

/** Builds the world through GraphQL as the site admin. */
export async function buildWorld(t: TestGateway, options: WorldOptions = {}): Promise<World> {
  const group = async (slug: string, name: string) =>
    (await t.ok('mutation ($i: CreateGroupInput!) { createGroup(input: $i) { id } }', { i: { slug, name, contact: `${slug}@example.org`, techHosts: ['docker'], labor: [{ kind: 'SYSADMIN', people: 2, hoursPerWeek: 4 }], financial: [{ kind: 'budget', description: 'yearly', amount: 300, unit: 'EUR' }] } })).createGroup.id as string;
  const groupA = await group('alpha', 'Alpha collective');
  const groupB = await group('beta', 'Beta co-op');
  const token = async (groupId: string, role: string, name: string) =>
    (await t.ok('mutation ($i: CreateTokenInput!) { createToken(input: $i) { secret } }', { i: { groupId, role, name } })).createToken.secret as string;
  const tokens = { viewerA: await token(groupA, 'VIEWER', 'va'), memberA: await token(groupA, 'MEMBER', 'ma'), adminA: await token(groupA, 'ADMIN', 'aa'), memberB: await token(groupB, 'MEMBER', 'mb') };
  const site = (await t.ok('mutation ($i: CreateSiteInput!) { createSite(input: $i) { id } }', { i: { name: 'north', location: 'Lisbon', ownerGroupId: groupA } })).createSite.id as string;
  const served = (drivers: string[]) => (options.declaredTechnologies ? { drivers, agent: UNCONNECTED_AGENT } : {});
  const host = async (hostname: string, drivers: string[], encrypted: boolean, addressRange?: string, ipv6Range?: string) =>
    (await t.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: site, ownerGroupId: groupA, hostname, ...served(drivers), shareUnits: 2, properties: [{ key: 'diskEncryption', value: encrypted }], ...(addressRange ? { addressRange } : {}), ...(ipv6Range ? { ipv6Range } : {}) } })).createHost.id as string;
  const host1 = await host('zaphod', ['docker', 'lxc'], true, options.addressRange, options.ipv6Range);
  const host2 = await host('trillian', ['lxc'], false);
  // Hosts of an agent that never connects are UNKNOWN; these stand in for UP hosts (never heard, so never judged DOWN).
  if (options.declaredTechnologies) await t.gateway.dataSource.query(`UPDATE host SET state = 'UP' WHERE agent = $1`, [UNCONNECTED_AGENT]);
  const resource = (hostId: string, type: string, unit: string, total: number, extra: Record<string, unknown> = {}) =>
    t.ok('mutation ($i: CreateResourceInput!) { createResource(input: $i) { id } }', { i: { hostId, type, unit, total, ...extra } });
  await resource(host1, 'CPU', 'CORES', 8, { allocationRatio: 4, description: 'AMD Opteron' });
  await resource(host1, 'RAM', 'BYTES', 32 * GiB, { reserved: 2 * GiB, attributes: { ecc: true } });
  await resource(host1, 'DISK', 'BYTES', 1000 * GiB);
  await resource(host1, 'NET_BANDWIDTH', 'BITS_PER_SECOND', 1e9);
  await resource(host2, 'CPU', 'CORES', 4);
  await resource(host2, 'RAM', 'BYTES', 8 * GiB, { attributes: { ecc: false } });
  await resource(host2, 'DISK', 'BYTES', 200 * GiB);
  return { groupA, groupB, site, host1, host2, tokens };
}
