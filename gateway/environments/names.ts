import { In, type EntityManager } from 'typeorm';
import { BadInputError, ConflictError } from '../errors';
import { EnvironmentEntity } from '../persistence/entities';
import { LIVE_STATUSES } from './state-machine';

/** Names of environments: a DNS label. */
export const ENVIRONMENT_NAME_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Checks the form of an environment name (BAD_USER_INPUT). */
export function validateEnvironmentName(name: string): void {
  if (!ENVIRONMENT_NAME_PATTERN.test(name)) throw new BadInputError(`"${name}" is not an environment name: use a DNS label (a-z, 0-9, -)`, { name });
}

/** Checks no live environment of the group has the name (CONFLICT). */
export async function requireFreeName(m: EntityManager, groupId: string, name: string): Promise<void> {
  if (await m.getRepository(EnvironmentEntity).existsBy({ groupId, name, status: In([...LIVE_STATUSES]) })) {
    throw new ConflictError(`The group already has an environment named ${name}`, { name });
  }
}
