import { buildSchema, GraphQLObjectType } from 'graphql';
import { GlobalIds, localArgs } from '../../../gateway/federation/routing';

const schema = buildSchema(`
  input Request { groupId: ID!, hostIds: [ID!], note: String }
  type Query { host(id: ID!): String, place(request: Request!, site: String): String, hosts: [String!]! }
`);
const field = (name: string) => (schema.getQueryType() as GraphQLObjectType).getFields()[name]!;

describe('global ids', () => {
  const ids = new GlobalIds(new Set(['a', 'b']));

  test('a global id names its site and strips to the site\'s own id; any other id is the site\'s own', () => {
    expect(ids.of('b', '1f0e')).toBe('b:1f0e');
    expect(ids.parse('b:1f0e')).toEqual({ site: 'b', id: '1f0e' });
    // Only the first colon separates: a site's own id may hold colons.
    expect(ids.parse('a:x:y')).toEqual({ site: 'a', id: 'x:y' });
    for (const plain of ['1f0e', 'z:1f0e', ':1f0e']) expect(ids.parse(plain)).toBeUndefined();
    expect(ids.local('z:1f0e')).toBe('z:1f0e');
  });

  test('arguments go to the site with its own ids, top level and inside inputs and lists; the sites named in order', () => {
    expect(localArgs({ id: 'b:h1' }, field('host'), ids)).toEqual({ args: { id: 'h1' }, sites: ['b'], plain: [] });
    const request = { groupId: 'a:g1', hostIds: ['b:h1', 'h2'], note: 'a:not-an-id' };
    expect(localArgs({ request, site: 'a:x' }, field('place'), ids)).toEqual({ args: { request: { groupId: 'g1', hostIds: ['h1', 'h2'], note: 'a:not-an-id' }, site: 'a:x' }, sites: ['a', 'b'], plain: ['h2'] });
    // The caller's arguments are not changed.
    expect(request.groupId).toBe('a:g1');
    const none = {};
    expect(localArgs(none, field('hosts'), ids).args).toBe(none);
  });
});
