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
});
