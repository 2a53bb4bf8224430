import { QueryFailedError } from 'typeorm';
import { BadInputError, ConflictError, isRspError, RspError, UnavailableError } from './rsp-error';

/** PostgreSQL error codes a caller can trigger, and the category each maps to. */
const CALLER_ERRORS: Record<string, (detail: string) => RspError> = {
  '22P02': (d) => {
    // The usual one: an id that is no UUID (`rsp env show web` instead of its id).
    const id = /^invalid input syntax for type uuid: "(.*)"$/s.exec(d)?.[1];
    return new BadInputError(id !== undefined ? `Not an id: "${id}" (ids are UUIDs)` : `Invalid value: ${d}`);
  },
  '22003': (d) => new BadInputError(`Value out of range: ${d}`),
  // A date PostgreSQL cannot keep (year 0, before 4713 BC), a text longer than its column.
  '22007': (d) => new BadInputError(`Invalid date: ${d}`),
  '22008': (d) => new BadInputError(`Date out of range: ${d}`),
  '22009': (d) => new BadInputError(`Date out of range: ${d}`),
  '22001': (d) => new BadInputError(`Value too long: ${d}`),
  '23505': (d) => new ConflictError(`Already exists: ${d}`),
  '23503': (d) => new ConflictError(`Still referenced, or refers to something missing: ${d}`),
  '23514': (d) => new BadInputError(`Rejected by a rule: ${d}`),
  '23502': (d) => new BadInputError(`A required value is missing: ${d}`),
  '40001': () => new ConflictError('A concurrent change won; try again'),
  '40P01': () => new ConflictError('A concurrent change won; try again'),
};

/** Seconds a client is asked to wait (`Retry-After`) before retrying after an outage. */
export const OUTAGE_RETRY_AFTER_SECONDS = 2;

/** What the gateway depends on and could not reach. */
export type Dependency = 'database' | 'redis';

/**
 * A dependency of the gateway itself (its database, its Redis) does not answer: the request may
 * succeed when retried. GraphQL code `UNAVAILABLE`, HTTP 503 with `Retry-After`.
 */
export class OutageError extends UnavailableError {
  constructor(
    readonly dependency: Dependency,
    readonly retryAfterSeconds = OUTAGE_RETRY_AFTER_SECONDS,
    options?: { cause?: unknown },
  ) {
    super(`The ${dependency === 'redis' ? 'event bus (Redis)' : 'database'} is unreachable; retry in a moment`, { dependency, retryAfterSeconds }, options);
  }
}

/** Socket errors of a connection that could not be made or was lost. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'ECONNABORTED']);

/** PostgreSQL SQLSTATEs of a server that cannot serve now: shutting down, starting, out of connections. */
const SERVER_UNAVAILABLE_CODES = new Set(['57P01', '57P02', '57P03', '53300', '53400']);

/** Messages node-postgres and pg-pool raise for a lost connection or an exhausted pool. */
const DATABASE_OUTAGE_MESSAGE = /timeout exceeded when trying to connect|Connection terminated|connection error and is not queryable|Client was closed and is not queryable/i;

/** Errors ioredis raises while Redis is unreachable. */
const REDIS_OUTAGE = (e: { name?: string; message?: string }) => e.name === 'MaxRetriesPerRequestError' || /^Connection is closed\.?$|Stream isn't writeable|Reached the max retries per request limit/.test(e.message ?? '');

/**
 * The outage behind an error, when it is one: the database or Redis unreachable, a lost
 * connection, a pool that gave no connection in time. Looks through TypeORM's wrapper
 * (`driverError`), graphql-js's (`thrownValue`) and `cause` chains.
 */
export function outageOf(error: unknown): OutageError | undefined {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current && typeof current === 'object' && !seen.has(current)) {
    seen.add(current);
    if (current instanceof OutageError) return current;
    // An error raised on purpose already has its category.
    if (isRspError(current)) return undefined;
    const e = current as { code?: unknown; name?: string; message?: string; driverError?: unknown; cause?: unknown; errors?: unknown[]; thrownValue?: unknown };
    if (REDIS_OUTAGE(e)) return new OutageError('redis', OUTAGE_RETRY_AFTER_SECONDS, { cause: error });
    const code = typeof e.code === 'string' ? e.code : undefined;
    if (code && (NETWORK_CODES.has(code) || SERVER_UNAVAILABLE_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code))) return new OutageError('database', OUTAGE_RETRY_AFTER_SECONDS, { cause: error });
    if (DATABASE_OUTAGE_MESSAGE.test(e.message ?? '')) return new OutageError('database', OUTAGE_RETRY_AFTER_SECONDS, { cause: error });
    // graphql-js wraps what is not an Error (an error of another realm) with `thrownValue`.
    current = e.driverError ?? e.cause ?? e.thrownValue ?? (Array.isArray(e.errors) ? e.errors[0] : undefined);
  }
  return undefined;
}

/**
 * Maps a database error a caller can cause (bad id syntax, unique violation, lost race) to an
 * RspError, and an outage (database or Redis unreachable) to an `OutageError`; returns undefined
 * for anything else, which stays internal. Services validate first: this is the safety net
 * behind them.
 */
export function fromDatabaseError(error: unknown): RspError | undefined {
  const outage = outageOf(error);
  if (outage) return outage;
  const full = diskFullOf(error);
  if (full) return full;
  if (!(error instanceof QueryFailedError)) return undefined;
  const driverError = error.driverError as { code?: string; detail?: string; message?: string };
  const make = driverError.code ? CALLER_ERRORS[driverError.code] : undefined;
  return make?.(driverError.detail ?? driverError.message ?? error.message);
}

/**
 * A full disk, the database's (PostgreSQL's `disk_full`, 53100, as PGlite reports it too) or the
 * gateway's stores' (`ENOSPC`, `EDQUOT` from a write): UNAVAILABLE, saying what is full, instead of
 * an internal error; the operators free space and the same request works.
 */
function diskFullOf(error: unknown): RspError | undefined {
  const driverError = error instanceof QueryFailedError ? (error.driverError as { code?: string; message?: string }) : undefined;
  if (driverError?.code === '53100') return new UnavailableError(`The database is out of disk space (${driverError.message ?? error}): its operators must free space on its disk`, { reason: 'DISK_FULL' }, { cause: error });
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return new UnavailableError(`The gateway's storage is full (${code === 'ENOSPC' ? 'no space left on device' : 'disk quota exceeded'}): its operators must free space on it`, { reason: 'DISK_FULL' }, { cause: error });
  return undefined;
}
