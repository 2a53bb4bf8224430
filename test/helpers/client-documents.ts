import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildASTSchema, DocumentNode, FragmentDefinitionNode, GraphQLSchema, Kind, Lexer, OperationDefinitionNode, parse, Source, TokenKind, validate } from 'graphql';
import * as generated from '../../client/generated/graphql';
import { DOCUMENTS } from '../../codegen';
import { checkOperationLimits, OperationLimitError, OperationLimits, OperationRequest } from '../../gateway/limits/operation-limits';
import { ROOT } from './cli';

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

/** Every operation the CLI and the dashboard send (codegen.ts's documents), each in a document with all the shared fragments. */
export function clientOperations(): Array<{ name: string; document: DocumentNode; operation: OperationDefinitionNode }> {
  const files = DOCUMENTS.flatMap((pattern) => {
    const dir = join(ROOT, pattern.slice(0, pattern.lastIndexOf('/')));
    return readdirSync(dir).filter((f) => f.endsWith('.graphql')).map((f) => join(dir, f));
  });
  const all = parse(files.map((f) => readFileSync(f, 'utf8')).join('\n'));
  const fragments = all.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION);
  return all.definitions
    .filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)
    .map((operation) => ({ name: operation.name?.value ?? '?', operation, document: { kind: Kind.DOCUMENT, definitions: [operation, ...fragments] } as DocumentNode }));
}

/**
 * What the gateway's `limit` counts in `request` (depth, aliases and directives as GraphQL Armor
 * counts them, cost and batch items as the gateway's rule does): what a limit of 1 finds, the
 * others off; 1 or less when a limit of 1 lets it through.
 */
export function measuredBy(schema: GraphQLSchema, request: OperationRequest, limit: Exclude<keyof OperationLimits, 'maxTokens'>): number {
  const only: OperationLimits = { maxDepth: 0, maxAliases: 0, maxTokens: 0, maxDirectives: 0, maxCost: 0, maxBatchItems: 0, [limit]: 1 };
  try {
    checkOperationLimits(schema, request, only);
    return 1;
  } catch (e) {
    if (e instanceof OperationLimitError && e.found !== undefined) return e.found;
    throw e;
  }
}

/** The lexical tokens of `source`, as the token limit counts them. */
export function tokenCount(source: string): number {
  const lexer = new Lexer(new Source(source));
  let n = 0;
  while (lexer.advance().kind !== TokenKind.EOF) n++;
  return n;
}
