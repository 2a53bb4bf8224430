import { BadInputError } from '../errors';

/** The engine-side name prefix of RSP's environments when a driver instance names none. */
export const DEFAULT_NAME_PREFIX = 'rsp-';

/** What a name prefix may be: lower-case letters, digits and dashes, ending in a dash. */
const NAME_PREFIX_PATTERN = /^[a-z][a-z0-9-]{0,30}-$/;

/**
 * Checks a driver instance's engine-side name prefix (e.g. `rsp-b-` for a second agent sharing
 * the engine); BAD_USER_INPUT when it is not one. Returns the prefix, default `rsp-`.
 */
export function namePrefixOf(prefix: string | undefined): string {
  const value = prefix ?? DEFAULT_NAME_PREFIX;
  if (!NAME_PREFIX_PATTERN.test(value)) throw new BadInputError(`name prefix "${value}" is not one: a-z, 0-9 and -, starting with a letter, ending with -, at most 32`, { namePrefix: value });
  return value;
}
