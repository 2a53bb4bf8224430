import { BadInputError } from '../errors';

/**
 * The most names in the lists of records every group lists (open offers' and needs' technologies,
 * which `satisfiableNeeds` also pairs), and the most characters of each (their other text is
 * bounded by their GraphQL inputs): with `GROUP_RECORD_LIMITS` bounding how many such records a
 * group keeps, this bounds what one group makes everyone's listings carry.
 */
export const LISTED_TEXT_LIMITS = { name: 200, listEntries: 32 } as const;

/** Refuses (BAD_USER_INPUT naming the field) a name longer than `LISTED_TEXT_LIMITS.name`, or a list of more than `.listEntries` names or with a longer one. */
export function checkListedText(fields: { names?: Record<string, string | null | undefined>; lists?: Record<string, readonly string[] | null | undefined> }): void {
  const over = (field: string, limit: number, what: string, got: number) => new BadInputError(`${field} is at most ${limit} ${what} (got ${got})`, { field, limit, got });
  for (const [field, value] of Object.entries(fields.names ?? {})) if (value && value.length > LISTED_TEXT_LIMITS.name) throw over(field, LISTED_TEXT_LIMITS.name, 'characters', value.length);
  for (const [field, list] of Object.entries(fields.lists ?? {})) {
    if (!list) continue;
    if (list.length > LISTED_TEXT_LIMITS.listEntries) throw over(field, LISTED_TEXT_LIMITS.listEntries, 'entries', list.length);
    for (const value of list) if (value.length > LISTED_TEXT_LIMITS.name) throw over(`${field}[]`, LISTED_TEXT_LIMITS.name, 'characters', value.length);
  }
}
