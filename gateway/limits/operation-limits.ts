import {
  DocumentNode,
  FragmentDefinitionNode,
  GraphQLError,
  GraphQLSchema,
  Kind,
  OperationDefinitionNode,
  parse,
  SelectionSetNode,
  visit,
} from 'graphql';
import { operationCost } from './operation-cost';

/**
 * The shape limits of one GraphQL operation, checked before it is validated or run; 0 turns a
 * limit off. Each is set by the environment variable of `LIMIT_VARIABLES`.
 */
export interface OperationLimits {
  /** Deepest field nesting (introspection fields not counted). */
  maxDepth: number;
  /** Aliased fields in the document. */
  maxAliases: number;
  /** Lexical tokens of the document (graphql-js stops parsing past it). */
  maxTokens: number;
  /** Directives in the document. */
  maxDirectives: number;
  /** Estimated cost: fields weighted by the list sizes they return (see operation-cost.ts). */
  maxCost: number;
  /** Items of the list arguments of all the operation's fields together (a batch such as `allocateMany` counts per request, over aliases). */
  maxBatchItems: number;
}

/** The environment variable of each limit, named in the error a refused operation gets. */
export const LIMIT_VARIABLES: Record<keyof OperationLimits, string> = {
  maxDepth: 'RSP_MAX_QUERY_DEPTH',
  maxAliases: 'RSP_MAX_QUERY_ALIASES',
  maxTokens: 'RSP_MAX_QUERY_TOKENS',
  maxDirectives: 'RSP_MAX_QUERY_DIRECTIVES',
  maxCost: 'RSP_MAX_QUERY_COST',
  maxBatchItems: 'RSP_MAX_BATCH_ITEMS',
};

/** What each limit counts, in the error message. */
const WHAT: Record<keyof OperationLimits, string> = {
  maxDepth: 'depth',
  maxAliases: 'aliases',
  maxTokens: 'tokens',
  maxDirectives: 'directives',
  maxCost: 'cost',
  maxBatchItems: 'batch items',
};

/** The `extensions.code` of an operation over a shape limit; over the batch limit it is `BAD_USER_INPUT`, as a too large batch is. */
export const QUERY_TOO_COMPLEX = 'QUERY_TOO_COMPLEX';

/** An operation over one of the limits: its code, HTTP status 400, and a message naming the limit and its variable. */
export class OperationLimitError extends GraphQLError {
  constructor(readonly limit: keyof OperationLimits, readonly max: number, readonly found: number | undefined) {
    super(`The operation is over the ${WHAT[limit]} limit: ${found === undefined ? 'more than' : `${found} >`} ${max} (${LIMIT_VARIABLES[limit]})`, {
      extensions: {
        code: limit === 'maxBatchItems' ? 'BAD_USER_INPUT' : QUERY_TOO_COMPLEX,
        details: { limit: LIMIT_VARIABLES[limit], max, ...(found === undefined ? {} : { found }) },
        http: { status: 400 },
      },
    });
  }
}

/** One request's operation as the limits see it. */
export interface OperationRequest {
  source: string;
  variables?: Record<string, unknown> | null;
  operationName?: string | null;
}

/**
 * Parses `request.source` (stopping past the token limit) and checks the document against
 * `limits`. Throws `OperationLimitError` for the first limit it is over; returns the document, or
 * undefined when the source does not parse for another reason (the caller's own parse reports it).
 * `parsed`: the document of this source, already within the limits that depend on the source
 * only (tokens, aliases, directives, depth): only the cost and batch limits are checked.
 */
export function checkOperationLimits(schema: GraphQLSchema, request: OperationRequest, limits: OperationLimits, parsed?: DocumentNode): DocumentNode | undefined {
  const over = (limit: keyof OperationLimits, found: number) => {
    if (limits[limit] > 0 && found > limits[limit]) throw new OperationLimitError(limit, limits[limit], found);
  };
  let document: DocumentNode;
  if (parsed) document = parsed;
  else {
    try {
      document = parse(request.source, limits.maxTokens > 0 ? { maxTokens: limits.maxTokens } : undefined);
    } catch (e) {
      if (e instanceof GraphQLError && /contains more th\w+ \d+ tokens/.test(e.message)) throw new OperationLimitError('maxTokens', limits.maxTokens, undefined);
      return undefined;
    }
    let aliases = 0;
    let directives = 0;
    visit(document, {
      Field: (node) => void (node.alias && aliases++),
      Directive: () => void directives++,
    });
    over('maxAliases', aliases);
    over('maxDirectives', directives);
    over('maxDepth', documentDepth(document));
  }
  if (limits.maxCost > 0 || limits.maxBatchItems > 0) {
    const operation = selectedOperation(document, request.operationName);
    if (operation) {
      const { cost, batchItems } = operationCost(schema, document, operation, request.variables ?? {});
      over('maxBatchItems', batchItems);
      over('maxCost', cost);
    }
  }
  return document;
}

/** The operation a request runs: the one named, or the only one. */
export function selectedOperation(document: DocumentNode, operationName?: string | null): OperationDefinitionNode | undefined {
  const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  if (operationName) return operations.find((o) => o.name?.value === operationName);
  return operations.length === 1 ? operations[0] : undefined;
}

/** The deepest field nesting of any operation of `document`, through fragments; introspection fields (`__schema`, `__type`) are not counted. */
export function documentDepth(document: DocumentNode): number {
  const fragments = new Map(document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((f) => [f.name.value, f]));
  const fragmentDepth = new Map<string, number>();
  const depthOf = (set: SelectionSetNode | undefined, visiting: Set<string>): number => {
    let deepest = 0;
    for (const s of set?.selections ?? []) {
      if (s.kind === Kind.FIELD) {
        if (s.name.value.startsWith('__')) continue;
        deepest = Math.max(deepest, 1 + depthOf(s.selectionSet, visiting));
      } else if (s.kind === Kind.INLINE_FRAGMENT) {
        deepest = Math.max(deepest, depthOf(s.selectionSet, visiting));
      } else {
        const name = s.name.value;
        if (visiting.has(name)) continue;
        let depth = fragmentDepth.get(name);
        if (depth === undefined) {
          visiting.add(name);
          depth = depthOf(fragments.get(name)?.selectionSet, visiting);
          visiting.delete(name);
          fragmentDepth.set(name, depth);
        }
        deepest = Math.max(deepest, depth);
      }
    }
    return deepest;
  };
  let deepest = 0;
  for (const d of document.definitions) if (d.kind === Kind.OPERATION_DEFINITION) deepest = Math.max(deepest, depthOf(d.selectionSet, new Set()));
  return deepest;
}
