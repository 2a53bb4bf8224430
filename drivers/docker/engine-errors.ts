import { ConflictError, EnvironmentExistsError, EnvironmentNotFoundError, NotFoundError, RspError, UnavailableError } from '../errors';

/** What an error from dockerode/docker-modem looks like. */
interface EngineError {
  statusCode?: number;
  code?: string;
  message?: string;
  json?: { message?: string } | null;
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE', 'ETIMEDOUT']);

/** True when the engine did not answer at all (no socket, refused, reset). */
export function isConnectionError(error: unknown): boolean {
  const code = (error as EngineError)?.code;
  return typeof code === 'string' && CONNECTION_CODES.has(code);
}

/** The engine's own message, without dockerode's prefix. */
export function engineMessage(error: unknown): string {
  const e = error as EngineError;
  return e?.json?.message ?? e?.message ?? String(error);
}

/**
 * Translates an engine error into RSP's error model: unreachable engine → UNAVAILABLE; 404 on an
 * environment → NOT_FOUND; 409 on create → CONFLICT; RspErrors pass through; anything else is
 * wrapped with what was being done.
 */
export function translateEngineError(error: unknown, what: string, context: { driver: string; endpoint: string; id?: string; creating?: boolean; image?: string }): Error {
  if (error instanceof RspError) return error;
  if (isConnectionError(error)) {
    return new UnavailableError(`Docker engine at ${context.endpoint} does not answer (${(error as EngineError).code}) during ${what}`, { driver: context.driver, endpoint: context.endpoint }, { cause: error });
  }
  const status = (error as EngineError)?.statusCode;
  if (status === 404 && context.id && !context.creating) return new EnvironmentNotFoundError(context.driver, context.id);
  if (status === 404 && context.creating) return new NotFoundError('Image', context.image ?? engineMessage(error), { driver: context.driver, engine: engineMessage(error) });
  if (status === 409 && context.id && context.creating) return new EnvironmentExistsError(context.driver, context.id);
  if (/address already in use|port is already allocated/i.test(engineMessage(error))) return new ConflictError(`Docker engine refused ${what}: ${engineMessage(error)}`, { driver: context.driver, ...(context.id ? { id: context.id } : {}) });
  const wrapped = new Error(`Docker engine failed during ${what}: ${engineMessage(error)}`, { cause: error });
  return wrapped;
}
