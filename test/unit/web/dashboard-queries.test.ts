import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildASTSchema, parse, validate } from 'graphql';
import * as queries from '../../../web/src/api/queries';

/** The schema as committed (schema.graphql, kept in sync by the drift test). */
const schema = buildASTSchema(parse(readFileSync(join(__dirname, '..', '..', '..', 'schema.graphql'), 'utf8')), { assumeValidSDL: true });

/** Every GraphQL document the dashboard sends, by name. */
function documents(): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(queries)) {
    if (typeof value === 'string') out.push([name, value]);
    else if (value && typeof value === 'object' && !(value instanceof Set)) for (const [k, v] of Object.entries(value)) if (typeof v === 'string') out.push([`${name}.${k}`, v]);
  }
  return out;
}

describe("the dashboard's GraphQL documents", () => {
  test('there are documents for every view', () => {
    expect(documents().map(([name]) => name)).toEqual(expect.arrayContaining(['VIEWER', 'OVERVIEW', 'GROUPS', 'SITES', 'HOST', 'ENVIRONMENT', 'CAPACITY', 'OPERATIONS', 'ALERTS', 'HOST_METRICS', 'ENVIRONMENT_METRICS', 'SITE_METRICS', 'OPERATION_UPDATED', 'EVENTS', 'ENVIRONMENT_ACTIONS.start', 'REPLICATION', 'ENVIRONMENT_REPLICATION', 'REPLICATE_NOW']));
  });

  test.each(documents())('%s is valid against the schema', (_name, document) => {
    expect(validate(schema, parse(document)).map((e) => e.message)).toEqual([]);
  });
});
