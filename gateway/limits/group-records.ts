import type { FindOptionsWhere, ObjectLiteral, Repository } from 'typeorm';
import { ConflictError } from '../errors';

/**
 * The most records of each kind one group keeps: records other groups list (public images, open
 * offers and needs, which `satisfiableNeeds` also pairs) or the gateway works through all the time
 * (alert rules, each checked against every sample; replication policies, each run on its
 * schedule), and the tokens each rate is counted for, so one group cannot make everyone's lists or
 * the alert evaluator grow without end, nor multiply its request rates.
 */
export const GROUP_RECORD_LIMITS = {
  /** Images in the catalog, whatever their visibility. */
  images: 10_000,
  /** Alert rules of the group. */
  alertRules: 500,
  /** Offers still OPEN. */
  openOffers: 500,
  /** Needs still OPEN. */
  openNeeds: 500,
  /** API tokens neither revoked nor expired: each has rate limits of its own, so more tokens would multiply the group's. */
  liveTokens: 200,
  /** Layers the group made itself (not the ZONE layers of its environments, nor hosts' MACHINE layers). */
  layers: 1_000,
  /** Replication policies, each run and drilled on its own schedule. */
  replicationPolicies: 1_000,
} as const;

/** A kind of record `GROUP_RECORD_LIMITS` bounds. */
export type GroupRecordKind = keyof typeof GROUP_RECORD_LIMITS;

/** What each kind is called in a refusal. */
const NAMES: Record<GroupRecordKind, string> = { images: 'images', alertRules: 'alert rules', openOffers: 'open offers', openNeeds: 'open needs', liveTokens: 'live tokens', layers: 'layers', replicationPolicies: 'replication policies' };

/** The class key of the advisory locks under which a group's records of one kind are counted and inserted (any constant shared by every replica). */
const GROUP_ROOM_LOCK = 0x67726f75;

/**
 * Passes while the group keeps fewer than its limit of `kind` (the rows of `repo` matching
 * `where`, or any of several); CONFLICT with `details.reason: GROUP_LIMIT` otherwise. `repo` is of
 * the transaction that then inserts: the count is taken under a transaction-scoped advisory lock
 * per group and kind, so concurrent requests wait for each other's insert and the limit is exact.
 */
export async function requireGroupRoom<T extends ObjectLiteral>(repo: Repository<T>, where: FindOptionsWhere<T> | FindOptionsWhere<T>[], groupId: string, kind: GroupRecordKind): Promise<void> {
  if (!repo.manager.queryRunner?.isTransactionActive) throw new Error(`requireGroupRoom(${kind}) must run in the transaction that inserts`);
  await repo.manager.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [GROUP_ROOM_LOCK, `${kind}:${groupId}`]);
  const limit = GROUP_RECORD_LIMITS[kind];
  const count = await repo.count({ where });
  if (count >= limit) {
    throw new ConflictError(`Group ${groupId} keeps ${limit} ${NAMES[kind]}, the most a group may: remove some first`, { reason: 'GROUP_LIMIT', groupId, kind, limit });
  }
}
