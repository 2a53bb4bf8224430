import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { execute, GraphQLError, parse } from 'graphql';
import { addFederationGroup, joinSite } from '../../../gateway/federation/config';
import { startFederationGateway, type FederationGateway } from '../../../gateway/federation/server';
import { siteSchema } from '../../../gateway/federation/sites';

const schema = siteSchema();
/** Site a's answers: any host but `missing` (NOT_FOUND). */
const rootValue = {
  host: ({ id }: { id: string }) => {
    if (id === 'missing') throw new GraphQLError(`Host not found: ${id}`, { extensions: { code: 'NOT_FOUND' } });
    return { id, siteId: 's1', hostname: `host-${id}`, state: 'UP', drivers: ['fake'] };
  },
};

/**
 * The federation's own POST handler answers as GraphQL Yoga does: each request sent twice, once
 * as it is (the handler) and once with an Origin header (which Yoga answers), same status, type
 * and body. Site a is a GraphQL server of the site schema, site b is down.
 */
describe('rsp federate: POST /graphql without Yoga', () => {
  let site: Server;
  let gateway: FederationGateway;
  let key = '';

  beforeAll(async () => {
    site = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        const { query, variables, operationName } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        const result = await execute({ schema, document: parse(query), variableValues: variables, operationName, rootValue });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(result));
      });
    });
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
    const added = addFederationGroup({ sites: [], groups: [] }, 'alliance');
    key = added.key;
    let config = joinSite(added.config, { site: 'a', url: `http://127.0.0.1:${(site.address() as AddressInfo).port}/graphql`, group: 'alliance', token: 'ta' });
    config = joinSite(config, { site: 'b', url: 'http://127.0.0.1:9/graphql', group: 'alliance', token: 'tb' });
    gateway = await startFederationGateway(config, { port: 0 });
  });
  afterAll(async () => {
    await gateway?.close();
    await new Promise((resolve) => site?.close(resolve));
  });

  const post = async (body: string, headers: Record<string, string>) => {
    const res = await fetch(gateway.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    return { status: res.status, type: res.headers.get('content-type'), body: await res.json() };
  };

  const requests: Array<{ name: string; body: unknown; headers?: Record<string, string>; auth?: string }> = [
    { name: 'by a global id (forwarded)', body: { query: 'query ($id: ID!) { host(id: $id) { id hostname state } }', variables: { id: 'a:h1' } } },
    { name: 'federationSite (stitched)', body: { query: 'query ($id: ID!) { host(id: $id) { id siteId federationSite } }', variables: { id: 'a:h1' } } },
    { name: 'NOT_FOUND', body: { query: 'query ($id: ID!) { host(id: $id) { id } }', variables: { id: 'a:missing' } } },
    { name: 'the site down', body: { query: 'query ($id: ID!) { host(id: $id) { id } }', variables: { id: 'b:h1' } } },
    { name: 'a variable missing', body: { query: 'query ($id: ID!) { host(id: $id) { id } }' } },
    { name: 'a mutation naming no site', body: { query: 'mutation { createSite(input: { name: "x", ownerGroupId: "a:g" }) { id } }' } },
    { name: 'a syntax error', body: { query: '{ host(' } },
    { name: 'a validation error', body: { query: '{ nope }' } },
    { name: 'an unexpected parameter', body: { query: '{ __typename }', other: 1 } },
    { name: 'not JSON', body: '{"query": ' },
    { name: 'graphql-response+json asked', body: { query: 'query ($id: ID!) { host(id: $id) { id } }', variables: { id: 'a:missing' } }, headers: { accept: 'application/graphql-response+json, application/json' } },
    { name: 'an unknown key', body: { query: '{ __typename }' }, auth: 'Bearer rspf_wrong' },
    { name: 'an unknown x-rsp-site', body: { query: '{ __typename }' }, headers: { 'x-rsp-site': 'z' } },
  ];

  test.each(requests)('$name', async ({ body, headers, auth }) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    const all = { authorization: auth ?? `Bearer ${key}`, ...headers };
    const fast = await post(text, all);
    const yoga = await post(text, { ...all, origin: 'http://client.example' });
    expect(fast).toEqual(yoga);
  });
});
