import { Subschema } from '@graphql-tools/delegate';
import type { ExecutionRequest, Executor } from '@graphql-tools/utils';
import { execute, GraphQLError, GraphQLSchema, parse, print, validate } from 'graphql';
import type { FederationContext } from '../../../gateway/federation/context';
import { federatedSchema } from '../../../gateway/federation/federated-schema';
import { FlatLists } from '../../../gateway/federation/flat-lists';
import { siteSchema } from '../../../gateway/federation/sites';

const schema = siteSchema();

/** Site `name`'s hosts (two, each with a resource) and image; a host or image named in `broken` (`h1`, `h2`, `image`) fails at the site: its layerId or digest null with an error at its path. */
function siteRoot(name: string, broken: readonly string[] = []) {
  const failing = () => Promise.reject(new GraphQLError('disk on fire', { extensions: { code: 'INTERNAL' } }));
  const host = (n: number) => ({
    id: `h${n}`,
    hostname: `${name}-host-${n}`,
    state: n === 1 ? 'UP' : 'UNKNOWN',
    drivers: ['fake'],
    layerId: () => (broken.includes(`h${n}`) ? failing() : n === 1 ? `l${n}` : null),
    fingerprint: { cpus: n },
    resources: [{ id: `r${n}`, hostId: `h${n}`, type: 'SLOT', total: n }],
  });
  const hosts = [host(1), host(2)];
  return {
    hosts: ({ first, after }: { first: number; after?: string }) => {
      const start = after ? hosts.findIndex((h) => h.id === after) + 1 : 0;
      const page = hosts.slice(start, start + first);
      return {
        totalCount: hosts.length,
        nodes: page,
        edges: page.map((node) => ({ cursor: node.id, node })),
        pageInfo: { hasNextPage: start + first < hosts.length, hasPreviousPage: start > 0, startCursor: page[0]?.id ?? null, endCursor: page.at(-1)?.id ?? null },
      };
    },
    images: () => [{ id: `i-${name}`, name: `image-${name}`, version: '1', technology: 'fake', digest: () => (broken.includes('image') ? failing() : `sha256:${name}`) }],
  };
}

/** A federation over sites a, b and c answering by executing the site schema (with what `broken` names broken at each site); the requests sent are recorded in `sent`. */
function federation(broken: Readonly<Record<string, readonly string[]>> = {}, sent: ExecutionRequest[] = []): GraphQLSchema {
  const sites = ['a', 'b', 'c'].map(
    (name) =>
      new Subschema({
        name,
        schema,
        batch: false,
        executor: (async (request: ExecutionRequest) => {
          sent.push(request);
          const errors = validate(schema, request.document);
          if (errors.length) return { errors };
          return execute({ schema, document: request.document, variableValues: request.variables, rootValue: siteRoot(name, broken[name]) });
        }) as Executor,
      }),
  );
  return federatedSchema(sites, schema);
}

/** The context of a request of group alliance, linked to `sites`. */
const context = (sites = ['a', 'b', 'c']): FederationContext => ({ group: { name: 'alliance', links: Object.fromEntries(sites.map((s) => [s, `t${s}`])) }, siteErrors: [] });

/** Each query made flat, and the same with a field asked again under a directive, which keeps it to GraphQL Tools' way (`@include(if: true)` changes nothing of the answer). */
const cases = [
  {
    name: 'nodes, ids global, the site of each, nested objects, aliases, a fragment',
    flat: 'query ($after: String) { hosts(first: 1, after: $after) { totalCount nodes { id name: hostname state drivers layerId fingerprint federationSite ...R } pageInfo { hasNextPage endCursor } } } fragment R on Host { resources { id hostId type total } }',
    tools: 'query ($after: String) { hosts(first: 1, after: $after) { totalCount nodes { id name: hostname state drivers layerId fingerprint federationSite ...R id @include(if: true) } pageInfo { hasNextPage endCursor } } } fragment R on Host { resources { id hostId type total } }',
  },
  {
    name: 'edges with their cursors, a field asked twice',
    flat: 'query ($after: String) { hosts(first: 1, after: $after) { edges { cursor node { id } node { hostname federationSite } } pageInfo { hasNextPage endCursor } } }',
    tools: 'query ($after: String) { hosts(first: 1, after: $after) { edges { cursor node { id } node { hostname federationSite hostname @include(if: true) } } pageInfo { hasNextPage endCursor } } }',
  },
  { name: 'a root list', flat: '{ images { id name federationSite } }', tools: '{ images { id name federationSite name @include(if: true) } }' },
];

describe('flat lists', () => {
  afterEach(() => jest.restoreAllMocks());

  test.each(cases)('a list made flat is what GraphQL Tools makes of it, page after page: $name', async ({ flat, tools }) => {
    const federated = federation();
    const flatten = jest.spyOn(FlatLists.prototype, 'flatten');
    const pages = async (query: string) => {
      const answers = [];
      let after: string | null = null;
      do {
        const result = await execute({ schema: federated, document: parse(query), variableValues: { after }, contextValue: context() });
        expect(result.errors).toBeUndefined();
        answers.push(result.data);
        const connection = (result.data as { hosts?: { pageInfo: { hasNextPage: boolean; endCursor: string | null } } }).hosts;
        after = connection?.pageInfo.hasNextPage ? connection.pageInfo.endCursor : null;
      } while (after);
      return answers;
    };
    flatten.mockClear();
    const byFlat = await pages(flat);
    expect(flatten.mock.results.some((r) => r.value !== undefined)).toBe(true);
    flatten.mockClear();
    const byTools = await pages(tools);
    expect(flatten.mock.results.every((r) => r.value === undefined)).toBe(true);
    expect(byFlat).toEqual(byTools);
    expect(JSON.stringify(byFlat)).toMatch(/"a:(h1|i-a)"/);
  });

  test("a connection's next page asks each site what GraphQL Tools asks (the delegation planned for the first page kept)", async () => {
    const document = parse('query ($after: String) { hosts(first: 1, after: $after) { nodes { id federationSite } pageInfo { hasNextPage endCursor } } }');
    const sent: ExecutionRequest[] = [];
    const kept = federation({}, sent);
    const first = await execute({ schema: kept, document, variableValues: { after: null }, contextValue: context() });
    const after = (first.data as { hosts: { pageInfo: { endCursor: string } } }).hosts.pageInfo.endCursor;
    sent.length = 0;
    const byPlan = await execute({ schema: kept, document, variableValues: { after }, contextValue: context() });
    const fresh: ExecutionRequest[] = [];
    const byTools = await execute({ schema: federation({}, fresh), document, variableValues: { after }, contextValue: context() });
    expect(sent.map((r) => [print(r.document), r.variables])).toEqual(fresh.map((r) => [print(r.document), r.variables]));
    expect(sent.map((r) => r.variables)).toEqual(['a', 'b', 'c'].map(() => expect.objectContaining({ _hosts_after: 'h1' })));
    expect(byPlan).toEqual(byTools);
    expect((byPlan.data as { hosts: { nodes: unknown[] } }).hosts.nodes).toEqual(['a', 'b', 'c'].map((site) => ({ id: `${site}:h2`, federationSite: site })));
  });

  test("a site's list with an error in it is left to GraphQL Tools: the error at its path in the merged list, the other sites' objects flat", async () => {
    const federated = federation({ c: ['h2'] });
    const flatten = jest.spyOn(FlatLists.prototype, 'flatten');
    const result = await execute({ schema: federated, document: parse('{ hosts(first: 2) { nodes { id layerId federationSite } } }'), contextValue: context() });
    // Site c's second host is the sixth of the merged list (a's two, b's two, then c's).
    expect(result.errors?.map((e) => [e.message, e.path, e.extensions.code])).toEqual([['disk on fire', ['hosts', 'nodes', 5, 'layerId'], 'INTERNAL']]);
    expect((result.data as { hosts: { nodes: unknown[] } }).hosts.nodes).toEqual(
      ['a', 'b', 'c'].flatMap((site) => [1, 2].map((n) => ({ id: `${site}:h${n}`, layerId: n === 1 ? `${site}:l1` : null, federationSite: site }))),
    );
    expect(flatten.mock.results.filter((r) => r.value !== undefined)).toHaveLength(2);
  });

  test.each([
    { name: 'a connection', query: '{ hosts(first: 2) { nodes { id layerId } } }', broken: 'h1', path: ['hosts', 'nodes', 2, 'layerId'], items: (d: { hosts: { nodes: unknown[] } }) => d.hosts.nodes },
    { name: 'a root list', query: '{ images { id digest } }', broken: 'image', path: ['images', 1, 'digest'], items: (d: { images: unknown[] }) => d.images },
  ])("$name of two sites: an error on the second site's first item names that item's index in the merged answer", async ({ query, broken, path, items }) => {
    const result = await execute({ schema: federation({ b: [broken] }), document: parse(query), contextValue: context(['a', 'b']) });
    expect(result.errors?.map((e) => [e.message, e.path])).toEqual([['disk on fire', path]]);
    const merged = items(result.data as never) as Array<Record<string, unknown>>;
    // The item the path names is the second site's, its field null.
    expect(merged[path.at(-2) as number]).toEqual(expect.objectContaining({ id: broken === 'image' ? 'b:i-b' : 'b:h1', [path.at(-1) as string]: null }));
  });
});
