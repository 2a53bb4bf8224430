import { gzipSync } from 'node:zlib';
import { createTestDatabase, DATABASE_KINDS, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';

const NUL = '\u0000';
const LONE = '\uD800';
const SOME_ID = '00000000-0000-4000-8000-000000000000';

/** An operation with a string unfit for storage somewhere in it, and the path its refusal must name. */
interface Case {
  name: string;
  query: string;
  variables?: Record<string, unknown>;
  path: string;
  problem: RegExp;
}

const NUL_PROBLEM = /contains a NUL character/;
const LONE_PROBLEM = /lone UTF-16 surrogate/;

/** Literals are written with GraphQL escapes (`\u0000`), variables carry the characters themselves. */
const CASES: Case[] = [
  { name: 'a group slug (literal)', query: 'mutation { createGroup(input: { slug: "a\\u0000b", name: "x" }) { id } }', path: 'createGroup(input.slug)', problem: NUL_PROBLEM },
  { name: 'a group name (variable)', query: 'mutation ($i: CreateGroupInput!) { createGroup(input: $i) { id } }', variables: { i: { slug: 'ok', name: `x${NUL}` } }, path: '$i.name', problem: NUL_PROBLEM },
  { name: 'a group note, deep in a list (variable)', query: 'mutation ($i: CreateGroupInput!) { createGroup(input: $i) { id } }', variables: { i: { slug: 'ok', name: 'ok', financial: [{ kind: 'budget', description: `y${LONE}`, amount: 1, unit: 'EUR' }] } }, path: '$i.financial[0].description', problem: LONE_PROBLEM },
  { name: 'a token name (variable, lone surrogate)', query: 'mutation ($i: CreateTokenInput!) { createToken(input: $i) { secret } }', variables: { i: { name: `t${LONE}`, siteAdmin: true } }, path: '$i.name', problem: LONE_PROBLEM },
  { name: 'an id (literal)', query: `{ operation(id: "${SOME_ID}\\u0000") { id } }`, path: 'operation(id)', problem: NUL_PROBLEM },
  { name: 'an id (variable)', query: 'query ($id: ID!) { host(id: $id) { id } }', variables: { id: `${SOME_ID}${NUL}` }, path: '$id', problem: NUL_PROBLEM },
  { name: 'a site name (literal)', query: `mutation { createSite(input: { name: "n\\u0000", ownerGroupId: "${SOME_ID}" }) { id } }`, path: 'createSite(input.name)', problem: NUL_PROBLEM },
  { name: 'a host property key (variable)', query: 'mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', variables: { i: { siteId: SOME_ID, ownerGroupId: SOME_ID, hostname: 'h', properties: [{ key: `k${NUL}`, value: 1 }] } }, path: '$i.properties[0].key', problem: NUL_PROBLEM },
  { name: 'a layer key (literal)', query: `mutation { createLayer(input: { groupId: "${SOME_ID}", kind: "OS", name: "n", properties: [{ key: "release\\u0000", value: 12 }] }) { id } }`, path: 'createLayer(input.properties[0].key)', problem: NUL_PROBLEM },
  { name: 'a JSON value (variable)', query: 'mutation ($i: CreateResourceInput!) { createResource(input: $i) { id } }', variables: { i: { hostId: SOME_ID, type: 'RAM', unit: 'BYTES', total: 1, attributes: { note: [`a${NUL}`] } } }, path: '$i.attributes.note[0]', problem: NUL_PROBLEM },
  { name: 'a JSON object key (variable)', query: 'mutation ($i: CreateResourceInput!) { createResource(input: $i) { id } }', variables: { i: { hostId: SOME_ID, type: 'RAM', unit: 'BYTES', total: 1, attributes: { [`k${NUL}`]: true } } }, path: '$i.attributes["k\\u0000"]', problem: /has a key that contains a NUL character/ },
  { name: 'a JSON value (literal)', query: `mutation { createLayer(input: { groupId: "${SOME_ID}", kind: "OS", name: "n", properties: [{ key: "k", value: { deep: ["\\u0000"] } }] }) { id } }`, path: 'createLayer(input.properties[0].value.deep[0])', problem: NUL_PROBLEM },
  { name: 'a volume mountPath (variable)', query: 'mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { operation { id } } }', variables: { i: { groupId: SOME_ID, name: 'e', imageId: SOME_ID, volumes: [{ name: 'v', mountPath: `/data${NUL}` }] } }, path: '$i.volumes[0].mountPath', problem: NUL_PROBLEM },
  { name: 'a command word (literal)', query: `mutation { execEnvironment(id: "${SOME_ID}", command: ["ls", "\\u0000"]) { exitCode } }`, path: 'execEnvironment(command[1])', problem: NUL_PROBLEM },
  { name: 'a filter (literal)', query: '{ hosts(technology: "lxc\\u0000") { totalCount } }', path: 'hosts(technology)', problem: NUL_PROBLEM },
  { name: 'a filter (variable)', query: 'query ($t: String) { images(technology: $t) { id } }', variables: { t: `docker${LONE}` }, path: '$t', problem: LONE_PROBLEM },
  { name: 'a cursor (variable)', query: 'query ($after: String) { environments(after: $after) { totalCount } }', variables: { after: NUL }, path: '$after', problem: NUL_PROBLEM },
  { name: "a variable's default value", query: 'query ($t: String = "a\\u0000") { images(technology: $t) { id } }', path: 'default of $t', problem: NUL_PROBLEM },
  { name: 'an offer (variable)', query: 'mutation ($i: PublishOfferInput!) { publishOffer(input: $i) { id } }', variables: { i: { groupId: SOME_ID, resourceType: 'CPU', unit: 'CORES', amount: 1, terms: `free${NUL}` } }, path: '$i.terms', problem: NUL_PROBLEM },
  { name: 'a reason (literal)', query: `mutation { rejectAllocation(id: "${SOME_ID}", reason: "no\\u0000") { id } }`, path: 'rejectAllocation(reason)', problem: NUL_PROBLEM },
  { name: 'an agent id (variable)', query: 'mutation ($a: String!) { createAgentJoinToken(agentId: $a) { token } }', variables: { a: `agent${NUL}` }, path: '$a', problem: NUL_PROBLEM },
];

function inputGuardSuite(kind: 'pglite' | 'postgres') {
  let db: TestDatabase;
  let t: TestGateway;
  let groupsBefore: number;

  const groupCount = async () => Number((await t.gateway.dataSource.query('SELECT count(*)::int AS n FROM "group"'))[0].n);

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    t = await startTestGateway(db);
    groupsBefore = await groupCount();
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test.each(CASES.map((c) => [c.name, c] as const))('POST: %s is refused with BAD_USER_INPUT naming its path', async (_name, c) => {
    const res = await t.gql(c.query, c.variables);
    expect(res.status).toBe(400);
    expect(res.data ?? null).toBeNull();
    expect(res.errors).toHaveLength(1);
    const [error] = res.errors!;
    expect(error!.extensions?.code).toBe('BAD_USER_INPUT');
    expect(error!.message).toContain(`${c.path} `);
    expect(error!.message).toMatch(c.problem);
    expect(error!.extensions?.details?.problems[0]).toEqual({ path: c.path, problem: expect.stringMatching(c.problem) });
  });

  test('nothing ran: no group was created by the refused mutations', async () => {
    expect(await groupCount()).toBe(groupsBefore);
  });

  test('every string unfit for storage in one request is named', async () => {
    const res = await t.gql('mutation ($i: CreateGroupInput!) { createGroup(input: $i) { id } }', { i: { slug: `s${NUL}`, name: `n${LONE}`, techHosts: ['ok', `x${NUL}`] } });
    expect(res.errors?.[0]?.extensions?.details?.problems.map((p: { path: string }) => p.path)).toEqual(['$i.slug', '$i.name', '$i.techHosts[1]']);
  });

  test('text that is fine is stored as given: surrogate pairs, U+FFFD, other control characters', async () => {
    const name = 'Café 🚀 \uFFFD tab\there';
    const created = await t.ok<{ createGroup: { id: string; name: string } }>('mutation ($i: CreateGroupInput!) { createGroup(input: $i) { id name } }', { i: { slug: 'fine-text', name } });
    expect(created.createGroup.name).toBe(name);
    expect((await t.ok<{ group: { name: string } }>('query ($id: ID!) { group(id: $id) { name } }', { id: created.createGroup.id })).group.name).toBe(name);
  });

  test('the express route (GET, compressed POST) refuses the same way', async () => {
    const literal = await fetch(`${t.gateway.graphqlUrl}?query=${encodeURIComponent('{ hosts(technology: "a\\u0000") { totalCount } }')}`, { headers: { accept: 'application/json', authorization: `Bearer ${t.adminToken}`, 'apollo-require-preflight': 'true' } });
    expect(literal.status).toBe(400);
    expect((await literal.json()).errors[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' }, message: expect.stringContaining('hosts(technology) contains a NUL character') });

    const variables = await fetch(`${t.gateway.graphqlUrl}?query=${encodeURIComponent('query ($t: String) { images(technology: $t) { id } }')}&variables=${encodeURIComponent(JSON.stringify({ t: NUL }))}`, { headers: { accept: 'application/json', authorization: `Bearer ${t.adminToken}`, 'apollo-require-preflight': 'true' } });
    expect(variables.status).toBe(400);
    expect((await variables.json()).errors[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' }, message: expect.stringContaining('$t contains a NUL character') });

    const gzipped = await fetch(t.gateway.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', authorization: `Bearer ${t.adminToken}` },
      body: new Uint8Array(gzipSync(JSON.stringify({ query: 'mutation ($i: CreateGroupInput!) { createGroup(input: $i) { id } }', variables: { i: { slug: 'z', name: `z${NUL}` } } }))),
    });
    expect(gzipped.status).toBe(400);
    expect((await gzipped.json()).errors[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' }, message: expect.stringContaining('$i.name contains a NUL character') });
  });

  test('a body that is not UTF-8 is a 400 BAD_REQUEST on the fast path and the express route', async () => {
    const bytes = Buffer.concat([Buffer.from('{"query":"{ hosts(technology: \\"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('\\") { totalCount } }"}')]);
    const plain = await fetch(t.gateway.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${t.adminToken}` }, body: new Uint8Array(bytes) });
    expect(plain.status).toBe(400);
    expect((await plain.json()).errors[0]).toEqual({ message: 'The request body is not valid UTF-8', extensions: { code: 'BAD_REQUEST' } });
    const gzipped = await fetch(t.gateway.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', authorization: `Bearer ${t.adminToken}` }, body: new Uint8Array(gzipSync(bytes)) });
    expect(gzipped.status).toBe(400);
    expect((await gzipped.json()).errors[0]).toEqual({ message: 'The request body is not valid UTF-8', extensions: { code: 'BAD_REQUEST' } });
  });

  test('over WebSocket: subscriptions and queries are refused with an error message, before they start', async () => {
    const client = t.ws();
    const refusal = (payload: { query: string; variables?: Record<string, unknown> }) =>
      new Promise<Array<{ message: string; extensions?: { code?: string } }>>((resolve, reject) => {
        client.subscribe(payload, { next: (v) => reject(new Error(`unexpected result ${JSON.stringify(v)}`)), error: (e) => resolve(e as Array<{ message: string; extensions?: { code?: string } }>), complete: () => reject(new Error('completed without an error')) });
      });
    const variable = await refusal({ query: 'subscription ($id: ID) { operationUpdated(id: $id) { id } }', variables: { id: `x${NUL}` } });
    expect(variable[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' }, message: expect.stringContaining('$id contains a NUL character') });
    const literal = await refusal({ query: 'subscription { hostMetrics(hostId: "\\u0000") { hostId } }' });
    expect(literal[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' }, message: expect.stringContaining('hostMetrics(hostId) contains a NUL character') });
    const query = await refusal({ query: 'mutation ($i: CreateGroupInput!) { createGroup(input: $i) { id } }', variables: { i: { slug: 'w', name: `w${LONE}` } } });
    expect(query[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' }, message: expect.stringContaining('$i.name contains a lone UTF-16 surrogate') });
    expect(await groupCount()).toBe(groupsBefore + 1);
  });
}

describe.each(DATABASE_KINDS)('input text guard on %s', (kind) => inputGuardSuite(kind));
