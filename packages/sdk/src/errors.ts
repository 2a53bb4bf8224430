/**
 * The one error model of RSP. Every error a caller can trigger is an `RspError` with a
 * category; the category decides the GraphQL `extensions.code` and whether the message is
 * shown to the caller (everything but `INTERNAL`).
 *
 * Errors are recognised by a brand, not by `instanceof`: a plugin that ships its own copy of
 * this module (its own `node_modules/@rsp/sdk`) raises errors of other classes, and
 * `isRspError` still knows them.
 */
export const ERROR_CATEGORIES = [
  'BAD_USER_INPUT',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'CONFLICT',
  'UNSUPPORTED_OPERATION',
  'UNAVAILABLE',
  'TIMEOUT',
  'INTEGRITY_ERROR',
  'INTERNAL',
] as const;

/** What kind of failure an error is; decides its GraphQL `extensions.code`. */
export type ErrorCategory = (typeof ERROR_CATEGORIES)[number];

/**
 * The brand every RspError carries, shared by every copy of this module in the process
 * (`Symbol.for` is process-wide).
 */
export const RSP_ERROR_BRAND: unique symbol = Symbol.for('rsp.error');

const CATEGORIES: ReadonlySet<string> = new Set(ERROR_CATEGORIES);

/** Context attached to an error: what was being done, to what. Shown to callers as `extensions.details`. */
export type ErrorDetails = Record<string, unknown>;

/** Base class of every error RSP raises on purpose. */
export class RspError extends Error {
  readonly category: ErrorCategory;
  readonly details: ErrorDetails;

  /** The brand `isRspError` checks (on the prototype): true for every RspError, whichever copy of the SDK made it. */
  get [RSP_ERROR_BRAND](): true {
    return true;
  }

  constructor(category: ErrorCategory, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.category = category;
    this.details = details;
  }
}

/** The input breaks a rule: wrong value, unknown unit, bad name. */
export class BadInputError extends RspError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('BAD_USER_INPUT', message, details);
  }
}

/** No credentials, or credentials that do not identify anyone. */
export class UnauthenticatedError extends RspError {
  constructor(message = 'Authentication required: send "Authorization: Bearer <token>"', details: ErrorDetails = {}) {
    super('UNAUTHENTICATED', message, details);
  }
}

/** The caller is known but may not do this. */
export class ForbiddenError extends RspError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('FORBIDDEN', message, details);
  }
}

/** The thing named does not exist (or the caller may not know that it does). */
export class NotFoundError extends RspError {
  constructor(kind: string, id: string, details: ErrorDetails = {}) {
    super('NOT_FOUND', `${kind} ${id} was not found`, { kind, id, ...details });
  }
}

/** The request is valid but clashes with the current state (a race lost, a wrong state). */
export class ConflictError extends RspError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('CONFLICT', message, details);
  }
}

/** A driver, or the gateway, does not offer this operation. */
export class UnsupportedOperationError extends RspError {
  constructor(readonly operation: string, readonly by: string, reason?: string) {
    super(
      'UNSUPPORTED_OPERATION',
      `${by} does not support ${operation}${reason ? `: ${reason}` : ''}`,
      { operation, by, ...(reason ? { reason } : {}) },
    );
  }
}

/** Something RSP depends on (an engine, a database, a host agent) does not answer. */
export class UnavailableError extends RspError {
  constructor(message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super('UNAVAILABLE', message, details, options);
  }
}

/** An operation ran out of time. */
export class TimeoutError extends RspError {
  constructor(what: string, ms: number, details: ErrorDetails = {}) {
    super('TIMEOUT', `${what} did not finish within ${ms} ms`, { what, timeoutMs: ms, ...details });
  }
}

/** True for a known error category. */
export function isErrorCategory(value: unknown): value is ErrorCategory {
  return typeof value === 'string' && CATEGORIES.has(value);
}

/**
 * True when `error` is an RspError of any copy of the SDK: it carries the brand, a known
 * category and its details. Use it, never `instanceof RspError`, wherever a category decides
 * what a caller sees.
 */
export function isRspError(error: unknown): error is RspError {
  if (typeof error !== 'object' || error === null) return false;
  const candidate = error as Partial<RspError>;
  return candidate[RSP_ERROR_BRAND] === true && isErrorCategory(candidate.category) && typeof candidate.details === 'object' && candidate.details !== null;
}

/** True when `error` is an RspError (of any copy of the SDK) of the given category. */
export function isCategory(error: unknown, category: ErrorCategory): error is RspError {
  return isRspError(error) && error.category === category;
}
