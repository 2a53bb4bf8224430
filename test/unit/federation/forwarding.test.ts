import { Subschema } from '@graphql-tools/delegate';
import { createGraphQLError, type ExecutionRequest, type Executor } from '@graphql-tools/utils';
import { DocumentNode, execute, GraphQLError, parse, print, validate } from 'graphql';
import type { FederationContext } from '../../../gateway/federation/context';
import { federation } from '../../../gateway/federation/federated-schema';
import { siteSchema } from '../../../gateway/federation/sites';

const schema = siteSchema();
/** What the sites answer: hosts with resources, a replica kept at site b; `missing` is NOT_FOUND. */
const rootValue = {
  host: ({ id }: { id: string }) => {
    if (id === 'missing') throw new GraphQLError(`Host not found: ${id}`, { extensions: { code: 'NOT_FOUND' } });
    return { id, siteId: `s-${id}`, ownerGroupId: 'g1', layerId: null, hostname: `host-${id}`, state: 'UP', drivers: ['fake'], resources: [{ id: `r-${id}`, hostId: id, type: 'SLOT', total: 4 }] };
  },
  replica: ({ id }: { id: string }) => ({ id, peerSite: 'b', peerReplicaId: `r-${id}` }),
};

/** A federation over sites a and b (b down when asked), each request to a site recorded. */
function sites(options: { bDown?: boolean } = {}) {
  const sent: Array<{ site: string; request: ExecutionRequest }> = [];
  const subschemas = ['a', 'b'].map(
    (name) =>
      new Subschema({
        name,
        schema,
        batch: false,
        executor: (async (request: ExecutionRequest) => {
          sent.push({ site: name, request });
          if (name === 'b' && options.bDown) return { errors: [createGraphQLError('connect ECONNREFUSED 127.0.0.1:9', { extensions: { code: 'SUBREQUEST_HTTP_ERROR' } })] };
          const errors = validate(schema, request.document);
          if (errors.length) return { errors };
          // As it comes over HTTP (site-http): JSON, its errors made GraphQL errors again.
          const answer = JSON.parse(JSON.stringify(await execute({ schema, document: request.document, variableValues: request.variables, rootValue })));
          return answer.errors ? { ...answer, errors: answer.errors.map(({ message, ...rest }: { message: string }) => createGraphQLError(message, rest)) } : answer;
        }) as Executor,
      }),
  );
  return { ...federation(subschemas, schema), sent };
}

const context = (links: Record<string, string> = { a: 'ta', b: 'tb' }, site?: string): FederationContext => ({ group: { name: 'alliance', links }, siteErrors: [], ...(site ? { site } : {}) });

const cases: Array<{ name: string; query: string; operationName?: string; variables: Record<string, unknown>; forwarded: boolean; links?: Record<string, string>; site?: string; bDown?: boolean }> = [
  { name: 'by a global id', query: 'query ($id: ID!) { host(id: $id) { id hostname state drivers } }', variables: { id: 'b:h1' }, forwarded: true },
  { name: 'ids below, aliases, a fragment', query: 'query Q($id: ID!) { h: host(id: $id) { ...F n: hostname layerId resources { id hostId type total } } } fragment F on Host { id siteId ownerGroupId __typename }', variables: { id: 'a:h2' }, forwarded: true },
  { name: 'NOT_FOUND at the site', query: 'query ($id: ID!) { host(id: $id) { id hostname } }', variables: { id: 'a:missing' }, forwarded: true },
  { name: 'the site down', query: 'query ($id: ID!) { host(id: $id) { id hostname } }', variables: { id: 'b:h1' }, forwarded: true, bDown: true },
  { name: 'federationSite (the site asked without it)', query: 'query ($id: ID!) { host(id: $id) { id federationSite hostname s: federationSite } }', variables: { id: 'b:h1' }, forwarded: true },
  { name: 'federationSite below, alone in an object and in a fragment', query: 'query ($id: ID!) { host(id: $id) { ...F resources { federationSite } } } fragment F on Host { federationSite }', variables: { id: 'a:h1' }, forwarded: true },
  { name: "peerReplicaId (another site's id)", query: 'query ($id: ID!) { replica(id: $id) { id peerReplicaId } }', variables: { id: 'a:r1' }, forwarded: false },
  { name: "a site's own id", query: 'query ($id: ID!) { host(id: $id) { id } }', variables: { id: 'h1' }, forwarded: false },
  { name: 'an id in the document', query: '{ host(id: "b:h1") { id } }', variables: {}, forwarded: false },
  { name: 'a site the group is not linked to', query: 'query ($id: ID!) { host(id: $id) { id } }', variables: { id: 'b:h1' }, forwarded: false, links: { a: 'ta' } },
  { name: 'another site named by x-rsp-site', query: 'query ($id: ID!) { host(id: $id) { id } }', variables: { id: 'b:h1' }, forwarded: false, site: 'a' },
  { name: 'another operation in the document', query: 'query A($id: ID!) { host(id: $id) { id } } query B { hosts { nodes { federationSite } } }', operationName: 'A', variables: { id: 'b:h1' }, forwarded: false },
  { name: 'a directive', query: 'query ($id: ID!) { host(id: $id) { id hostname @skip(if: true) } }', variables: { id: 'b:h1' }, forwarded: false },
];

describe('the by-id fast path', () => {
  test.each(cases)('answers as the stitched schema does, asking the site once: $name', async ({ query, operationName, variables, forwarded, links, site, bDown }) => {
    const document: DocumentNode = parse(query);
    const fast = sites({ bDown });
    expect(validate(fast.schema, document)).toEqual([]);
    const result = await fast.forwarding.execute({ document, operationName, variableValues: variables, contextValue: context(links, site) });
    const stitched = sites({ bDown });
    const expected = await execute({ schema: stitched.schema, document, operationName, variableValues: variables, contextValue: context(links, site) });
    // The same answer, its fields in the same order.
    expect(JSON.stringify(result)).toBe(JSON.stringify(expected));
    // Forwarded: the site got the caller's document (without federationSite), the id stripped of its site, and only once.
    expect(fast.sent.length).toBe(stitched.sent.length);
    const asSent = query.includes('federationSite') ? print(parse(query.replace(/(\w+: )?federationSite/g, '').replace(/\{\s*\}/g, '{ __typename }'))).replace(/\s+/g, ' ') : undefined;
    if (forwarded) {
      expect(fast.sent.map((s) => [s.site, s.request.variables])).toEqual([[String(variables.id).split(':')[0], { id: String(variables.id).split(':')[1] }]]);
      if (asSent) expect(print(fast.sent[0]!.request.document).replace(/\s+/g, ' ')).toBe(asSent);
      else expect(fast.sent[0]!.request.document).toBe(document);
    } else expect(fast.sent.every((s) => s.request.document !== document)).toBe(true);
  });

  test("where one group found a site's own id steers only its own requests: another group's goes to every site it is linked to", async () => {
    const { schema: federated } = sites();
    const ask = (group: string, links: Record<string, string>) =>
      execute({ schema: federated, document: parse('query ($id: ID!) { host(id: $id) { id hostname } }'), variableValues: { id: 'h9' }, contextValue: { group: { name: group, links }, siteErrors: [] } as FederationContext });
    // Both sites have h9: the first in configuration order answers, and is remembered for the group.
    expect((await ask('alliance', { a: 'ta', b: 'tb' })).data?.host).toEqual({ id: 'a:h9', hostname: 'host-h9' });
    // A group linked to b only is not sent to a (nor told "not linked") because another group found h9 there.
    const other = await ask('solo', { b: 'tb2' });
    expect(other.errors).toBeUndefined();
    expect(other.data?.host).toEqual({ id: 'b:h9', hostname: 'host-h9' });
  });

  test('a forwarded answer has global ids at every level', async () => {
    const { forwarding } = sites();
    const result = await forwarding.execute({ document: parse('query ($id: ID!) { host(id: $id) { id siteId layerId resources { id hostId } } }'), variableValues: { id: 'b:h1' }, contextValue: context() });
    expect(result).toEqual({ data: { host: { id: 'b:h1', siteId: 'b:s-h1', layerId: null, resources: [{ id: 'b:r-h1', hostId: 'b:h1' }] } } });
  });
});
