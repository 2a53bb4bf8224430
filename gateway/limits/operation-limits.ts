import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import { MaxTokensParserWLexer } from '@escape.tech/graphql-armor-max-tokens';
import { DocumentNode, getEnterLeaveForKind, GraphQLError, GraphQLSchema, Kind, parse, TypeInfo, ValidationContext, ValidationRule } from 'graphql';
import { listCostRule } from './operation-cost';

/**
 * The shape limits of one GraphQL operation, checked before it is validated or run; 0 turns a
 * limit off. Each is set by the environment variable of `LIMIT_VARIABLES`.
 */
export interface OperationLimits {
  /** Deepest field nesting (fragments add no level; `__schema` is not counted). GraphQL Armor's max-depth. */
  maxDepth: number;
  /** Aliased fields of the operation, through its fragments. GraphQL Armor's max-aliases. */
  maxAliases: number;
  /** Lexical tokens of the document (parsing stops past it). GraphQL Armor's max-tokens. */
  maxTokens: number;
  /** Directives of the operation, through its fragments. GraphQL Armor's max-directives. */
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
 * The callbacks that turn a refusal of a GraphQL Armor protection into an `OperationLimitError`
 * for `limit` (thrown at once: Armor's own error, a "Syntax Error", never reaches the client). The
 * count Armor found is read from its message (`…, found 22.`), absent for the token limit.
 */
function armorRejection(limit: keyof OperationLimits, max: number) {
  return {
    onReject: [
      (_context: unknown, error: GraphQLError): never => {
        const found = /found (\d+)/.exec(error.message);
        throw new OperationLimitError(limit, max, found ? Number(found[1]) : undefined);
      },
    ],
  };
}

/** GraphQL Armor's validation rules for the limits that depend on the document only (aliases, directives, depth), those that are on. */
function armorRules(limits: OperationLimits): ValidationRule[] {
  const rules: ValidationRule[] = [];
  if (limits.maxAliases > 0) rules.push(maxAliasesRule({ n: limits.maxAliases, allowList: [], ...armorRejection('maxAliases', limits.maxAliases) }));
  if (limits.maxDirectives > 0) rules.push(maxDirectivesRule({ n: limits.maxDirectives, ...armorRejection('maxDirectives', limits.maxDirectives) }));
  if (limits.maxDepth > 0) rules.push(maxDepthRule({ n: limits.maxDepth, flattenFragments: true, ignoreIntrospection: true, ...armorRejection('maxDepth', limits.maxDepth) }));
  return rules;
}

/** Parses `source`, stopping past `maxTokens` tokens (GraphQL Armor's parser; 0: no limit). Undefined when it does not parse for another reason. */
function parseWithin(source: string, maxTokens: number): DocumentNode | undefined {
  try {
    return maxTokens > 0 ? new MaxTokensParserWLexer(source, { n: maxTokens, ...armorRejection('maxTokens', maxTokens) }).parseDocument() : parse(source);
  } catch (e) {
    if (e instanceof OperationLimitError || !(e instanceof GraphQLError)) throw e;
    return undefined;
  }
}

/**
 * Parses `request.source` (stopping past the token limit) and checks the document against
 * `limits`: GraphQL Armor's rules for tokens, aliases, directives and depth, then the gateway's
 * list-size cost and batch rule. Throws `OperationLimitError` for the first limit it is over;
 * returns the document, or undefined when the source does not parse for another reason (the
 * caller's own parse reports it). `parsed`: the document of this source, already within the
 * limits that depend on the source only: only the cost and batch limits are checked.
 */
export function checkOperationLimits(schema: GraphQLSchema, request: OperationRequest, limits: OperationLimits, parsed?: DocumentNode): DocumentNode | undefined {
  const document = parsed ?? parseWithin(request.source, limits.maxTokens);
  if (!document) return undefined;
  const rules = parsed ? [] : armorRules(limits);
  if (limits.maxCost > 0 || limits.maxBatchItems > 0) {
    const over = (limit: 'maxCost' | 'maxBatchItems', found: number) => {
      if (limits[limit] > 0 && found > limits[limit]) throw new OperationLimitError(limit, limits[limit], found);
    };
    rules.push(
      listCostRule(request.variables ?? {}, request.operationName, ({ cost, batchItems }) => {
        over('maxBatchItems', batchItems);
        over('maxCost', cost);
      }),
    );
  }
  if (rules.length) applyRules(schema, document, rules);
  return document;
}

/**
 * Runs validation `rules` that throw on the first limit an operation is over (they report
 * nothing). Each acts on operation definitions only, walking its operation and the fragments it
 * spreads itself: its `OperationDefinition` hook is called on each operation, without graphql's
 * walk of the whole document (whose set-up alone costs more than pricing a normal operation).
 */
function applyRules(schema: GraphQLSchema, document: DocumentNode, rules: ValidationRule[]): void {
  const context = new ValidationContext(schema, document, new TypeInfo(schema), (error) => {
    throw error;
  });
  const visitors = rules.map((rule) => rule(context));
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
    for (const visitor of visitors) getEnterLeaveForKind(visitor, Kind.OPERATION_DEFINITION).enter?.call(visitor, definition, undefined, undefined, [], []);
  }
}
