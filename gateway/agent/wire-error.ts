import {
  BadInputError,
  ConflictError,
  ErrorCategory,
  ForbiddenError,
  IntegrityError,
  NotFoundError,
  RspError,
  TimeoutError,
  UnauthenticatedError,
  UnavailableError,
  UnsupportedOperationError,
} from '../errors';
import type { WireError } from './protocol';

/** The RspError subclass each category is raised as on the caller's side. */
const CLASS_OF: Record<ErrorCategory, { prototype: RspError; name: string }> = {
  BAD_USER_INPUT: BadInputError,
  UNAUTHENTICATED: UnauthenticatedError,
  FORBIDDEN: ForbiddenError,
  NOT_FOUND: NotFoundError,
  CONFLICT: ConflictError,
  UNSUPPORTED_OPERATION: UnsupportedOperationError,
  UNAVAILABLE: UnavailableError,
  TIMEOUT: TimeoutError,
  INTEGRITY_ERROR: IntegrityError,
  INTERNAL: RspError,
};

/**
 * Whether `value` is one of the categories of CLASS_OF: its own keys only. `in` would also take
 * what every object inherits (`__proto__`, `constructor`, `toString`…): an agent answering with
 * such a category made `fromWireError` throw in the connection's message handler, which ended
 * the gateway's process.
 */
function isWireCategory(value: unknown): value is ErrorCategory {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(CLASS_OF, value);
}

/** An error as data: an RspError (recognised by its category, whichever copy of the class made it) keeps category, message and details; anything else is INTERNAL. */
export function toWireError(error: unknown): WireError {
  const category = (error as { category?: unknown } | null)?.category;
  if (isWireCategory(category)) {
    const e = error as RspError;
    return { category, message: e.message, details: plainDetails(e.details) };
  }
  return { category: 'INTERNAL', message: error instanceof Error ? error.message : String(error), details: {} };
}

/** The error a `WireError` stands for, raised as the RspError subclass of its category (an unknown category is INTERNAL). */
export function fromWireError(wire: WireError): RspError {
  const category: ErrorCategory = wire && isWireCategory(wire.category) ? wire.category : 'INTERNAL';
  const details = wire?.details && typeof wire.details === 'object' && !Array.isArray(wire.details) ? wire.details : {};
  const error = new RspError(category, typeof wire?.message === 'string' ? wire.message : 'the agent gave no message', details);
  const cls = CLASS_OF[category];
  Object.setPrototypeOf(error, cls.prototype);
  error.name = cls.name;
  // The fields some subclasses carry beside their details.
  if (category === 'INTEGRITY_ERROR') Object.assign(error, { manifestId: details.manifestId, chunk: details.chunk, reason: details.reason });
  if (category === 'UNSUPPORTED_OPERATION') Object.assign(error, { operation: details.operation, by: details.by });
  return error;
}

/** Details as JSON keeps them (anything it cannot carry is dropped or turned into text). */
function plainDetails(details: unknown): Record<string, unknown> {
  if (!details || typeof details !== 'object') return {};
  try {
    return JSON.parse(JSON.stringify(details, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))) as Record<string, unknown>;
  } catch {
    return {};
  }
}
