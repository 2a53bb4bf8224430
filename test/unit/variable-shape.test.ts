import { buildSchema, getOperationAST, parse } from 'graphql';
import { variableShapeProblem } from '../../gateway/server/variable-shape';

/** The one-pass check of variables against their types, ahead of graphql-js (gateway/server/variable-shape.ts). */
describe('variables of the wrong shape', () => {
  const schema = buildSchema(`
    scalar DateTimeISO
    scalar JSON
    enum Kind { A B }
    input Item { name: String! at: DateTimeISO kind: Kind meta: JSON }
    input Batch { items: [Item!]! }
    type Query { run(batch: Batch, names: [String!], kind: Kind): Int }
  `);
  const operation = getOperationAST(parse('query ($b: Batch, $n: [String!], $k: Kind) { run(batch: $b, names: $n, kind: $k) }'))!;
  const problem = (variables: Record<string, unknown>) => variableShapeProblem(schema, operation, variables)?.message;

  test('values that fit, and what graphql-js answers itself (a missing field, a number for a String), pass', () => {
    expect(problem({ b: { items: [{ name: 'a', at: '2026-12-05T00:00:00Z', kind: 'A', meta: { any: [1, { deep: true }] } }] }, n: ['x'], k: 'B' })).toBeUndefined();
    expect(problem({ b: { items: [{ at: new Date() }] }, n: 5, k: null })).toBeUndefined();
    // A single value is a list of one, as graphql-js takes it.
    expect(problem({ b: { items: { name: 'one' } }, n: 'one' })).toBeUndefined();
  });

  test('the first unknown field is named with how many more, at its path, without the value', () => {
    const items = [{ name: 'ok' }, { name: 'x', ...Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, 'v'.repeat(1000)])) }];
    expect(problem({ b: { items } })).toBe('Variable "$b" got an invalid value at "b.items[1].k0": Field "k0" is not defined by type "Item" (and 999 more unknown fields)');
    expect(problem({ b: { items: [], __proto__x: 1 } })).toBe('Variable "$b" got an invalid value at "b.__proto__x": Field "__proto__x" is not defined by type "Batch"');
  });

  test('an object or a list where a String, a DateTimeISO or an enum is expected; a JSON value past its bounds', () => {
    expect(problem({ n: ['a', { x: 1 }] })).toBe('Variable "$n" got an invalid value at "n[1]": String cannot represent an object');
    expect(problem({ k: ['A'] })).toBe('Variable "$k" got an invalid value at "k": Kind cannot represent a list');
    expect(problem({ b: { items: [{ name: 'a', at: { year: 2026 } }] } })).toBe('Variable "$b" got an invalid value at "b.items[0].at": DateTimeISO cannot represent an object');
    expect(problem({ b: { items: [{ name: 'a', meta: { s: 'x'.repeat(70_000) } }] } })).toMatch(/^Variable "\$b" got an invalid value at "b\.items\[0\]\.meta": Expected type "JSON"\. JSON input refused: it is longer than 65536 characters as JSON$/);
  });
});
