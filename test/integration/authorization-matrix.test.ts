import { randomUUID } from 'node:crypto';
import { GraphQLObjectType } from 'graphql';
import { createRootfsTar } from '../../drivers/fake';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { collect, startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, GiB, World } from '../helpers/scenario';

/**
 * The callers every field is tried as. Group A owns the objects tried (and the world's site and
 * hosts); "other*" are group B's tokens (a group with a share on A's host, nothing else); "owner*"
 * are group C's, which owns a site and host where A has a share and runs guests.
 */
const ROLES = ['anonymous', 'viewer', 'member', 'admin', 'otherViewer', 'otherGroup', 'otherAdmin', 'ownerMember', 'ownerAdmin', 'siteAdmin'] as const;
type Role = (typeof ROLES)[number];
/** The roles each rule names; the others default to `otherGroup`'s outcome. */
type BaseRole = 'anonymous' | 'viewer' | 'member' | 'admin' | 'otherGroup' | 'siteAdmin';
/** Callers outside group A: when refused, their answer is compared with the one for a missing id. */
const OUTSIDERS: Role[] = ['anonymous', 'otherViewer', 'otherGroup', 'otherAdmin', 'ownerMember', 'ownerAdmin'];

/** What a caller gets: data ('ok') or an error code. */
type Outcome = 'ok' | 'UNAUTHENTICATED' | 'FORBIDDEN' | 'NOT_FOUND' | 'CONFLICT' | 'BAD_USER_INPUT';
/** The outcome per role; the roles left out answer as `otherGroup`. */
type Rule = Record<BaseRole, Outcome> & Partial<Record<Role, Outcome>>;

/** A call of one field, with its expected outcome per role. Variables are made per call (fresh targets). */
interface Case {
  query: string;
  vars?: (w: World & { fixtures: Fixtures }, t: TestGateway, n: number, role: Role) => Promise<Record<string, unknown>> | Record<string, unknown>;
  expect: Rule;
  /**
   * The variable (a dotted path) holding the id of group A's private object the call names: an
   * outsider refused for it must get the very answer a missing id gets (no existence leak).
   * Default `id` when the variables have one; null when the object is public (hosts, sites, shares…).
   */
  privateVar?: string | null;
  /** Outsiders who may see the object named (so its existence is no secret to them). */
  seenBy?: Role[];
}

interface Fixtures {
  environment: string;
  fakeImage: string;
  layer: string;
  image: string;
  operation: string;
  share: string;
  allocation: string;
  policy: string;
  replica: string;
  groupC: string;
  siteC: string;
  hostC: string;
  guest: string;
}

const OPEN: Rule = { anonymous: 'ok', viewer: 'ok', member: 'ok', admin: 'ok', otherGroup: 'ok', siteAdmin: 'ok' };
const AUTHENTICATED: Rule = { ...OPEN, anonymous: 'UNAUTHENTICATED' };
const SITE_ADMIN: Rule = { anonymous: 'UNAUTHENTICATED', viewer: 'FORBIDDEN', member: 'FORBIDDEN', admin: 'FORBIDDEN', otherGroup: 'FORBIDDEN', siteAdmin: 'ok' };
const GROUP_MEMBER: Rule = { anonymous: 'UNAUTHENTICATED', viewer: 'FORBIDDEN', member: 'ok', admin: 'ok', otherGroup: 'FORBIDDEN', siteAdmin: 'ok' };
const GROUP_ADMIN: Rule = { ...GROUP_MEMBER, member: 'FORBIDDEN' };
const GROUP_PRIVATE_READ: Rule = { anonymous: 'UNAUTHENTICATED', viewer: 'ok', member: 'ok', admin: 'ok', otherGroup: 'NOT_FOUND', siteAdmin: 'ok' };
const GROUP_PRIVATE_WRITE: Rule = { ...GROUP_PRIVATE_READ, viewer: 'FORBIDDEN' };
/** The admins of the group owning the host or site (group A here) and site admins. */
const OWNER_ADMIN: Rule = { ...SITE_ADMIN, admin: 'ok' };

let seq = 0;
const unique = () => `${Date.now().toString(36)}${(seq++).toString(36)}`;

/** Every Query, Mutation and Subscription field, with its rule. A new field without an entry fails the test. */
const MATRIX: Record<string, Case> = {
  // queries
  gateway: { query: '{ gateway { site } }', expect: OPEN },
  viewer: { query: '{ viewer { authenticated } }', expect: OPEN },
  operation: { query: 'query ($id: ID!) { operation(id: $id) { id } }', vars: (w) => ({ id: w.fixtures.operation }), expect: GROUP_PRIVATE_READ },
  operations: { query: '{ operations { totalCount } }', expect: AUTHENTICATED },
  group: { query: 'query ($id: ID!) { group(id: $id) { id } }', vars: (w) => ({ id: w.groupA }), expect: AUTHENTICATED },
  groups: { query: '{ groups { totalCount } }', expect: AUTHENTICATED },
  tokens: { query: 'query ($g: ID!) { tokens(groupId: $g) { id } }', vars: (w) => ({ g: w.groupA }), expect: GROUP_ADMIN },
  site: { query: 'query ($id: ID!) { site(id: $id) { id } }', vars: (w) => ({ id: w.site }), expect: AUTHENTICATED },
  sites: { query: '{ sites { totalCount } }', expect: AUTHENTICATED },
  host: { query: 'query ($id: ID!) { host(id: $id) { id } }', vars: (w) => ({ id: w.host1 }), expect: AUTHENTICATED },
  hosts: { query: '{ hosts { totalCount } }', expect: AUTHENTICATED },
  resource: { query: 'query ($id: ID!) { resource(id: $id) { id } }', vars: async (w, t) => ({ id: (await t.ok('{ resources(first: 1) { nodes { id } } }')).resources.nodes[0].id }), expect: AUTHENTICATED },
  resources: { query: '{ resources { totalCount } }', expect: AUTHENTICATED },
  resourceClasses: { query: '{ resourceClasses { id } }', expect: AUTHENTICATED },
  offers: { query: '{ offers { id } }', expect: AUTHENTICATED },
  needs: { query: '{ needs { id } }', expect: AUTHENTICATED },
  satisfiableNeeds: { query: '{ satisfiableNeeds { offered } }', expect: AUTHENTICATED },
  shares: { query: '{ shares { id } }', expect: AUTHENTICATED },
  usagePolicies: { query: 'query ($s: ID!) { usagePolicies(siteId: $s) { id } }', vars: (w) => ({ s: w.site }), expect: AUTHENTICATED },
  layer: { query: 'query ($id: ID!) { layer(id: $id) { id } }', vars: (w) => ({ id: w.fixtures.layer }), expect: GROUP_PRIVATE_READ },
  layers: { query: 'query ($g: ID!) { layers(groupId: $g) { id } }', vars: (w) => ({ g: w.groupA }), expect: { ...GROUP_PRIVATE_READ, otherGroup: 'FORBIDDEN' } },
  image: { query: 'query ($id: ID!) { image(id: $id) { id } }', vars: (w) => ({ id: w.fixtures.image }), expect: GROUP_PRIVATE_READ },
  images: { query: '{ images { id } }', expect: AUTHENTICATED },
  _service: { query: '{ _service { sdl } }', expect: OPEN },
  _entities: { query: 'query ($r: [_Any!]!) { _entities(representations: $r) { ... on Group { id } } }', vars: (w) => ({ r: [{ __typename: 'Group', id: w.groupA }] }), expect: AUTHENTICATED },
  // mutations
  cancelOperation: { query: 'mutation ($id: ID!) { cancelOperation(id: $id) { id } }', vars: (w) => ({ id: w.fixtures.operation }), expect: { ...GROUP_PRIVATE_WRITE, member: 'CONFLICT', admin: 'CONFLICT', siteAdmin: 'CONFLICT' } },
  createToken: { query: 'mutation ($i: CreateTokenInput!) { createToken(input: $i) { secret } }', vars: (w) => ({ i: { groupId: w.groupA, name: 'm', role: 'VIEWER' } }), expect: GROUP_ADMIN },
  revokeToken: {
    query: 'mutation ($id: ID!) { revokeToken(id: $id) { id } }',
    vars: async (w, t) => ({ id: (await t.ok('mutation ($i: CreateTokenInput!) { createToken(input: $i) { token { id } } }', { i: { groupId: w.groupA, name: 'r', role: 'VIEWER' } })).createToken.token.id }),
    // a caller who may revoke no token is FORBIDDEN before the lookup; another group's token is NOT_FOUND to an admin
    expect: { ...GROUP_ADMIN, otherAdmin: 'NOT_FOUND', ownerAdmin: 'NOT_FOUND' },
  },
  createAgentJoinToken: { query: 'mutation { createAgentJoinToken(agentId: "matrix-agent", ttlSeconds: 60) { token } }', expect: SITE_ADMIN },
  revokeAgentCredential: { query: 'mutation { revokeAgentCredential(agentId: "matrix-agent") }', expect: SITE_ADMIN },
  createGroup: { query: 'mutation ($i: CreateGroupInput!) { createGroup(input: $i) { id } }', vars: () => ({ i: { slug: `g-${unique()}`, name: 'g' } }), expect: SITE_ADMIN },
  setGroupStorageQuota: { privateVar: null, query: 'mutation ($g: ID!, $b: Float) { setGroupStorageQuota(groupId: $g, bytes: $b) { id } }', vars: (w) => ({ g: w.groupA, b: 1e15 }), expect: SITE_ADMIN },
  updateGroup: { query: 'mutation ($i: UpdateGroupInput!) { updateGroup(input: $i) { id } }', vars: (w) => ({ i: { id: w.groupA, description: 'updated' } }), expect: GROUP_ADMIN },
  createSite: { query: 'mutation ($i: CreateSiteInput!) { createSite(input: $i) { id } }', vars: (w) => ({ i: { name: `s-${unique()}`, ownerGroupId: w.groupA } }), expect: SITE_ADMIN },
  createHost: { query: 'mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', vars: (w) => ({ i: { siteId: w.site, ownerGroupId: w.groupA, hostname: `h-${unique()}` } }), expect: SITE_ADMIN },
  setHostState: { privateVar: null, query: 'mutation ($id: ID!) { setHostState(id: $id, state: UP) { id } }', vars: (w) => ({ id: w.host2 }), expect: SITE_ADMIN },
  setHostDrivers: { privateVar: null, query: 'mutation ($id: ID!) { setHostDrivers(id: $id, drivers: null) { id } }', vars: (w) => ({ id: w.host2 }), expect: SITE_ADMIN },
  setHostIpv6Range: { privateVar: null, query: 'mutation ($id: ID!) { setHostIpv6Range(id: $id, ipv6Range: null) { id } }', vars: (w) => ({ id: w.host2 }), expect: SITE_ADMIN },
  setHostInventoryFromFacts: { privateVar: null, query: 'mutation ($id: ID!) { setHostInventoryFromFacts(id: $id, on: false) { id } }', vars: (w) => ({ id: w.host2 }), expect: SITE_ADMIN },
  createResource: {
    query: 'mutation ($i: CreateResourceInput!) { createResource(input: $i) { id } }',
    vars: (w) => ({ i: { hostId: w.host2, type: `X_${unique().toUpperCase()}`, unit: 'COUNT', total: 1 } }),
    expect: SITE_ADMIN,
  },
  updateInventory: {
    query: 'mutation ($i: UpdateInventoryInput!) { updateInventory(input: $i) { id } }',
    vars: async (w, t) => ({ i: { id: (await t.ok('query ($h: ID) { resources(hostId: $h, type: "CPU") { nodes { id } } }', { h: w.host2 })).resources.nodes[0].id, reserved: 0 } }),
    expect: SITE_ADMIN,
  },
  createResourceClass: { query: 'mutation ($i: CreateResourceClassInput!) { createResourceClass(input: $i) { id } }', vars: () => ({ i: { name: `c-${unique()}`, requirements: [{ type: 'RAM', unit: 'BYTES', amount: 1 }] } }), expect: SITE_ADMIN },
  publishOffer: { query: 'mutation ($i: PublishOfferInput!) { publishOffer(input: $i) { id } }', vars: (w) => ({ i: { groupId: w.groupA, resourceType: 'DISK', unit: 'BYTES', amount: 1 } }), expect: GROUP_MEMBER },
  publishNeed: { query: 'mutation ($i: PublishNeedInput!) { publishNeed(input: $i) { id } }', vars: (w) => ({ i: { groupId: w.groupA, resourceType: 'DISK', unit: 'BYTES', amount: 1 } }), expect: GROUP_MEMBER },
  withdrawOffer: { privateVar: null,
    query: 'mutation ($id: ID!) { withdrawOffer(id: $id) }',
    vars: async (w, t) => ({ id: (await t.ok('mutation ($i: PublishOfferInput!) { publishOffer(input: $i) { id } }', { i: { groupId: w.groupA, resourceType: 'DISK', unit: 'BYTES', amount: 1 } })).publishOffer.id }),
    expect: GROUP_MEMBER,
  },
  withdrawNeed: { privateVar: null,
    query: 'mutation ($id: ID!) { withdrawNeed(id: $id) }',
    vars: async (w, t) => ({ id: (await t.ok('mutation ($i: PublishNeedInput!) { publishNeed(input: $i) { id } }', { i: { groupId: w.groupA, resourceType: 'DISK', unit: 'BYTES', amount: 1 } })).publishNeed.id }),
    expect: GROUP_MEMBER,
  },
  acceptOffer: {
    query: 'mutation ($i: AcceptOfferInput!) { acceptOffer(input: $i) { share { id } } }',
    vars: async (w, t) => ({ i: await freshExchange(w, t) }),
    expect: GROUP_ADMIN,
  },
  grantNeed: {
    query: 'mutation ($i: GrantNeedInput!) { grantNeed(input: $i) { share { id } } }',
    vars: async (w, t) => ({ i: { needId: (await freshExchange(w, t, true)).needId, hostId: w.host2 } }),
    expect: OWNER_ADMIN,
  },
  grantShare: {
    query: 'mutation ($i: GrantShareInput!) { grantShare(input: $i) { id } }',
    vars: async (w, t) => ({ i: { hostId: w.host2, groupId: (await t.ok('mutation ($i: CreateGroupInput!) { createGroup(input: $i) { id } }', { i: { slug: `s-${unique()}`, name: 's' } })).createGroup.id, kind: 'CUSTOM', quotas: { CPU: 0.01 } } }),
    expect: OWNER_ADMIN,
  },
  revokeShare: { privateVar: null, query: 'mutation ($id: ID!) { revokeShare(id: $id) }', vars: async (w, t) => ({ id: await freshShare(w, t) }), expect: OWNER_ADMIN },
  setUsagePolicy: { query: 'mutation ($i: UsagePolicyInput!) { setUsagePolicy(input: $i) { id } }', vars: (w) => ({ i: { siteId: w.site, name: 'fair use', diskBytes: 1e9 } }), expect: OWNER_ADMIN },
  createLayer: { query: 'mutation ($i: CreateLayerInput!) { createLayer(input: $i) { id } }', vars: (w) => ({ i: { groupId: w.groupA, kind: 'OS', name: 'os' } }), expect: GROUP_MEMBER },
  updateLayer: { privateVar: 'i.id', query: 'mutation ($i: UpdateLayerInput!) { updateLayer(input: $i) { id } }', vars: (w) => ({ i: { id: w.fixtures.layer, properties: [{ key: 'k', value: 1 }] } }), expect: GROUP_PRIVATE_WRITE },
  registerImage: {
    query: 'mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }',
    vars: (w) => ({ i: { vendorGroupId: w.groupA, name: `img-${unique()}`, version: '1', technology: 'docker' } }),
    expect: GROUP_MEMBER,
  },
  importImage: {
    privateVar: null,
    // A digest group A already holds here, asked of a listed peer: the import answers that image without reaching it.
    query: 'mutation ($i: ImportImageInput!) { importImage(input: $i) { id } }',
    vars: async (w, t) => ({ i: { vendorGroupId: w.groupA, digest: (await t.ok('query ($id: ID!) { image(id: $id) { digest } }', { id: w.fixtures.fakeImage })).image.digest, from: { name: 'peer', url: 'http://127.0.0.1:9', token: 'unused' } } }),
    expect: GROUP_MEMBER,
  },
  setImageVisibility: { query: 'mutation ($id: ID!) { setImageVisibility(id: $id, visibility: PRIVATE) { id } }', vars: (w) => ({ id: w.fixtures.image }), expect: GROUP_PRIVATE_WRITE },
  environment: { query: 'query ($id: ID!) { environment(id: $id) { id } }', vars: (w) => ({ id: w.fixtures.environment }), expect: GROUP_PRIVATE_READ },
  environments: { query: '{ environments { totalCount } }', expect: AUTHENTICATED },
  environmentStats: { query: 'query ($id: ID!) { environmentStats(id: $id) { cpuSeconds } }', vars: (w) => ({ id: w.fixtures.environment }), expect: GROUP_PRIVATE_READ },
  environmentLogs: { query: 'query ($id: ID!) { environmentLogs(id: $id, tail: 5) { text cursor } }', vars: (w) => ({ id: w.fixtures.environment }), expect: GROUP_PRIVATE_READ },
  drivers: { query: '{ drivers { name imageFormats } }', expect: AUTHENTICATED },
  createEnvironment: {
    query: 'mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } } }',
    vars: (w) => ({ i: { groupId: w.groupA, hostId: w.host1, imageId: w.fixtures.fakeImage, name: `e-${unique()}` } }),
    expect: GROUP_MEMBER,
  },
  startEnvironment: { query: 'mutation ($id: ID!) { startEnvironment(id: $id) { id } }', vars: (w, t) => freshEnvironment(w, t, 'CREATED'), expect: GROUP_PRIVATE_WRITE },
  stopEnvironment: { query: 'mutation ($id: ID!) { stopEnvironment(id: $id) { id } }', vars: (w, t) => freshEnvironment(w, t, 'RUNNING'), expect: GROUP_PRIVATE_WRITE },
  evictEnvironment: { query: 'mutation ($id: ID!) { evictEnvironment(id: $id, reason: "matrix") { id } }', vars: (w, t) => freshEnvironment(w, t, 'RUNNING'), expect: { ...GROUP_PRIVATE_WRITE, member: 'FORBIDDEN' } },
  restartEnvironment: { query: 'mutation ($id: ID!) { restartEnvironment(id: $id) { id } }', vars: (w, t) => freshEnvironment(w, t, 'RUNNING'), expect: GROUP_PRIVATE_WRITE },
  destroyEnvironment: { query: 'mutation ($id: ID!) { destroyEnvironment(id: $id) { id } }', vars: (w, t) => freshEnvironment(w, t, 'CREATED'), expect: GROUP_PRIVATE_WRITE },
  rebuildEnvironment: {
    query: 'mutation ($id: ID!, $img: ID!) { rebuildEnvironment(id: $id, imageId: $img) { id } }',
    vars: async (w, t) => ({ ...(await freshEnvironment(w, t, 'CREATED')), img: w.fixtures.fakeImage }),
    expect: GROUP_PRIVATE_WRITE,
  },
  createSnapshot: { privateVar: 'environmentId', query: 'mutation ($environmentId: ID!, $n: String!) { createSnapshot(environmentId: $environmentId, name: $n) { id } }', vars: (w) => ({ environmentId: w.fixtures.environment, n: `s-${unique()}` }), expect: GROUP_PRIVATE_WRITE },
  rollbackSnapshot: { privateVar: 'environmentId', query: 'mutation ($environmentId: ID!, $n: String!) { rollbackSnapshot(environmentId: $environmentId, name: $n) { id } }', vars: (w, t) => takenSnapshot(w, t), expect: GROUP_PRIVATE_WRITE },
  deleteSnapshot: { privateVar: 'environmentId', query: 'mutation ($environmentId: ID!, $n: String!) { deleteSnapshot(environmentId: $environmentId, name: $n) { id } }', vars: (w, t) => takenSnapshot(w, t), expect: GROUP_PRIVATE_WRITE },
  setSnapshotRetention: { privateVar: 'environmentId', query: 'mutation ($environmentId: ID!) { setSnapshotRetention(environmentId: $environmentId, keepLast: null) { id } }', vars: (w) => ({ environmentId: w.fixtures.environment }), expect: GROUP_PRIVATE_WRITE },
  copyEnvironment: { query: 'mutation ($id: ID!, $n: String!) { copyEnvironment(id: $id, name: $n) { environment { id } } }', vars: (w) => ({ id: w.fixtures.environment, n: `c-${unique()}` }), expect: GROUP_PRIVATE_WRITE },
  // the matrix's hosts share the one local agent: no host can take the environment (CONFLICT) once the caller is allowed to ask
  migrateEnvironment: { query: 'mutation ($id: ID!) { migrateEnvironment(id: $id) { id } }', vars: (w) => ({ id: w.fixtures.environment }), expect: { ...GROUP_PRIVATE_WRITE, member: 'CONFLICT', admin: 'CONFLICT', siteAdmin: 'CONFLICT' } },
  // only for environments of DOWN hosts: the fixture's host is UP (CONFLICT) for the site admin
  failoverEnvironment: { query: 'mutation ($id: ID!) { failoverEnvironment(id: $id) { id } }', vars: (w) => ({ id: w.fixtures.environment }), expect: { ...SITE_ADMIN, siteAdmin: 'CONFLICT' } },
  execEnvironment: { query: 'mutation ($id: ID!) { execEnvironment(id: $id, command: ["hostname"]) { exitCode } }', vars: (w) => ({ id: w.fixtures.environment }), expect: GROUP_PRIVATE_WRITE },
  metricHistory: { query: 'query ($h: ID!, $f: DateTimeISO!) { metricHistory(targetType: HOST, targetId: $h, metric: "cpu.usage", from: $f) { points { value } } }', vars: (w) => ({ h: w.host1, f: new Date(Date.now() - 3600_000).toISOString() }), expect: AUTHENTICATED },
  alertRules: { query: '{ alertRules { id } }', expect: AUTHENTICATED },
  alerts: { query: '{ alerts { id } }', expect: AUTHENTICATED },
  groupUsage: { query: 'query ($g: ID!) { groupUsage(groupId: $g) { cpuSeconds } }', vars: (w) => ({ g: w.groupA }), expect: { ...GROUP_PRIVATE_READ, otherGroup: 'FORBIDDEN' } },
  createAlertRule: { query: 'mutation ($i: CreateAlertRuleInput!) { createAlertRule(input: $i) { id } }', vars: (w) => ({ i: { name: 'hot', groupId: w.groupA, targetType: 'ENVIRONMENT', metric: 'cpu.usage', threshold: 2 } }), expect: GROUP_MEMBER },
  deleteAlertRule: {
    query: 'mutation ($id: ID!) { deleteAlertRule(id: $id) }',
    vars: async (w, t) => ({ id: (await t.ok('mutation ($i: CreateAlertRuleInput!) { createAlertRule(input: $i) { id } }', { i: { name: 'd', groupId: w.groupA, targetType: 'ENVIRONMENT', metric: 'cpu.usage', threshold: 2 } })).createAlertRule.id }),
    expect: GROUP_PRIVATE_WRITE,
  },
  placementCandidates: { query: 'query ($r: AllocationRequestInput!) { placementCandidates(request: $r) { candidates { hostId } } }', vars: (w) => ({ r: smallRequest(w, 'AUTOMATIC') }), expect: GROUP_MEMBER },
  allocate: { query: 'mutation ($r: AllocationRequestInput!) { allocate(request: $r) { id } }', vars: (w) => ({ r: smallRequest(w, 'APPROVAL') }), expect: GROUP_MEMBER },
  allocateMany: { query: 'mutation ($r: [AllocationRequestInput!]!) { allocateMany(requests: $r) { index } }', vars: (w) => ({ r: [smallRequest(w, 'APPROVAL')] }), expect: AUTHENTICATED },
  // C's admins may approve group A's requests naming no host onto C's host (A has a share there): they see them
  allocationRequest: { query: 'query ($id: ID!) { allocationRequest(id: $id) { id } }', vars: async (w, t) => ({ id: await pendingRequest(w, t) }), expect: { ...GROUP_PRIVATE_READ, ownerAdmin: 'ok' }, seenBy: ['ownerAdmin'] },
  allocationRequests: { query: '{ allocationRequests { totalCount } }', expect: AUTHENTICATED },
  approvalRequests: { query: '{ approvalRequests { totalCount } }', expect: AUTHENTICATED },
  approveAllocation: { query: 'mutation ($id: ID!) { approveAllocation(id: $id, reason: "ok") { id } }', vars: async (w, t) => ({ id: await pendingRequest(w, t) }), expect: SITE_ADMIN, seenBy: ['ownerAdmin'] },
  rejectAllocation: { query: 'mutation ($id: ID!) { rejectAllocation(id: $id, reason: "no") { id } }', vars: async (w, t) => ({ id: await pendingRequest(w, t) }), expect: SITE_ADMIN, seenBy: ['ownerAdmin'] },
  allocation: { query: 'query ($id: ID!) { allocation(id: $id) { id } }', vars: (w) => ({ id: w.fixtures.allocation }), expect: GROUP_PRIVATE_READ },
  allocations: { query: '{ allocations { totalCount } }', expect: AUTHENTICATED },
  renewAllocation: { query: 'mutation ($id: ID!) { renewAllocation(id: $id, leaseSeconds: 600) { id } }', vars: (w) => ({ id: w.fixtures.allocation }), expect: GROUP_PRIVATE_WRITE },
  releaseAllocation: { query: 'mutation ($id: ID!) { releaseAllocation(id: $id) { id } }', vars: async (w, t) => ({ id: await freshAllocation(w, t) }), expect: GROUP_PRIVATE_WRITE },
  replicationPolicies: { query: '{ replicationPolicies { id } }', expect: AUTHENTICATED },
  replicationPolicy: { query: 'query ($id: ID!) { replicationPolicy(id: $id) { id status { state } } }', vars: (w) => ({ id: w.fixtures.policy }), expect: GROUP_PRIVATE_READ },
  replicas: { query: '{ replicas { id } }', expect: AUTHENTICATED },
  replica: { query: 'query ($id: ID!) { replica(id: $id) { id } }', vars: (w) => ({ id: w.fixtures.replica }), expect: GROUP_PRIVATE_READ },
  createReplicationPolicy: { privateVar: 'i.environmentId', query: 'mutation ($i: CreateReplicationPolicyInput!) { createReplicationPolicy(input: $i) { id } }', vars: (w) => ({ i: { environmentId: w.fixtures.environment, targetKind: 'STORE', schedule: 'every 1 hour', name: `p-${unique()}` } }), expect: GROUP_PRIVATE_WRITE },
  updateReplicationPolicy: { query: 'mutation ($id: ID!) { updateReplicationPolicy(id: $id, input: { keep: 2 }) { id } }', vars: (w) => ({ id: w.fixtures.policy }), expect: GROUP_PRIVATE_WRITE },
  deleteReplicationPolicy: { query: 'mutation ($id: ID!) { deleteReplicationPolicy(id: $id) { id } }', vars: async (w, t) => ({ id: await freshPolicy(w, t) }), expect: GROUP_PRIVATE_WRITE },
  replicateNow: { query: 'mutation ($id: ID!) { replicateNow(policyId: $id) { id } }', vars: async (w, t) => ({ id: await freshPolicy(w, t) }), expect: GROUP_PRIVATE_WRITE },
  restoreReplica: { query: 'mutation ($id: ID!) { restoreReplica(replicaId: $id) { id } }', vars: (w) => ({ id: w.fixtures.replica }), expect: GROUP_PRIVATE_WRITE },
  // To the matrix gateway's one peer site (RSP_PEER_SITES), which never answers: the operation starts, then fails in the background.
  copyEnvironmentToSite: { query: 'mutation ($id: ID!) { copyEnvironmentToSite(id: $id, to: { name: "peer", token: "unused" }, hostId: "elsewhere") { id } }', vars: (w) => ({ id: w.fixtures.environment }), expect: GROUP_PRIVATE_WRITE },
  sendReplica: { query: 'mutation ($id: ID!) { sendReplica(replicaId: $id, to: { name: "peer", token: "unused" }) { id } }', vars: (w) => ({ id: w.fixtures.replica }), expect: GROUP_PRIVATE_WRITE },
  drillReplicationPolicy: { query: 'mutation ($id: ID!) { drillReplicationPolicy(policyId: $id) { id } }', vars: async (w, t) => ({ id: await freshPolicy(w, t) }), expect: GROUP_PRIVATE_WRITE },
  collectReplicaStore: { privateVar: null, query: 'mutation ($id: ID!) { collectReplicaStore(hostId: $id) { id } }', vars: (w) => ({ id: w.host1 }), expect: OWNER_ADMIN },
  verifyReplica: { query: 'mutation ($id: ID!) { verifyReplica(id: $id) { id } }', vars: (w) => ({ id: w.fixtures.replica }), expect: GROUP_PRIVATE_WRITE },
  deleteReplica: { query: 'mutation ($id: ID!) { deleteReplica(id: $id) { id } }', vars: async (w, t) => ({ id: (await t.gateway.services.replication.replicateEnvironment(w.fixtures.environment)).id }), expect: GROUP_PRIVATE_WRITE },
  drainHost: { privateVar: null, query: 'mutation ($id: ID!) { drainHost(id: $id) { id } }', vars: async (w, t) => ({ id: await freshHost(w, t) }), expect: GROUP_ADMIN },
  deleteHost: { privateVar: null, query: 'mutation ($id: ID!) { deleteHost(id: $id) }', vars: async (w, t) => ({ id: await freshHost(w, t) }), expect: GROUP_ADMIN },
  removeOrphans: { privateVar: null, query: 'mutation ($id: ID!) { removeOrphans(hostId: $id) { removed { name } failed { reason } } }', vars: (w) => ({ id: w.host1 }), expect: OWNER_ADMIN },
  deleteSite: { privateVar: null,
    query: 'mutation ($id: ID!) { deleteSite(id: $id) }',
    vars: async (w, t) => ({ id: (await t.ok('mutation ($i: CreateSiteInput!) { createSite(input: $i) { id } }', { i: { name: `d-${unique()}`, ownerGroupId: w.groupA } })).createSite.id }),
    expect: GROUP_ADMIN,
  },
  deleteImage: {
    query: 'mutation ($id: ID!) { deleteImage(id: $id) }',
    vars: async (w, t) => ({ id: (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: `del-${unique()}`, version: '1', technology: 'docker' } })).registerImage.id }),
    expect: GROUP_PRIVATE_WRITE,
  },
  deleteGroup: { privateVar: null,
    query: 'mutation ($id: ID!) { deleteGroup(id: $id, mode: DESTROY) { id } }',
    vars: (w) => ({ id: w.groupA }),
    // group A owns hosts and a site: its admins and the site admin are told what blocks (CONFLICT)
    expect: { ...GROUP_ADMIN, admin: 'CONFLICT', siteAdmin: 'CONFLICT' },
  },
  // group C's machines, where group A is a guest: C's admins govern them
  'createEnvironment#guest': {
    query: 'mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } } }',
    vars: (w) => ({ i: { groupId: w.groupA, hostId: w.fixtures.hostC, imageId: w.fixtures.fakeImage, name: `g-${unique()}` } }),
    expect: GROUP_MEMBER,
  },
  'createEnvironment#foreignImage': {
    query: 'mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } } }',
    vars: (w, _t, _n, role) => ({ i: { groupId: groupOf(w, role) ?? w.groupA, hostId: w.host1, imageId: w.fixtures.image, name: `i-${unique()}` } }),
    privateVar: 'i.imageId',
    // A's own callers get further: the private image is a docker one without content, not usable here
    expect: { anonymous: 'UNAUTHENTICATED', viewer: 'FORBIDDEN', member: 'BAD_USER_INPUT', admin: 'BAD_USER_INPUT', otherGroup: 'NOT_FOUND', otherViewer: 'FORBIDDEN', siteAdmin: 'BAD_USER_INPUT' },
  },
  // the network fields (issue 24): an environment's addresses and ports read as the environment; a host's range is set as the host is
  'environment#network': { query: 'query ($id: ID!) { environment(id: $id) { addresses { address interface } iface { ports { hostPort } readOnlyRoot } } }', vars: (w) => ({ id: w.fixtures.environment }), expect: GROUP_PRIVATE_READ },
  'createHost#addressRange': { query: 'mutation ($i: CreateHostInput!) { createHost(input: $i) { id addressRange } }', vars: (w) => ({ i: { siteId: w.site, ownerGroupId: w.groupA, hostname: `n-${unique()}`, addressRange: '10.42.0.0/24' } }), expect: SITE_ADMIN },
  'createHost#ipv6Range': { query: 'mutation ($i: CreateHostInput!) { createHost(input: $i) { id ipv6Range } }', vars: (w) => ({ i: { siteId: w.site, ownerGroupId: w.groupA, hostname: `n-${unique()}`, ipv6Range: 'auto' } }), expect: SITE_ADMIN },
  'createLayer#foreignParent': {
    query: 'mutation ($i: CreateLayerInput!) { createLayer(input: $i) { id } }',
    vars: (w, _t, _n, role) => ({ i: { groupId: groupOf(w, role) ?? w.groupA, kind: 'SERVICE', name: `svc-${unique()}`, parentId: w.fixtures.layer } }),
    privateVar: 'i.parentId',
    expect: { anonymous: 'UNAUTHENTICATED', viewer: 'FORBIDDEN', member: 'ok', admin: 'ok', otherGroup: 'NOT_FOUND', otherViewer: 'FORBIDDEN', siteAdmin: 'ok' },
  },
  'stopEnvironment#guest': { query: 'mutation ($id: ID!) { stopEnvironment(id: $id, reason: "matrix") { id } }', vars: (w, t) => freshEnvironment(w, t, 'RUNNING', w.fixtures.hostC), expect: { ...GROUP_PRIVATE_WRITE, ownerAdmin: 'ok' }, seenBy: ['ownerAdmin'] },
  // evicting is the governors' power: A's admins govern host 1, not C's host
  'evictEnvironment#guest': { query: 'mutation ($id: ID!) { evictEnvironment(id: $id, reason: "matrix") { id } }', vars: (w, t) => freshEnvironment(w, t, 'RUNNING', w.fixtures.hostC), expect: { ...GROUP_PRIVATE_WRITE, member: 'FORBIDDEN', admin: 'FORBIDDEN', ownerAdmin: 'ok' }, seenBy: ['ownerAdmin'] },
  // the governors see a guest's status and usage, not what it writes to its console
  'environmentLogs#guest': { query: 'query ($id: ID!) { environmentLogs(id: $id, tail: 5) { text } }', vars: (w) => ({ id: w.fixtures.guest }), expect: { ...GROUP_PRIVATE_READ, ownerAdmin: 'FORBIDDEN' }, seenBy: ['ownerAdmin'] },
  'execEnvironment#guest': { query: 'mutation ($id: ID!) { execEnvironment(id: $id, command: ["hostname"]) { exitCode } }', vars: (w) => ({ id: w.fixtures.guest }), expect: { ...GROUP_PRIVATE_WRITE, ownerAdmin: 'FORBIDDEN' }, seenBy: ['ownerAdmin'] },
  'allocationRequest#ownerHost': { query: 'query ($id: ID!) { allocationRequest(id: $id) { id } }', vars: async (w, t) => ({ id: await pendingRequest(w, t, [w.fixtures.hostC]) }), expect: { ...GROUP_PRIVATE_READ, ownerAdmin: 'ok' }, seenBy: ['ownerAdmin'] },
  'approveAllocation#ownerHost': { query: 'mutation ($id: ID!) { approveAllocation(id: $id, reason: "ok") { id } }', vars: async (w, t) => ({ id: await pendingRequest(w, t, [w.fixtures.hostC]) }), expect: { ...SITE_ADMIN, ownerAdmin: 'ok' }, seenBy: ['ownerAdmin'] },
  'rejectAllocation#ownerHost': { query: 'mutation ($id: ID!) { rejectAllocation(id: $id, reason: "no") { id } }', vars: async (w, t) => ({ id: await pendingRequest(w, t, [w.fixtures.hostC]) }), expect: { ...SITE_ADMIN, ownerAdmin: 'ok' }, seenBy: ['ownerAdmin'] },
  'grantShare#ownerHost': {
    query: 'mutation ($i: GrantShareInput!) { grantShare(input: $i) { id } }',
    vars: async (w, t) => ({ i: { hostId: w.fixtures.hostC, groupId: (await t.ok('mutation ($i: CreateGroupInput!) { createGroup(input: $i) { id } }', { i: { slug: `s-${unique()}`, name: 's' } })).createGroup.id, kind: 'CUSTOM', quotas: { CPU: 0.01 } } }),
    expect: { ...SITE_ADMIN, ownerAdmin: 'ok' },
  },
  // A host's machine layer is the host's description: those governing it change it, not its owner group's members.
  'updateLayer#machine': {
    privateVar: null,
    query: 'mutation ($i: UpdateLayerInput!) { updateLayer(input: $i) { id } }',
    vars: async (w, t) => ({ i: { id: (await t.ok('query ($id: ID!) { host(id: $id) { layerId } }', { id: w.host2 })).host.layerId, requirements: [] } }),
    expect: OWNER_ADMIN,
  },
  'revokeShare#ownerHost': { privateVar: null, query: 'mutation ($id: ID!) { revokeShare(id: $id) }', vars: async (w, t) => ({ id: await freshShare(w, t, w.fixtures.hostC) }), expect: { ...SITE_ADMIN, ownerAdmin: 'ok' } },
  'setUsagePolicy#ownerSite': { query: 'mutation ($i: UsagePolicyInput!) { setUsagePolicy(input: $i) { id } }', vars: (w) => ({ i: { siteId: w.fixtures.siteC, name: 'fair use', diskBytes: 1e9 } }), expect: { ...SITE_ADMIN, ownerAdmin: 'ok' } },
  'drainHost#ownerHost': { privateVar: null, query: 'mutation ($id: ID!) { drainHost(id: $id) { id } }', vars: async (w, t) => ({ id: await freshHost(w, t, w.fixtures.siteC, w.fixtures.groupC) }), expect: { ...SITE_ADMIN, ownerAdmin: 'ok' } },
  'deleteHost#ownerHost': { privateVar: null, query: 'mutation ($id: ID!) { deleteHost(id: $id) }', vars: async (w, t) => ({ id: await freshHost(w, t, w.fixtures.siteC, w.fixtures.groupC) }), expect: { ...SITE_ADMIN, ownerAdmin: 'ok' } },
  // subscriptions: filtered per event, see the dedicated test below (metrics: test/integration/metrics.test.ts)
  operationUpdated: { query: '', expect: AUTHENTICATED },
  hostMetrics: { query: '', expect: AUTHENTICATED },
  siteMetrics: { query: '', expect: AUTHENTICATED },
  environmentMetrics: { query: '', expect: GROUP_PRIVATE_READ },
  environmentLog: { query: '', expect: GROUP_PRIVATE_READ },
  events: { query: '', expect: AUTHENTICATED },
};

/** A request of group A for one CPU core on host 1's kind of host. */
function smallRequest(w: World, mode: 'AUTOMATIC' | 'APPROVAL' | 'DIRECT'): Record<string, unknown> {
  return { groupId: w.groupA, mode, resources: [{ type: 'CPU', amount: 1, unit: 'CORES' }], ...(mode === 'DIRECT' ? { hostIds: [w.host1] } : {}) };
}

/** A new small share of a new group on `hostId` (default host 2), granted by the site admin. */
async function freshShare(w: World, t: TestGateway, hostId = w.host2): Promise<string> {
  const groupId = (await t.ok('mutation ($i: CreateGroupInput!) { createGroup(input: $i) { id } }', { i: { slug: `r-${unique()}`, name: 'r' } })).createGroup.id;
  return (await t.ok('mutation ($i: GrantShareInput!) { grantShare(input: $i) { id } }', { i: { hostId, groupId, kind: 'CUSTOM', quotas: { CPU: 0.01 } } })).grantShare.id;
}

/** A host of a group of its own (one core of CPU), made once, that exchanges offer capacity on. */
let offeringHost: Promise<{ groupId: string; hostId: string }> | null = null;

/**
 * A new need of group A for a hundredth of a core and an offer of as much on another group's host
 * (made by the site admin); with `needOfOther`, a need of a new group instead (for group A to grant).
 */
async function freshExchange(w: World, t: TestGateway, needOfOther = false): Promise<{ offerId: string; needId: string }> {
  offeringHost ??= (async () => {
    const groupId = (await t.ok('mutation ($i: CreateGroupInput!) { createGroup(input: $i) { id } }', { i: { slug: `o-${unique()}`, name: 'o' } })).createGroup.id;
    const hostId = (await t.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: w.site, ownerGroupId: groupId, hostname: `o-${unique()}` } })).createHost.id;
    await t.ok('mutation ($i: CreateResourceInput!) { createResource(input: $i) { id } }', { i: { hostId, type: 'CPU', unit: 'CORES', total: 1 } });
    return { groupId, hostId };
  })();
  const { groupId, hostId } = await offeringHost;
  const wanted = { resourceType: 'CPU', unit: 'CORES', amount: 0.01 };
  const needGroup = needOfOther ? (await t.ok('mutation ($i: CreateGroupInput!) { createGroup(input: $i) { id } }', { i: { slug: `n-${unique()}`, name: 'n' } })).createGroup.id : w.groupA;
  const offerId = (await t.ok('mutation ($i: PublishOfferInput!) { publishOffer(input: $i) { id } }', { i: { groupId, hostId, ...wanted } })).publishOffer.id;
  const needId = (await t.ok('mutation ($i: PublishNeedInput!) { publishNeed(input: $i) { id } }', { i: { groupId: needGroup, ...wanted } })).publishNeed.id;
  return { offerId, needId };
}

/** A new PENDING request of group A (naming `hostIds`, default none), made by the site admin. */
async function pendingRequest(w: World, t: TestGateway, hostIds: string[] = []): Promise<string> {
  return (await t.ok('mutation ($r: AllocationRequestInput!) { allocate(request: $r) { id } }', { r: { ...smallRequest(w, 'APPROVAL'), hostIds } })).allocate.id;
}

/** A new active allocation of group A (one core of C's host, where A has a share), made by the site admin. */
async function freshAllocation(w: World & { fixtures: Fixtures }, t: TestGateway): Promise<string> {
  return (await t.ok('mutation ($r: AllocationRequestInput!) { allocate(request: $r) { allocations { id } } }', { r: { ...smallRequest(w, 'DIRECT'), hostIds: [w.fixtures.hostC], guarantee: 'GUARANTEED' } })).allocate.allocations[0].id;
}

/** A new environment of group A in `status` (CREATED or RUNNING) on `hostId` (default host 1), made by the site admin. */
async function freshEnvironment(w: World & { fixtures: Fixtures }, t: TestGateway, status: 'CREATED' | 'RUNNING', hostId = w.host1): Promise<{ id: string }> {
  const created = (await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: w.groupA, hostId, imageId: w.fixtures.fakeImage, name: `f-${unique()}` } })).createEnvironment;
  await t.gateway.services.operations.settled(created.operation.id);
  if (status === 'RUNNING') await t.gateway.services.operations.settled((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: created.environment.id })).startEnvironment.id);
  return { id: created.environment.id };
}

/** A snapshot just taken of the fixture environment: its environment id and name. */
async function takenSnapshot(w: World & { fixtures: Fixtures }, t: TestGateway): Promise<{ environmentId: string; n: string }> {
  const n = `s-${unique()}`;
  const op = (await t.ok('mutation ($e: ID!, $n: String!) { createSnapshot(environmentId: $e, name: $n) { id } }', { e: w.fixtures.environment, n })).createSnapshot.id;
  await t.gateway.services.operations.settled(op);
  return { environmentId: w.fixtures.environment, n };
}

/** A new empty host of `ownerGroupId` (default group A) on `siteId` (default the world's site), made by the site admin. */
async function freshHost(w: World, t: TestGateway, siteId = w.site, ownerGroupId = w.groupA): Promise<string> {
  return (await t.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId, ownerGroupId, hostname: `r-${unique()}` } })).createHost.id;
}

/** The group a role's token belongs to (null: anonymous or site admin). */
function groupOf(w: World & { fixtures: Fixtures }, role: Role): string | null {
  if (role === 'anonymous' || role === 'siteAdmin') return null;
  if (role.startsWith('other')) return w.groupB;
  if (role.startsWith('owner')) return w.fixtures.groupC;
  return w.groupA;
}

/** Every outcome of a rule: the roles it leaves out answer as `otherGroup`. */
function outcomes(rule: Rule): Record<Role, Outcome> {
  return Object.fromEntries(ROLES.map((r) => [r, rule[r] ?? rule.otherGroup])) as Record<Role, Outcome>;
}

/** The value at a dotted path of the variables. */
function at(vars: Record<string, unknown>, path: string): unknown {
  return path.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], vars);
}

/** A copy of the variables with the value at a dotted path replaced. */
function replaced(vars: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const [head, ...rest] = path.split('.');
  return { ...vars, [head!]: rest.length ? replaced(vars[head!] as Record<string, unknown>, rest.join('.'), value) : value };
}

/** Names shorter than this are not scanned for (they occur in ordinary words). */
const MIN_SECRET = 6;

/**
 * The ids and names of every group's private objects (environments, layers, allocations, replicas,
 * replication policies, tokens) that `group` may not see; the environments on hosts `group`
 * governs are seen by its admins (`ownerAdmin`).
 */
async function secretsFor(t: TestGateway, role: Role, w: World & { fixtures: Fixtures }): Promise<string[]> {
  const group = groupOf(w, role);
  const rows: Array<{ v: string; seen: boolean }> = await t.gateway.dataSource.query(
    `SELECT v, ($2 AND s.host IS NOT NULL AND s.host IN (SELECT h.id FROM host h JOIN site t ON t.id = h."siteId" WHERE h."ownerGroupId" = $1::uuid OR t."ownerGroupId" = $1::uuid)) AS seen FROM (
       SELECT e."groupId" g, unnest(ARRAY[e.id::text, e.name]) v, e."hostId" host FROM environment e
       UNION ALL SELECT l."groupId", unnest(ARRAY[l.id::text, l.name]), NULL FROM layer l WHERE l.kind <> 'MACHINE'
       UNION ALL SELECT a."groupId", a.id::text, NULL FROM allocation a
       UNION ALL SELECT r."groupId", r.id::text, NULL FROM replica r
       UNION ALL SELECT p."groupId", unnest(ARRAY[p.id::text, p.name]), NULL FROM replication_policy p
       UNION ALL SELECT k."groupId", unnest(ARRAY[k.id::text, k.name]), NULL FROM api_token k WHERE k."groupId" IS NOT NULL
     ) s
     WHERE $1::uuid IS NULL OR s.g <> $1::uuid`,
    [group, role === 'ownerAdmin'],
  );
  // a guest's ZONE layer is named after it: what the host admins see is no secret to them
  const seen = new Set(rows.filter((r) => r.seen).map((r) => r.v));
  return [...new Set(rows.map((r) => r.v).filter((v) => v && v.length >= MIN_SECRET && !seen.has(v)))];
}

/** The secrets that occur in a response but not in the request that got it. */
function leaked(secrets: string[], vars: Record<string, unknown>, response: unknown): string[] {
  const asked = JSON.stringify(vars);
  const answered = JSON.stringify(response);
  return secrets.filter((v) => answered.includes(v) && !asked.includes(v));
}

/** A new replication policy of the fixture environment (to the store, hourly), made by the site admin. */
async function freshPolicy(w: World & { fixtures: Fixtures }, t: TestGateway): Promise<string> {
  return (await t.ok('mutation ($i: CreateReplicationPolicyInput!) { createReplicationPolicy(input: $i) { id } }', { i: { environmentId: w.fixtures.environment, targetKind: 'STORE', schedule: 'every 1 hour', name: `f-${unique()}` } })).createReplicationPolicy.id;
}

describe('authorization matrix', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World & { fixtures: Fixtures };
  const extra: Record<'viewerB' | 'adminB' | 'memberC' | 'adminC', string> = { viewerB: '', adminB: '', memberC: '', adminC: '' };
  const tokenOf = (role: Role): string | null =>
    ({
      anonymous: null,
      viewer: w.tokens.viewerA,
      member: w.tokens.memberA,
      admin: w.tokens.adminA,
      otherViewer: extra.viewerB,
      otherGroup: w.tokens.memberB,
      otherAdmin: extra.adminB,
      ownerMember: extra.memberC,
      ownerAdmin: extra.adminC,
      siteAdmin: t.adminToken,
    })[role];

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db, { RSP_PEER_SITES: 'peer=http://127.0.0.1:9/graphql' });
    const world = await buildWorld(t);
    const layer = (await t.ok('mutation ($i: CreateLayerInput!) { createLayer(input: $i) { id } }', { i: { groupId: world.groupA, kind: 'OS', name: 'alpha-private-layer' } })).createLayer.id;
    const image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: world.groupA, name: 'alpha-private-image', version: '1', technology: 'docker' } })).registerImage.id;
    const op = await t.gateway.services.operations.start({ kind: 'test.done', groupId: world.groupA }, async () => undefined);
    await t.gateway.services.operations.settled(op.id);
    const share = (await t.ok('mutation ($i: GrantShareInput!) { grantShare(input: $i) { id } }', { i: { hostId: world.host1, groupId: world.groupB, kind: 'HALF' } })).grantShare.id;
    const fakeImage = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: world.groupA, name: 'fake', version: '1', technology: 'fake' } })).registerImage.id;
    await t.upload(fakeImage, createRootfsTar({ '/etc/hostname': 'x' }));
    const token = async (groupId: string, role: string, name: string) => (await t.ok('mutation ($i: CreateTokenInput!) { createToken(input: $i) { secret } }', { i: { groupId, role, name } })).createToken.secret as string;
    // group C owns a site and a host where group A has a share
    const groupC = (await t.ok('mutation ($i: CreateGroupInput!) { createGroup(input: $i) { id } }', { i: { slug: 'gamma', name: 'Gamma' } })).createGroup.id;
    Object.assign(extra, { viewerB: await token(world.groupB, 'VIEWER', 'beta-viewer-token'), adminB: await token(world.groupB, 'ADMIN', 'beta-admin-token'), memberC: await token(groupC, 'MEMBER', 'gamma-member-token'), adminC: await token(groupC, 'ADMIN', 'gamma-admin-token') });
    // a token of A named only to be scanned for
    await token(world.groupA, 'VIEWER', 'alpha-secret-token');
    const siteC = (await t.ok('mutation ($i: CreateSiteInput!) { createSite(input: $i) { id } }', { i: { name: 'south', ownerGroupId: groupC } })).createSite.id;
    const hostC = (await t.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: siteC, ownerGroupId: groupC, hostname: 'marvin' } })).createHost.id;
    for (const [type, unit, total] of [['CPU', 'CORES', 256], ['RAM', 'BYTES', 256 * GiB], ['DISK', 'BYTES', 1000 * GiB]] as const) {
      await t.ok('mutation ($i: CreateResourceInput!) { createResource(input: $i) { id } }', { i: { hostId: hostC, type, unit, total } });
    }
    await t.ok('mutation ($i: GrantShareInput!) { grantShare(input: $i) { id } }', { i: { hostId: hostC, groupId: world.groupA, kind: 'HALF' } });
    w = { ...world, fixtures: { layer, image, operation: op.id, share, fakeImage, environment: '', allocation: '', policy: '', replica: '', groupC, siteC, hostC, guest: '' } };
    w.fixtures.allocation = await freshAllocation(w, t);
    w.fixtures.environment = (await freshEnvironment(w, t, 'RUNNING')).id;
    w.fixtures.guest = (await freshEnvironment(w, t, 'RUNNING', hostC)).id;
    w.fixtures.policy = await freshPolicy(w, t);
    const run = await t.gateway.services.operations.settled((await t.ok('mutation ($id: ID!) { replicateNow(policyId: $id) { id } }', { id: w.fixtures.policy })).replicateNow.id);
    w.fixtures.replica = run.result!.replicaId as string;
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test('every Query, Mutation and Subscription field has a rule', () => {
    const fields = (['Query', 'Mutation', 'Subscription'] as const).flatMap((name) => Object.keys((t.gateway.schema.getType(name) as GraphQLObjectType).getFields()));
    const named = Object.keys(MATRIX).map((k) => k.split('#')[0]!);
    expect(fields.filter((f) => !named.includes(f))).toEqual([]);
    expect(named.filter((f) => !fields.includes(f))).toEqual([]);
  });

  test('the leak scan knows the private objects of the other groups', async () => {
    const outsider = await secretsFor(t, 'otherGroup', w);
    for (const v of [w.fixtures.layer, 'alpha-private-layer', w.fixtures.environment, w.fixtures.guest, w.fixtures.allocation, w.fixtures.replica, w.fixtures.policy, 'alpha-secret-token']) expect(outsider).toContain(v);
    const owner = await secretsFor(t, 'ownerAdmin', w);
    expect(owner).toContain(w.fixtures.environment);
    expect(owner).not.toContain(w.fixtures.guest);
    expect(await secretsFor(t, 'member', w)).not.toContain(w.fixtures.environment);
  });

  test("approvalRequests lists what the caller may decide; deciders of another group's request see neither its token nor its allocations", async () => {
    const hostC = w.fixtures.hostC;
    const ask = async (r: Record<string, unknown>, token: string) => (await t.ok('mutation ($r: AllocationRequestInput!) { allocate(request: $r) { id } }', { r }, token)).allocate.id as string;
    const onC = await ask({ ...smallRequest(w, 'APPROVAL'), hostIds: [hostC] }, w.tokens.memberA);
    const onHost1 = await ask({ ...smallRequest(w, 'APPROVAL'), hostIds: [w.host1] }, w.tokens.memberA);
    const anyA = await ask(smallRequest(w, 'APPROVAL'), w.tokens.memberA);
    const anyB = await ask({ ...smallRequest(w, 'APPROVAL'), groupId: w.groupB }, w.tokens.memberB);
    const list = async (token: string) => (await t.ok('{ approvalRequests(first: 500) { totalCount nodes { id groupId requestedBy } } }', {}, token)).approvalRequests as { totalCount: number; nodes: Array<{ id: string; groupId: string; requestedBy: string }> };
    const ids = async (token: string) => (await list(token)).nodes.map((n) => n.id);
    // C governs its host: A's request naming it, and A's naming none (A has a share there)
    expect((await ids(extra.adminC)).sort()).toEqual([onC, anyA].sort());
    // A governs hosts 1 and 2: its requests naming them or none, and B's naming none (B has a share on host 1)
    expect((await ids(w.tokens.adminA)).sort()).toEqual([onHost1, anyA, anyB].sort());
    for (const token of [extra.memberC, extra.adminB, w.tokens.memberA, w.tokens.memberB]) expect(await list(token)).toEqual({ totalCount: 0, nodes: [] });
    expect(await ids(t.adminToken)).toEqual(expect.arrayContaining([onC, onHost1, anyA, anyB]));
    const seen = (await list(extra.adminC)).nodes.find((n) => n.id === onC)!;
    expect(seen).toEqual({ id: onC, groupId: w.groupA, requestedBy: `a token of group ${w.groupA}` });
    // C's admins read and decide it; the allocations placed are A's to see
    expect((await t.ok('query ($id: ID!) { allocationRequest(id: $id) { id status } }', { id: onC }, extra.adminC)).allocationRequest).toEqual({ id: onC, status: 'PENDING' });
    const decided = (await t.ok('mutation ($id: ID!) { approveAllocation(id: $id) { status allocations { id } } }', { id: onC }, extra.adminC)).approveAllocation;
    expect(decided).toEqual({ status: 'PLACED', allocations: [] });
    expect((await t.ok('query ($id: ID!) { allocationRequest(id: $id) { decidedBy allocations { hostId } } }', { id: onC }, w.tokens.viewerA)).allocationRequest).toEqual({ decidedBy: `an admin of group ${w.fixtures.groupC}`, allocations: [{ hostId: hostC }] });
    expect(await ids(extra.adminC)).toEqual([anyA]);
    // decided: no longer C's to read; another group's request naming C's host is NOT_FOUND to A's admins, like a missing one
    expect((await t.gql('query ($id: ID!) { allocationRequest(id: $id) { id } }', { id: onC }, extra.adminC)).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect((await t.gql('mutation ($id: ID!) { rejectAllocation(id: $id, reason: "no") { id } }', { id: anyB }, extra.adminC)).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  /** The outcome of a response, with the error message (the id asked replaced by <id>) when it failed. */
  const answer = (res: { errors?: ReadonlyArray<{ message: string; extensions?: Record<string, unknown> }> }, id: string): string =>
    res.errors?.length ? `${res.errors[0]!.extensions?.code ?? 'NO_CODE'}: ${res.errors[0]!.message.split(id).join('<id>')}` : 'ok';

  // Each field as every role; outsiders' answers are scanned for other groups' private ids and names
  // and, when refused, compared with the answer for an id that does not exist.
  test.each(Object.keys(MATRIX).filter((f) => MATRIX[f]!.query))('%s answers each caller as its rule says and leaks nothing', async (field) => {
    const c = MATRIX[field]!;
    const got: Record<string, Outcome | string> = {};
    const leaks: Record<string, string[]> = {};
    const existence: Record<string, { named: string; missing: string }> = {};
    // The site admin goes last, so its successful writes do not change what the others see.
    for (const role of [...ROLES].sort((a, b) => (a === 'siteAdmin' ? 1 : b === 'siteAdmin' ? -1 : 0))) {
      const vars = c.vars ? await c.vars(w, t, seq, role) : {};
      const res = await t.gql(c.query, vars, tokenOf(role));
      got[role] = res.errors?.length ? String(res.errors[0]!.extensions?.code ?? 'NO_CODE') : 'ok';
      if (role !== 'siteAdmin') {
        const found = leaked(await secretsFor(t, role, w), vars, res);
        if (found.length) leaks[role] = found;
      }
      const path = c.privateVar === undefined ? ('id' in vars ? 'id' : null) : c.privateVar;
      if (path && OUTSIDERS.includes(role) && got[role] !== 'ok' && !c.seenBy?.includes(role)) {
        const named = String(at(vars, path));
        const missing = randomUUID();
        const other = await t.gql(c.query, replaced(vars, path, missing), tokenOf(role));
        if (answer(res, named) !== answer(other, missing)) existence[role] = { named: answer(res, named), missing: answer(other, missing) };
      }
    }
    expect({ got, leaks, existence }).toEqual({ got: outcomes(c.expect), leaks: {}, existence: {} });
  });

  test('operationUpdated delivers only what the subscriber may see', async () => {
    const other = t.ws({ authorization: `Bearer ${w.tokens.memberB}` });
    const sub = collect<{ operationUpdated: { kind: string } }>(other, 'subscription { operationUpdated { kind } }', {}, (e) => e.operationUpdated.kind === 'beta.work', 10_000);
    await sub.ready;
    // Publish until the subscription is live: group A's work first each round, then B's.
    for (let i = 0; i < 50 && !sub.events.some((e) => e.operationUpdated.kind === 'beta.work'); i++) {
      const a = await t.gateway.services.operations.start({ kind: 'alpha.work', groupId: w.groupA }, async () => undefined);
      await t.gateway.services.operations.settled(a.id);
      const b = await t.gateway.services.operations.start({ kind: 'beta.work', groupId: w.groupB }, async () => undefined);
      await t.gateway.services.operations.settled(b.id);
      await new Promise((r) => setTimeout(r, 20));
    }
    const events = await sub.done;
    expect(events.map((e) => e.operationUpdated.kind)).not.toContain('alpha.work');
    expect(events.map((e) => e.operationUpdated.kind)).toContain('beta.work');
  });

  test("Group.storage (usage and quota) is shown to the group's members and site admins, null to the others", async () => {
    const seen: Record<string, unknown> = {};
    for (const role of ROLES) {
      const res = await t.gql('query ($id: ID!) { group(id: $id) { storage { limitBytes usedBytes } } }', { id: w.groupA }, tokenOf(role));
      seen[role] = res.errors?.length ? res.errors[0]!.extensions?.code : res.data!.group.storage === null ? null : 'shown';
    }
    expect(seen).toEqual({ anonymous: 'UNAUTHENTICATED', viewer: 'shown', member: 'shown', admin: 'shown', otherViewer: null, otherGroup: null, otherAdmin: null, ownerMember: null, ownerAdmin: null, siteAdmin: 'shown' });
  });

  test('a graphql-ws connection with a bad token is refused', async () => {
    const bad = t.ws({ authorization: 'Bearer rsp_nope' });
    const sub = collect(bad, 'subscription { operationUpdated { id } }', {}, () => true, 5000);
    await expect(sub.done).rejects.toThrow(/connection closed: 4403 Forbidden/);
  });
});
