import { BadInputError, ConflictError } from '../errors';

/** Names of environments: a DNS label. */
export const ENVIRONMENT_NAME_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Checks the form of an environment name (BAD_USER_INPUT). */
export function validateEnvironmentName(name: string): void {
  if (!ENVIRONMENT_NAME_PATTERN.test(name)) throw new BadInputError(`"${name}" is not an environment name: use a DNS label (a-z, 0-9, -)`, { name });
}

/** The index that keeps one live environment per group and name (a DESTROYED one frees its name). */
export const LIVE_NAME_INDEX = 'UQ_environment_live_name';

/**
 * The refusal for an insert that `LIVE_NAME_INDEX` turned down (the group has a live environment
 * named so, maybe written a moment before by a concurrent request); undefined for any other error.
 */
export function nameTakenError(error: unknown, name: string): ConflictError | undefined {
  const driverError = (error as { driverError?: { code?: string; constraint?: string } } | undefined)?.driverError;
  if (driverError?.code !== '23505' || driverError.constraint !== LIVE_NAME_INDEX) return undefined;
  return new ConflictError(`The group already has an environment named ${name}`, { name });
}
