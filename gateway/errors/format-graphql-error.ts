import { GraphQLError, GraphQLFormattedError } from 'graphql';
import { ArgumentValidationError } from 'type-graphql';
import type { Logger } from 'pino';
import { fromDatabaseError, OutageError } from './database-error';
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

/** Characters of an error's message a caller gets at most: messages quote what was sent, which may be megabytes. */
export const MAX_ERROR_MESSAGE_CHARS = 4000;

/**
 * `message`, cut to about `max` characters (MAX_ERROR_MESSAGE_CHARS) saying how much was left out:
 * its start and its last quarter (at most 500 characters) are kept, so the reason that follows a
 * quoted value (`Variable "$i" got invalid value "…"; Int cannot represent …`) still shows. Never
 * cut between the halves of a surrogate pair.
 */
export function clipMessage(message: string, max = MAX_ERROR_MESSAGE_CHARS): string {
  if (message.length <= max) return message;
  const tail = Math.min(500, Math.floor(max / 4));
  let end = max - tail;
  if (isHighSurrogate(message.charCodeAt(end - 1))) end--;
  let start = message.length - tail;
  if (isHighSurrogate(message.charCodeAt(start - 1))) start++;
  return `${message.slice(0, end)}… (${start - end} characters left out) …${message.slice(start)}`;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/** Characters of one string (or object key) in an error's `details` a caller gets at most. */
export const MAX_DETAIL_STRING_CHARS = 1000;

/** Entries of one list or object in an error's `details` a caller gets at most. */
export const MAX_DETAIL_ENTRIES = 50;

/** Characters of an error's whole `details` (as JSON) a caller gets at most. */
export const MAX_DETAILS_CHARS = 16_000;

/** Levels of nesting of an error's `details` a caller gets at most. */
const MAX_DETAIL_DEPTH = 8;

/**
 * An error's `details`, bounded as its message is: details name what was sent (a name, a key, a
 * path, a value), which may be megabytes or thousands of entries. Strings and keys are cut to
 * MAX_DETAIL_STRING_CHARS, lists and objects to MAX_DETAIL_ENTRIES entries (saying how many more
 * there were), nesting to a few levels; details still over MAX_DETAILS_CHARS as JSON are left
 * out, saying so. Dates become their ISO text, as JSON would write them.
 */
export function clipDetails(details: Record<string, unknown>): Record<string, unknown> {
  const clipped = clipDetail(details, 0) as Record<string, unknown>;
  const size = JSON.stringify(clipped)?.length ?? 0;
  return size <= MAX_DETAILS_CHARS ? clipped : { omitted: `the details were ${size} characters long; at most ${MAX_DETAILS_CHARS} are sent` };
}

function clipDetail(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return clipMessage(value, MAX_DETAIL_STRING_CHARS);
  if (typeof value === 'bigint') return String(value);
  if (value === null || typeof value !== 'object') return typeof value === 'function' || typeof value === 'symbol' ? undefined : value;
  const json = (value as { toJSON?: unknown }).toJSON;
  if (typeof json === 'function') return clipDetail(json.call(value), depth);
  if (depth >= MAX_DETAIL_DEPTH) return '…';
  if (Array.isArray(value)) {
    const kept = value.slice(0, MAX_DETAIL_ENTRIES).map((item) => clipDetail(item, depth + 1) ?? null);
    return value.length > MAX_DETAIL_ENTRIES ? [...kept, `… (${value.length - MAX_DETAIL_ENTRIES} more entries)`] : kept;
  }
  const entries = Object.entries(value);
  const out: Record<string, unknown> = {};
  for (const [key, item] of entries.slice(0, MAX_DETAIL_ENTRIES)) out[clipMessage(key, MAX_DETAIL_STRING_CHARS)] = clipDetail(item, depth + 1);
  if (entries.length > MAX_DETAIL_ENTRIES) out['…'] = `${entries.length - MAX_DETAIL_ENTRIES} more entries`;
  return out;
}

/**
 * Maps any error raised while executing a request to what the caller sees:
 * - `RspError` (of any copy of the SDK: a plugin's own included) → its category as
 *   `extensions.code`, its message and details;
 * - class-validator failures → `BAD_USER_INPUT` with each failed constraint;
 * - the database or Redis unreachable → `UNAVAILABLE` (an `OutageError`: HTTP 503 with `Retry-After`);
 * - request errors (parse, validation) → unchanged;
 * - anything else → `INTERNAL_SERVER_ERROR` without message or stack, logged with context.
 * Messages are cut to MAX_ERROR_MESSAGE_CHARS (`clipMessage`), details bounded by `clipDetails`.
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
    if (original instanceof OutageError) logger.warn({ dependency: original.dependency, cause: causeMessage(original), requestId, path: formatted.path }, 'dependency unreachable');
    return {
      ...base,
      message: original.category === 'INTERNAL' ? internalMessage(requestId) : clipMessage(original.message),
      extensions: { code, ...(Object.keys(original.details).length ? { details: clipDetails(original.details) } : {}) },
    };
  }

  if (original instanceof ArgumentValidationError) {
    const problems = original.extensions.validationErrors.flatMap((v) =>
      flattenValidation(v as ValidationLike),
    );
    return {
      ...base,
      message: clipMessage(`Invalid input: ${problems.map((p) => `${p.field}: ${p.problem}`).join('; ')}`),
      extensions: { code: 'BAD_USER_INPUT', details: clipDetails({ problems }) },
    };
  }

  const passed = passedThroughCode(error, formatted.extensions?.code, formatted.path);
  if (passed === 'UNCHANGED') {
    // An error raised with its own code (the operation limits, the rates) keeps its details too.
    const details = error instanceof GraphQLError && !error.originalError ? formatted.extensions?.details : undefined;
    return { ...base, message: clipMessage(formatted.message), extensions: { code: formatted.extensions!.code as string, ...(details && typeof details === 'object' ? { details: clipDetails(details as Record<string, unknown>) } : {}) } };
  }
  if (passed) return { ...base, message: clipMessage(formatted.message), extensions: { code: passed } };

  logger.error({ err: original, requestId, path: formatted.path }, 'internal error');
  return { ...base, message: internalMessage(requestId), extensions: { code: 'INTERNAL_SERVER_ERROR' } };
}

/**
 * The `extensions.code` `formatGraphQLError` gives an error, from the raw error alone (what
 * plugins' `onError`/`onResponse` hooks receive): the request log records the code the caller saw.
 */
export function graphQLErrorCode(error: unknown): string {
  const raw = error instanceof GraphQLError ? error.originalError ?? error : error;
  const original = fromDatabaseError(raw) ?? raw;
  if (isRspError(original)) return original.category === 'INTERNAL' ? 'INTERNAL_SERVER_ERROR' : original.category;
  if (original instanceof ArgumentValidationError) return 'BAD_USER_INPUT';
  if (!(error instanceof GraphQLError)) return 'INTERNAL_SERVER_ERROR';
  const passed = passedThroughCode(error, error.extensions?.code, error.path);
  return passed === 'UNCHANGED' ? String(error.extensions.code) : passed ?? 'INTERNAL_SERVER_ERROR';
}

/**
 * For an error that is neither an RspError nor a validation failure: 'UNCHANGED' when its own
 * code stands (request errors, and codes set explicitly on a plain GraphQLError), BAD_USER_INPUT
 * for graphql-js's own errors outside any field (bad variable values), undefined when internal.
 */
function passedThroughCode(error: unknown, code: unknown, path: GraphQLFormattedError['path']): 'UNCHANGED' | 'BAD_USER_INPUT' | undefined {
  const explicit = error instanceof GraphQLError && !error.originalError && typeof code === 'string' && code !== 'INTERNAL_SERVER_ERROR';
  if (typeof code === 'string' && (REQUEST_ERROR_CODES.has(code) || explicit)) return 'UNCHANGED';
  // graphql-js raises plain GraphQLErrors (no originalError) for bad variable values and the like.
  if (error instanceof GraphQLError && !error.originalError && path === undefined) return 'BAD_USER_INPUT';
  return undefined;
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

function causeMessage(error: Error): string | undefined {
  const cause = error.cause as { message?: string; code?: string } | undefined;
  return cause ? cause.message || cause.code : undefined;
}
