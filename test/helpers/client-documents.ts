import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildASTSchema, GraphQLSchema, parse, validate } from 'graphql';
import * as generated from '../../client/generated/graphql';

/** The repository root. */
export const ROOT = join(__dirname, '..', '..');

/** The schema as committed (schema.graphql, kept in sync by the schema drift test). */
export function committedSchema(): GraphQLSchema {
  return buildASTSchema(parse(readFileSync(join(ROOT, 'schema.graphql'), 'utf8')), { assumeValidSDL: true });
}

/** The TypeScript files under `dir`, recursively. */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/**
 * The generated documents (client/generated/graphql.ts) that the code under `dir` names, as
 * [export name, the text sent]: what that client can send, since its request functions only
 * take generated documents.
 */
export function documentsUsedIn(dir: string): Array<[string, string]> {
  const documents = new Map(Object.entries(generated).filter(([name]) => name.endsWith('Document')).map(([name, value]) => [name, String(value)]));
  const named = new Set(sourceFiles(join(ROOT, dir)).flatMap((file) => readFileSync(file, 'utf8').match(/\b\w+Document\b/g) ?? []));
  return [...documents].filter(([name]) => named.has(name)).sort(([a], [b]) => a.localeCompare(b));
}

/** The messages of what the schema finds wrong in `document` (none when it is valid). */
export function validationErrors(schema: GraphQLSchema, document: string): string[] {
  return validate(schema, parse(document)).map((e) => e.message);
}
