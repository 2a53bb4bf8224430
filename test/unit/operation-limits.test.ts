import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSchema, OperationDefinitionNode, parse, print } from 'graphql';
import { loadConfig } from '../../gateway/config/config';
import { operationCost } from '../../gateway/limits/operation-cost';
import { checkOperationLimits, OperationLimitError, OperationLimits } from '../../gateway/limits/operation-limits';
import { RequestLimits } from '../../gateway/limits/request-limits';
import { TokenBuckets } from '../../gateway/limits/token-buckets';
import { clientOperations, measuredBy, tokenCount } from '../helpers/client-documents';

const ROOT = join(__dirname, '..', '..');
const schema = buildSchema(readFileSync(join(ROOT, 'schema.graphql'), 'utf8'), { assumeValidSDL: true });
const config = loadConfig({ RSP_DATA_DIR: '/tmp/rsp-limits-unit' });
const defaults: OperationLimits = new RequestLimits(config).operations;

/** The error `source` gets against the default limits (undefined: accepted). */
function refusal(source: string, variables: Record<string, unknown> = {}): OperationLimitError | undefined {
  try {
    checkOperationLimits(schema, { source, variables }, defaults);
    return undefined;
  } catch (e) {
    if (e instanceof OperationLimitError) return e;
    throw e;
  }
}

describe('operation limits', () => {
  test('every operation of the CLI and the dashboard is within the default limits, with the largest pages (first: 500)', () => {
    const operations = clientOperations();
    expect(operations.length).toBeGreaterThan(50);
    const widest = { depth: 0, aliases: 0, directives: 0, cost: 0, tokens: 0 };
    for (const { name, document, operation } of operations) {
      const variables = Object.fromEntries((operation.variableDefinitions ?? []).filter((v) => /Int/.test(print(v.type))).map((v) => [v.variable.name.value, 500]));
      const source = print(document);
      const error = refusal(source, variables);
      if (error) throw new Error(`${name}: ${error.message}`);
      widest.depth = Math.max(widest.depth, measuredBy(schema, { source }, 'maxDepth'));
      widest.aliases = Math.max(widest.aliases, measuredBy(schema, { source }, 'maxAliases'));
      widest.directives = Math.max(widest.directives, measuredBy(schema, { source }, 'maxDirectives'));
      widest.cost = Math.max(widest.cost, operationCost(schema, document, operation, variables).cost);
      widest.tokens = Math.max(widest.tokens, tokenCount(source));
    }
    // The defaults leave room above what the clients send.
    expect(widest.depth).toBeLessThan(defaults.maxDepth);
    expect(widest.aliases).toBeLessThan(defaults.maxAliases);
    expect(widest.directives).toBeLessThan(defaults.maxDirectives);
    expect(widest.cost * 2).toBeLessThan(defaults.maxCost);
    expect(widest.tokens * 2).toBeLessThan(defaults.maxTokens);
  });

  test('a layer tree 20 deep is over the depth limit', () => {
    let tree = 'id';
    for (let i = 0; i < 20; i++) tree = `id children { ${tree} }`;
    const error = refusal(`{ layer(id: "x") { ${tree} effectiveProperties { key value } } }`);
    expect(error?.extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX', details: { limit: 'RSP_MAX_QUERY_DEPTH', max: defaults.maxDepth, found: 22 } });
    expect(error?.message).toMatch(/depth limit: 22 > 15 \(RSP_MAX_QUERY_DEPTH\)/);
  });

  test('fragments nested two by two are priced once each, and their exponential cost is refused', () => {
    const levels = 40;
    const fragments = Array.from({ length: levels }, (_, i) => `fragment F${i} on Layer { a: children { ...F${i + 1} } b: children { ...F${i + 1} } }`).join('\n');
    const source = `{ layer(id: "x") { ...F0 } }\nfragment F${levels} on Layer { id }\n${fragments}`;
    const error = refusal(source);
    expect(error?.extensions.code).toBe('QUERY_TOO_COMPLEX');
  });

  test('400 aliases of groups(first: 500) are over the token and alias limits; 40 aliased pages of pages are over the cost limit', () => {
    const source = `{ ${Array.from({ length: 400 }, (_, i) => `g${i}: groups(first: 500) { nodes { id name } }`).join(' ')} }`;
    expect(refusal(source)?.extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX', details: { limit: 'RSP_MAX_QUERY_TOKENS' } });
    expect(() => checkOperationLimits(schema, { source }, { ...defaults, maxTokens: 0 })).toThrow(/aliases limit: 400 > 50 \(RSP_MAX_QUERY_ALIASES\)/);
    const nested = `{ ${Array.from({ length: 40 }, (_, i) => `s${i}: sites(first: 500) { nodes { hosts(first: 500) { nodes { id resources { id } } } } }`).join(' ')} }`;
    expect(refusal(nested)?.message).toMatch(/cost limit: \d+ > 40000000 \(RSP_MAX_QUERY_COST\)/);
  });

  test('the first of a variable counts: a page of 500 costs ten times a page of 50', () => {
    const document = parse('query ($n: Int!) { groups(first: $n) { nodes { id } } }');
    const operation = document.definitions[0] as OperationDefinitionNode;
    const small = operationCost(schema, document, operation, { n: 50 }).cost;
    expect(operationCost(schema, document, operation, { n: 500 }).cost).toBeGreaterThanOrEqual(small * 10 - 10);
  });

  test('the batch cap counts the items of every alias together (50 × 1,000 allocateMany requests)', () => {
    const one = `allocateMany(requests: $r) { index error { code } }`;
    const requests = Array.from({ length: 1000 }, () => ({ groupId: 'g', resources: [] }));
    expect(refusal(`mutation ($r: [AllocationRequestInput!]!) { ${one} }`, { r: requests })).toBeUndefined();
    const aliased = `mutation ($r: [AllocationRequestInput!]!) { ${Array.from({ length: 50 }, (_, i) => `a${i}: ${one}`).join(' ')} }`;
    const error = refusal(aliased, { r: requests });
    expect(error?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', details: { limit: 'RSP_MAX_BATCH_ITEMS', max: 1000, found: 50_000 } });
  });

  test('documents over the token and directive limits are refused; 0 turns a limit off', () => {
    const long = `{ ${Array.from({ length: 6000 }, () => '__typename').join(' ')} }`;
    expect(refusal(long)?.extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX', details: { limit: 'RSP_MAX_QUERY_TOKENS' } });
    expect(checkOperationLimits(schema, { source: long }, { ...defaults, maxTokens: 0 })).toBeDefined();
    const directives = `{ ${Array.from({ length: 60 }, () => '__typename @include(if: true)').join(' ')} }`;
    expect(refusal(directives)?.extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX', details: { limit: 'RSP_MAX_QUERY_DIRECTIVES', found: 60 } });
  });

  test('GraphQL Armor counts through fragments: aliases and directives of a fragment count, a fragment adds no level', () => {
    const aliased = `{ ...F } fragment F on Query { ${Array.from({ length: 51 }, (_, i) => `a${i}: gateway { site }`).join(' ')} }`;
    expect(refusal(aliased)?.extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX', details: { limit: 'RSP_MAX_QUERY_ALIASES', max: 50, found: 51 } });
    const directed = `{ ...F } fragment F on Query { ${Array.from({ length: 51 }, () => '__typename @skip(if: false)').join(' ')} }`;
    expect(refusal(directed)?.message).toBe('The operation is over the directives limit: 51 > 50 (RSP_MAX_QUERY_DIRECTIVES)');
    let inline = 'id';
    for (let i = 0; i < 5; i++) inline = `id children { ${inline} }`;
    const spread = `{ layer(id: "x") { ...L0 } } ${Array.from({ length: 5 }, (_, i) => `fragment L${i} on Layer { id children { ...L${i + 1} } }`).join(' ')} fragment L5 on Layer { id }`;
    expect(measuredBy(schema, { source: spread }, 'maxDepth')).toBe(measuredBy(schema, { source: `{ layer(id: "x") { ${inline} } }` }, 'maxDepth'));
    // Introspection (`__schema`) is not counted: the IDE's introspection query is within the depth limit.
    expect(refusal(`{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } } } } } } }`)).toBeUndefined();
  });

  test('only the operation the request names is priced', () => {
    const pages = (first: number) => `sites(first: ${first}) { nodes { hosts(first: ${first}) { nodes { id resources { id } } } } }`;
    const source = `query Small { ${pages(10)} } query Huge { ${Array.from({ length: 40 }, (_, i) => `s${i}: ${pages(500)}`).join(' ')} }`;
    expect(() => checkOperationLimits(schema, { source, operationName: 'Small' }, defaults)).not.toThrow();
    expect(() => checkOperationLimits(schema, { source, operationName: 'Huge' }, defaults)).toThrow(/cost limit: \d+ > 40000000 \(RSP_MAX_QUERY_COST\)/);
  });

  test('a source that does not parse is left to the caller’s parser', () => {
    expect(refusal('{ gateway {')).toBeUndefined();
  });
});

describe('token buckets', () => {
  test('hold a minute of tokens, refill over the minute and tell how long to wait', () => {
    let now = 0;
    const buckets = new TokenBuckets(60, () => now);
    for (let i = 0; i < 60; i++) expect(buckets.take('a')).toBe(0);
    expect(buckets.take('a')).toBe(1);
    expect(buckets.take('b')).toBe(0);
    now += 1000;
    expect(buckets.take('a')).toBe(0);
    expect(buckets.take('a')).toBe(1);
  });
});
