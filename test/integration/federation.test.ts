import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';

describe('federation', () => {
  let db: TestDatabase;
  let t: TestGateway;
  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db);
  });
  afterAll(async () => {
    await t.close();
    await db.drop();
  });

  test('the subgraph SDL composes into a supergraph with another service', async () => {
    const { _service } = await t.ok('{ _service { sdl } }');
    // Another service extends Operation, as an audit service would.
    const result = composeServices([
      { name: 'site-a', url: 'http://site-a/graphql', typeDefs: parse(_service.sdl) },
      {
        name: 'audit',
        url: 'http://audit/graphql',
        typeDefs: parse(`
          extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
          type Operation @key(fields: "id") { id: ID! auditedBy: String }
        `),
      },
    ]);
    expect(result.errors ?? []).toEqual([]);
    expect(result.supergraphSdl).toMatch(/auditedBy: String/);
    expect(result.supergraphSdl).toMatch(/@join__type\(graph: SITE_A, key: "id"\)/);
  });

  test('two sites serve the same schema, which Apollo composition refuses: rsp federate joins sites', async () => {
    const { _service } = await t.ok('{ _service { sdl } }');
    const result = composeServices(['site-a', 'site-b'].map((name) => ({ name, url: `http://${name}/graphql`, typeDefs: parse(_service.sdl) })));
    expect(result.errors?.length).toBeGreaterThan(0);
    expect(new Set(result.errors!.map((e) => e.extensions?.code))).toEqual(new Set(['INVALID_FIELD_SHARING']));
  });
});
