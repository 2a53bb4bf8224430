import type { GraphQLSchema } from 'graphql';
import { OperationLimitError } from './operation-limits';
import type { RequestLimits } from './request-limits';

/** A GraphQL-shaped HTTP answer: status and JSON body. */
export interface HttpRefusal {
  status: number;
  body: { errors: Array<{ message: string; extensions: Record<string, unknown> }> };
}

/**
 * The shape limits for a GraphQL request over HTTP, checked before Apollo parses and validates it
 * (validation of a huge document is itself the cost to avoid): `params` is the JSON body of a
 * POST or the query string of a GET. Undefined when it is within the limits, or not a request
 * Apollo would run (Apollo answers those itself).
 */
export function httpOperationRefusal(limits: RequestLimits, schema: GraphQLSchema, params: unknown): HttpRefusal | undefined {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) return undefined;
  const { query, variables, operationName } = params as Record<string, unknown>;
  if (typeof query !== 'string') return undefined;
  let vars: unknown = variables;
  if (typeof vars === 'string') {
    try {
      vars = JSON.parse(vars);
    } catch {
      return undefined;
    }
  }
  try {
    limits.checkOperation(schema, {
      source: query,
      variables: typeof vars === 'object' && vars !== null && !Array.isArray(vars) ? (vars as Record<string, unknown>) : undefined,
      operationName: typeof operationName === 'string' ? operationName : undefined,
    });
    return undefined;
  } catch (e) {
    if (!(e instanceof OperationLimitError)) throw e;
    const { http: _http, ...extensions } = e.extensions;
    return { status: 400, body: { errors: [{ message: e.message, extensions }] } };
  }
}
