import { QueryFailedError } from 'typeorm';
import { BadInputError, ConflictError, RspError } from './rsp-error';

/** PostgreSQL error codes a caller can trigger, and the category each maps to. */
const CALLER_ERRORS: Record<string, (detail: string) => RspError> = {
  '22P02': (d) => new BadInputError(`Invalid value: ${d}`),
  '22003': (d) => new BadInputError(`Value out of range: ${d}`),
  '23505': (d) => new ConflictError(`Already exists: ${d}`),
  '23503': (d) => new ConflictError(`Still referenced, or refers to something missing: ${d}`),
  '23514': (d) => new BadInputError(`Rejected by a rule: ${d}`),
  '23502': (d) => new BadInputError(`A required value is missing: ${d}`),
  '40001': () => new ConflictError('A concurrent change won; try again'),
  '40P01': () => new ConflictError('A concurrent change won; try again'),
};

/**
 * Maps a database error a caller can cause (bad id syntax, unique violation, lost race) to an
 * RspError; returns undefined for anything else, which stays internal. Services validate first:
 * this is the safety net behind them.
 */
export function fromDatabaseError(error: unknown): RspError | undefined {
  if (!(error instanceof QueryFailedError)) return undefined;
  const driverError = error.driverError as { code?: string; detail?: string; message?: string };
  const make = driverError.code ? CALLER_ERRORS[driverError.code] : undefined;
  return make?.(driverError.detail ?? driverError.message ?? error.message);
}
