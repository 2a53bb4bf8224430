import pino, { DestinationStream, Logger, stdSerializers } from 'pino';
import type { GatewayConfig } from '../config/config';

export type { Logger };

/**
 * Creates the gateway's structured logger: JSON lines in production (`LOG_FORMAT=json`, or when
 * stdout is not a terminal) and human-readable lines in a terminal. Errors (`err`) are written
 * by `serializeError`: a failed query's values are left out. `destination`: where the lines go
 * instead of stdout (JSON only).
 */
export function createLogger(config: Pick<GatewayConfig, 'logLevel' | 'logFormat'>, destination?: DestinationStream): Logger {
  const pretty = !destination && (config.logFormat ? config.logFormat === 'pretty' : process.stdout.isTTY === true);
  const options = {
    name: 'rsp',
    level: config.logLevel,
    base: { pid: process.pid },
    serializers: { err: serializeError },
    ...(pretty
      ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } }
      : {}),
  };
  return destination ? pino(options, destination) : pino(options);
}

/**
 * Keys of a database error that hold the values a statement was given: TypeORM's `parameters`
 * and the embedded driver's `params` (every bound value: a name, a hashed secret, a user's text),
 * and PostgreSQL's `detail` (`Key (name)=(…) already exists`, `Failing row contains (…)`).
 */
const QUERY_VALUE_KEYS = ['parameters', 'params', 'detail'] as const;

/**
 * pino's error serializer, leaving out of a failed query's error (TypeORM's `QueryFailedError`, a
 * driver's `DatabaseError`, at any depth: its `driverError`) the values the statement was given:
 * an internal error is logged whole, and no secret or user value may land in the logs that way.
 * Its SQL text, code, constraint, table and column stay: what an operator needs to see what failed.
 */
export function serializeError(err: unknown): unknown {
  const serialized = stdSerializers.err(err as Error) as unknown;
  if (serialized && typeof serialized === 'object' && serialized !== err) scrubQueryValues(serialized as Record<string, unknown>, Object.getPrototypeOf(serialized) as object, 0);
  return serialized;
}

/** Replaces the query values of `error`, a serialized error, and of the errors serialized inside it (same prototype). */
function scrubQueryValues(error: Record<string, unknown>, proto: object, depth: number): void {
  const isDatabaseError = typeof error.query === 'string' || (typeof error.code === 'string' && /^[0-9A-Z]{5}$/.test(error.code) && 'severity' in error);
  if (isDatabaseError) {
    for (const key of QUERY_VALUE_KEYS) {
      const value = error[key];
      if (value === undefined || value === null) continue;
      error[key] = Array.isArray(value) ? `(${value.length} values left out of the log)` : '(left out of the log)';
    }
  }
  if (depth >= 4) return;
  for (const key of Object.keys(error)) {
    const value = error[key];
    // Only errors serialized for this line (copies): the plain values it holds are the caller's own objects.
    if (value && typeof value === 'object' && Object.getPrototypeOf(value) === proto) scrubQueryValues(value as Record<string, unknown>, proto, depth + 1);
  }
}
