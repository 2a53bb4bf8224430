import { Subschema } from '@graphql-tools/delegate';
import type { ExecutionRequest, Executor } from '@graphql-tools/utils';
import { DocumentNode, execute, GraphQLSchema, parse, print, validate } from 'graphql';
import type { FederationContext } from '../../../gateway/federation/context';
import { federatedSchema } from '../../../gateway/federation/federated-schema';
import { siteSchema } from '../../../gateway/federation/sites';

const schema = siteSchema();
/** What the sites answer: a host and a replica kept at site b, whatever the id asked. */
const rootValue = {
  host: ({ id }: { id: string }) => ({ id, hostname: `host-${id}`, state: 'UP', drivers: ['fake'] }),
  replica: ({ id }: { id: string }) => ({ id, peerSite: 'b', peerReplicaId: `r-${id}` }),
};

/** A federation over sites a and b whose requests are recorded and answered by executing them against the site schema. */
function federation(): { schema: GraphQLSchema; sent: ExecutionRequest[] } {
  const sent: ExecutionRequest[] = [];
  const sites = ['a', 'b'].map(
    (name) =>
      new Subschema({
        name,
        schema,
        batch: false,
        executor: (async (request: ExecutionRequest) => {
          sent.push(request);
          const errors = validate(schema, request.document);
          if (errors.length) return { errors };
          return execute({ schema, document: request.document, variableValues: request.variables, rootValue });
        }) as Executor,
      }),
  );
  return { schema: federatedSchema(sites, schema), sent };
}

const context = (): FederationContext => ({ group: { name: 'alliance', links: { a: 'ta', b: 'tb' } }, siteErrors: [] });

/** The same parsed document with other variables: a plan made for the first request, used by the second. */
const cases: Array<{ name: string; document: DocumentNode; first: Record<string, unknown>; second: Record<string, unknown> }> = [
  { name: 'a global id in a variable', document: parse('query ($id: ID!) { host(id: $id) { id hostname federationSite } }'), first: { id: 'a:h1' }, second: { id: 'b:h2' } },
  {
    name: 'aliases, a fragment and a directive on a variable',
    document: parse('query Q($id: ID!, $name: Boolean!) { h: host(id: $id) { ...F n: hostname @include(if: $name) } } fragment F on Host { id state drivers }'),
    first: { id: 'a:h1', name: true },
    second: { id: 'a:h3', name: false },
  },
  { name: "a site's own id, then a global one (its variable sent as it is, then not)", document: parse('query ($id: ID!) { host(id: $id) { id } }'), first: { id: 'h1' }, second: { id: 'b:h2' } },
  { name: 'a field the federation needs another field of the site for', document: parse('query ($id: ID!) { replica(id: $id) { id peerReplicaId } }'), first: { id: 'a:r1' }, second: { id: 'a:r2' } },
  { name: 'an id in the document', document: parse('{ host(id: "b:h1") { id federationSite } }'), first: {}, second: {} },
];

describe('delegation plans', () => {
  test.each(cases)('a request by a kept plan is the one GraphQL Tools makes for it, and so is its answer: $name', async ({ document, first, second }) => {
    const kept = federation();
    await execute({ schema: kept.schema, document, variableValues: first, contextValue: context() });
    kept.sent.length = 0;
    const byPlan = await execute({ schema: kept.schema, document, variableValues: second, contextValue: context() });
    // A fresh federation: its first request of the document is GraphQL Tools' own.
    const fresh = federation();
    const byTools = await execute({ schema: fresh.schema, document, variableValues: second, contextValue: context() });
    expect(kept.sent.length).toBeGreaterThan(0);
    expect(kept.sent.map((r) => [print(r.document), r.variables])).toEqual(fresh.sent.map((r) => [print(r.document), r.variables]));
    expect(byPlan).toEqual(byTools);
    expect(byPlan.errors).toBeUndefined();
  });

  test('ids come back global and objects say their site, through a kept plan too', async () => {
    const { schema: federated } = federation();
    const document = parse('query ($id: ID!) { replica(id: $id) { id peerReplicaId federationSite } }');
    for (const id of ['a:r1', 'a:r2']) {
      const result = await execute({ schema: federated, document, variableValues: { id }, contextValue: context() });
      expect(result).toEqual({ data: { replica: { id, peerReplicaId: `b:r-${id.slice(2)}`, federationSite: 'a' } } });
    }
  });
});
