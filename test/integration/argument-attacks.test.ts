import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, World } from '../helpers/scenario';
import { MAX_JSON_CHARS, MAX_JSON_DEPTH } from '../../schema/common/bounded-json';

/** `{"a":{"a":…1…}}`, `levels` objects deep, as JSON text (JSON.stringify itself overflows the stack past some thousands). */
function nestedJson(levels: number): string {
  return `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
}

/**
 * Arguments as an attacker sends them, past what any client would: JSON nested a hundred
 * thousand levels or megabytes long, out-of-range numbers and dates, ids that are no ids. Each is
 * refused with a caller's code (BAD_USER_INPUT, NOT_FOUND, GRAPHQL_VALIDATION_FAILED), never an
 * internal error, and nothing is stored.
 */
describe('arguments as an attacker sends them', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db);
    w = await buildWorld(t);
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  /** POSTs a body written as text, so a value may hold what JSON.stringify cannot write. */
  const post = async (query: string, variablesJson: string) => {
    const res = await fetch(t.gateway.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${t.adminToken}` },
      body: `{"query":${JSON.stringify(query)},"variables":${variablesJson}}`,
    });
    return { status: res.status, ...((await res.json()) as { data?: unknown; errors?: Array<{ message: string; extensions?: { code?: string } }> }) };
  };
  const resourceCount = async () => Number((await t.gateway.dataSource.query('SELECT count(*)::int AS n FROM resource'))[0].n);
  const CREATE_RESOURCE = 'mutation ($i: CreateResourceInput!) { createResource(input: $i) { id } }';

  test.each([
    ['nested 100,000 levels', () => nestedJson(100_000), /JSON input refused: it is nested more than 32 levels deep/],
    [`nested ${MAX_JSON_DEPTH + 1} levels`, () => nestedJson(MAX_JSON_DEPTH + 1), /nested more than 32 levels deep/],
    ['a 1 MiB string', () => JSON.stringify({ note: 'x'.repeat(1024 * 1024) }), /JSON input refused: it is longer than 65536 characters as JSON/],
    ['100,000 keys', () => JSON.stringify(Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, i]))), /longer than 65536 characters/],
  ])("a resource's attributes %s are BAD_USER_INPUT, and nothing is stored", async (_what, attributes, message) => {
    const before = await resourceCount();
    const res = await post(CREATE_RESOURCE, `{"i":{"hostId":"${w.host1}","type":"GPU","unit":"COUNT","total":1,"attributes":${attributes()}}}`);
    expect(res.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(res.errors?.[0]?.message).toMatch(message);
    expect(res.errors?.[0]?.message.length).toBeLessThan(4100);
    expect(await resourceCount()).toBe(before);
  });

  test('JSON within the bounds is taken as it is', async () => {
    // The attributes object is the first level.
    const deepest = JSON.parse(nestedJson(MAX_JSON_DEPTH - 1));
    const created = await t.ok<{ createResource: { id: string; attributes: unknown } }>('mutation ($i: CreateResourceInput!) { createResource(input: $i) { id attributes } }', { i: { hostId: w.host1, type: 'FPGA', unit: 'COUNT', total: 1, attributes: { deepest, note: 'x'.repeat(MAX_JSON_CHARS - 2000) } } });
    expect(created.createResource.attributes).toEqual({ deepest, note: 'x'.repeat(MAX_JSON_CHARS - 2000) });
  });

  test('every JSON input is bounded: a filter, a config, a layer property (as a variable and written in the document)', async () => {
    const deep = nestedJson(100_000);
    const filter = await post('query ($a: JSONObject) { resources(attributes: $a) { totalCount } }', `{"a":${deep}}`);
    expect(filter.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const config = await post('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } } }', `{"i":{"groupId":"${w.groupA}","name":"deep","imageId":"${w.groupA}","config":${deep}}}`);
    expect(config.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(config.errors?.[0]?.message).toMatch(/nested more than 32 levels/);
    const property = await post('mutation ($i: CreateLayerInput!) { createLayer(input: $i) { id } }', `{"i":{"groupId":"${w.groupA}","kind":"OS","name":"n","properties":[{"key":"k","value":${deep}}]}}`);
    expect(property.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const literal = await t.gql(`mutation { createLayer(input: { groupId: "${w.groupA}", kind: "OS", name: "n", properties: [{ key: "k", value: ${'{ a: '.repeat(40)}1${' }'.repeat(40)} }] }) { id } }`);
    expect(literal.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(literal.errors?.[0]?.message).toMatch(/nested more than 32 levels/);
  });
  /** `"k0":0,"k1":1,…`: `count` keys as the inside of a JSON object. */
  const manyKeys = (count: number) => Array.from({ length: count }, (_, i) => `"k${i}":${i}`).join(',');

  test('an input object of 100,000 unknown fields is BAD_USER_INPUT naming the first and how many more, over HTTP and graphql-ws, and nothing is stored', async () => {
    const before = await resourceCount();
    const res = await post(CREATE_RESOURCE, `{"i":{"hostId":"${w.host1}","type":"GPU","unit":"COUNT","total":1,${manyKeys(100_000)}}}`);
    expect(res.status).toBe(400);
    expect(res.errors).toEqual([{ message: 'Variable "$i" got an invalid value at "i.k0": Field "k0" is not defined by type "CreateResourceInput" (and 99999 more unknown fields)', extensions: { code: 'BAD_USER_INPUT', details: { variable: 'i', path: 'i.k0' } } }]);
    const client = t.ws();
    const refusal = await new Promise<Array<{ message: string; extensions?: { code?: string } }>>((resolve, reject) => {
      client.subscribe({ query: CREATE_RESOURCE, variables: JSON.parse(`{"i":{"hostId":"${w.host1}","type":"GPU","unit":"COUNT","total":1,${manyKeys(100_000)}}}`) }, { next: (v) => reject(new Error(`unexpected result ${JSON.stringify(v)}`)), error: (e) => resolve(e as Array<{ message: string; extensions?: { code?: string } }>), complete: () => reject(new Error('completed without an error')) });
    });
    expect(refusal[0]).toMatchObject({ message: expect.stringContaining('Field "k0" is not defined by type "CreateResourceInput" (and 99999 more unknown fields)'), extensions: { code: 'BAD_USER_INPUT' } });
    expect(await resourceCount()).toBe(before);
  });

  test('an object or a list where a String, an ID or an enum is expected is BAD_USER_INPUT naming its place, without quoting it', async () => {
    const asString = await post('mutation ($c: [String!]!, $id: ID!) { execEnvironment(command: $c, id: $id) { exitCode } }', `{"id":"${w.groupA}","c":["ls",{${manyKeys(50_000)}}]}`);
    expect(asString.errors).toEqual([{ message: 'Variable "$c" got an invalid value at "c[1]": String cannot represent an object', extensions: { code: 'BAD_USER_INPUT', details: { variable: 'c', path: 'c[1]' } } }]);
    const asId = await post('query ($id: ID!) { operation(id: $id) { id } }', `{"id":[[1,2],{"a":1}]}`);
    expect(asId.errors?.[0]).toMatchObject({ message: 'Variable "$id" got an invalid value at "id": ID cannot represent a list', extensions: { code: 'BAD_USER_INPUT' } });
    const asEnum = await post(CREATE_RESOURCE, `{"i":{"hostId":"${w.host1}","type":"GPU","unit":{${manyKeys(1000)}},"total":1}}`);
    expect(asEnum.errors?.[0]).toMatchObject({ message: expect.stringMatching(/^Variable "\$i" got an invalid value at "i\.unit": \w+ cannot represent an object$/), extensions: { code: 'BAD_USER_INPUT' } });
    // What graphql-js answers itself still reads as before: a value of the wrong kind, a missing field.
    const wrongKind = await post(CREATE_RESOURCE, `{"i":{"hostId":"${w.host1}","type":"GPU","unit":"COUNT","total":"many"}}`);
    expect(wrongKind.errors?.[0]).toMatchObject({ message: expect.stringContaining('Float cannot represent non numeric value: "many"'), extensions: { code: 'BAD_USER_INPUT' } });
  });

  test('operations(targetId:) that is no id is BAD_USER_INPUT, as every other id; an id and the gateway store\'s target are taken', async () => {
    for (const targetId of ['web', '', `${'x'.repeat(5000)}`, "' OR 1=1 --"]) {
      const res = await t.gql('query ($t: String) { operations(targetId: $t) { totalCount } }', { t: targetId });
      expect(res.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(res.errors?.[0]?.message).toMatch(/^Not an id: ".*" \(ids are UUIDs\)$/);
      expect(res.errors?.[0]?.message.length).toBeLessThan(200);
    }
    expect((await t.ok<{ operations: { totalCount: number } }>('query ($t: String) { operations(targetId: $t) { totalCount } }', { t: w.groupA })).operations.totalCount).toBe(0);
    expect((await t.ok<{ operations: { totalCount: number } }>('{ operations(targetType: "ArtifactStore", targetId: "gateway") { totalCount } }')).operations.totalCount).toBe(0);
  });
  test('a date PostgreSQL cannot keep (year 0) is BAD_USER_INPUT, not an internal error', async () => {
    const res = await t.gql('query ($h: ID!, $f: DateTimeISO!) { metricHistory(targetType: HOST, targetId: $h, metric: "cpu.usage", from: $f, step: 2000000000) { points { at } } }', { h: w.host1, f: '0000-01-01T00:00:00.000Z' });
    expect(res.errors?.[0]).toMatchObject({ message: expect.stringMatching(/^Date out of range: /), extensions: { code: 'BAD_USER_INPUT' } });
  });
});
