import { GraphQLError, GraphQLFormattedError } from 'graphql';
import { ArgumentValidationError } from 'type-graphql';
import type { Logger } from 'pino';
import { fromDatabaseError } from './database-error';
import { isRspError } from './rsp-error';

/** Codes that graphql-js / Apollo Server set themselves for malformed requests; passed through untouched. */
const REQUEST_ERROR_CODES = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_USER_INPUT',
  'BAD_REQUEST',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
]);

/**
 * Maps any error raised while executing a request to what the caller sees:
 * - `RspError` (of any copy of the SDK: a plugin's own included) → its category as
 *   `extensions.code`, its message and details;
 * - class-validator failures → `BAD_USER_INPUT` with each failed constraint;
 * - request errors (parse, validation) → unchanged;
 * - anything else → `INTERNAL_SERVER_ERROR` without message or stack, logged with context.
 */
export function formatGraphQLError(
  formatted: GraphQLFormattedError,
  error: unknown,
  logger: Logger,
  requestId?: string,
): GraphQLFormattedError {
  const raw = error instanceof GraphQLError ? error.originalError ?? error : error;
  const original = fromDatabaseError(raw) ?? raw;
  const base = { locations: formatted.locations, path: formatted.path };

  if (isRspError(original)) {
    const code = original.category === 'INTERNAL' ? 'INTERNAL_SERVER_ERROR' : original.category;
    if (original.category === 'INTERNAL') logger.error({ err: original, requestId, path: formatted.path }, 'internal error');
    return {
      ...base,
      message: original.category === 'INTERNAL' ? internalMessage(requestId) : original.message,
      extensions: { code, ...(Object.keys(original.details).length ? { details: original.details } : {}) },
    };
  }

  if (original instanceof ArgumentValidationError) {
    const problems = original.extensions.validationErrors.flatMap((v) =>
      flattenValidation(v as ValidationLike),
    );
    return {
      ...base,
      message: `Invalid input: ${problems.map((p) => `${p.field}: ${p.problem}`).join('; ')}`,
      extensions: { code: 'BAD_USER_INPUT', details: { problems } },
    };
  }

  const code = formatted.extensions?.code;
  const explicit = error instanceof GraphQLError && !error.originalError && typeof code === 'string' && code !== 'INTERNAL_SERVER_ERROR';
  if (typeof code === 'string' && (REQUEST_ERROR_CODES.has(code) || explicit)) {
    const details = explicit ? formatted.extensions?.details : undefined;
    return { ...base, message: formatted.message, extensions: { code, ...(details ? { details } : {}) } };
  }

  // graphql-js raises plain GraphQLErrors (no originalError) for bad variable values and the like.
  if (error instanceof GraphQLError && !error.originalError && formatted.path === undefined) {
    return { ...base, message: formatted.message, extensions: { code: 'BAD_USER_INPUT' } };
  }

  logger.error({ err: original, requestId, path: formatted.path }, 'internal error');
  return { ...base, message: internalMessage(requestId), extensions: { code: 'INTERNAL_SERVER_ERROR' } };
}

interface ValidationLike {
  property: string;
  constraints?: Record<string, string>;
  children?: ValidationLike[];
}

function flattenValidation(v: ValidationLike, prefix = ''): Array<{ field: string; problem: string }> {
  const field = prefix ? `${prefix}.${v.property}` : v.property;
  const own = Object.values(v.constraints ?? {}).map((problem) => ({ field, problem }));
  return [...own, ...(v.children ?? []).flatMap((c) => flattenValidation(c, field))];
}

function internalMessage(requestId?: string): string {
  return `Internal error${requestId ? ` (request ${requestId})` : ''}; the gateway log has the details`;
}
