import type { EntityManager } from 'typeorm';
import { BadInputError, ConflictError } from '../errors';
import { LIVE_STATUSES } from './state-machine';

/** Names of environments: a DNS label. */
export const ENVIRONMENT_NAME_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Checks the form of an environment name (BAD_USER_INPUT). */
export function validateEnvironmentName(name: string): void {
  if (!ENVIRONMENT_NAME_PATTERN.test(name)) throw new BadInputError(`"${name}" is not an environment name: use a DNS label (a-z, 0-9, -)`, { name });
}

/** The live statuses, as one parameter. */
const LIVE = [...LIVE_STATUSES];

/** A live environment of the group ($1) with the name ($2). */
const FREE_NAME_STATEMENT = 'SELECT 1 FROM "environment" WHERE "groupId" = $1 AND "name" = $2 AND "status" = ANY($3) LIMIT 1';

/** Checks no live environment of the group has the name (CONFLICT). */
export async function requireFreeName(m: Pick<EntityManager, 'query'>, groupId: string, name: string): Promise<void> {
  // Written out: every create asks it, and the repository's `existsBy` cost several times the statement.
  const taken = (await m.query(FREE_NAME_STATEMENT, [groupId, name, LIVE])) as unknown[];
  if (taken.length) {
    throw new ConflictError(`The group already has an environment named ${name}`, { name });
  }
}
