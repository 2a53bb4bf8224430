import { coerceInputValue, GraphQLInputType, GraphQLSchema, parseType, typeFromAST } from 'graphql';
import { createMemoryPubSub } from '../../../gateway/events/pubsub';
import { compileInputCoercer, LEAVE, precoercionTargets } from '../../../gateway/server/variable-precoercion';
import { buildGatewaySchema, PRECOERCED_INPUT_TYPES } from '../../../schema/build-schema';

let schema: GraphQLSchema;
let type: GraphQLInputType;

beforeAll(async () => {
  schema = await buildGatewaySchema(createMemoryPubSub());
  type = typeFromAST(schema, parseType('[AllocationRequestInput!]!') as never) as GraphQLInputType;
});

const CPU = [{ type: 'CPU', amount: 1, unit: 'CORES' }];

test('the pre-coerced value of a list of requests is what graphql-js makes of it (key order, defaults, enums, nulls)', () => {
  const coerce = compileInputCoercer(type);
  const values: unknown[] = [
    [{ groupId: 'g', resources: CPU }],
    [{ groupId: 7, resources: CPU, technologies: 'docker' }],
    [{ leaseSeconds: 60, groupId: 'g', guarantee: 'GUARANTEED', mode: 'DIRECT', hostIds: ['h1', 'h2'], resources: [{ unit: 'BYTES', amount: 2.5e9, type: 'RAM' }], replicas: 2, antiAffinity: 'HOST' }],
    [{ groupId: 'g', resources: CPU, technologies: null, hostIds: null, replicas: null, requiredProperties: [{ key: 'gpu', op: 'EQ', values: ['yes', 2, { any: true }] }, { key: 'arch', op: 'EQ' }] }],
    [{ groupId: 'g', resources: CPU, requiredProperties: null }, { groupId: 'h', resources: [], technologies: [] }],
  ];
  for (const value of values) {
    const expected = coerceInputValue(value, type);
    const got = coerce(value);
    expect(got).toEqual(expected);
    expect(JSON.stringify(got)).toBe(JSON.stringify(expected));
  }
});

test('a value graphql-js refuses (or takes only its own way) is left to it', () => {
  const coerce = compileInputCoercer(type);
  const refused: unknown[] = [
    [{ resources: CPU }],
    [{ groupId: 'g', resources: CPU, bogus: 1 }],
    [{ groupId: 'g', resources: [{ type: 'CPU', amount: '1', unit: 'CORES' }] }],
    [{ groupId: 'g', resources: CPU, mode: 'SIDEWAYS' }],
    [{ groupId: 'g', resources: CPU, replicas: 1.5 }],
    [{ groupId: 'g', resources: CPU }, null],
    [{ groupId: 'g', resources: CPU }, 'text'],
    [[{ groupId: 'g', resources: CPU }]],
    [{ groupId: 'g', resources: CPU, leaseSeconds: undefined }],
  ];
  for (const value of refused) expect(coerce(value)).toBe(LEAVE);
  // Accepted by graphql-js, but only through its own path (a single object as a list of one).
  expect(coerceInputValue([{ groupId: 'g', resources: CPU[0] }], type)).toEqual(expect.anything());
  expect(coerce([{ groupId: 'g', resources: CPU[0] }])).toBe(LEAVE);
});

test('allocateMany(requests) is the only place of the schema that takes a list of a pre-coerced input type', () => {
  // Another would get an empty list from graphql-js unless its resolver reads precoercedArgument.
  expect(precoercionTargets(schema, PRECOERCED_INPUT_TYPES)).toEqual(['Mutation.allocateMany(requests)']);
});
