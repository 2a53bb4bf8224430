import { Operations1764000000000 } from './1764000000000-operations';

/** Every migration, oldest first. A new migration is added here and nowhere else. */
export const migrations = [Operations1764000000000];
