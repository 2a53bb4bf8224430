import type { DataSource, EntityManager } from 'typeorm';
import { ConflictError, NotFoundError } from '../errors';
import { GroupEntity, StorageReservationEntity } from '../persistence/entities';
import { StorageReservation } from './reservation';
import { storageUsage, StorageUsage, usedBytes } from './usage';

/** A group's usage with the quota in force. */
export interface GroupStorage extends StorageUsage {
  /** The group's own quota; null: the installation default applies. */
  quotaBytes: number | null;
  /** The quota in force (its own, else the default); null: no limit. */
  limitBytes: number | null;
  usedBytes: number;
}

/**
 * Per-group storage quotas of the gateway's own stores (images' content, gateway-kept replicas).
 * A transfer reserves its bytes before it writes them: each reservation (or growth of one) runs in
 * a transaction that locks the group's row, reads the usage in one statement and adds the bytes
 * only when they fit, so concurrent transfers of a group cannot together pass the quota.
 */
export class StorageQuotas {
  constructor(
    private readonly dataSource: DataSource,
    /** Bytes each group may keep when it has no quota of its own (`RSP_GROUP_STORAGE_BYTES`); undefined: no limit. */
    readonly defaultBytes: number | undefined,
    /** This gateway's id, recorded on its reservations (see `releaseAbandoned`). */
    private readonly holder: string | null = null,
  ) {}

  /** The quota in force for a group: its own, else the installation default; undefined: no limit. */
  limitOf(group: Pick<GroupEntity, 'storageQuotaBytes'>): number | undefined {
    return group.storageQuotaBytes ?? this.defaultBytes;
  }

  /** A group's usage and quota. */
  async storageOf(group: Pick<GroupEntity, 'id' | 'storageQuotaBytes'>): Promise<GroupStorage> {
    const usage = await storageUsage(this.dataSource.manager, group.id);
    return { ...usage, usedBytes: usedBytes(usage), quotaBytes: group.storageQuotaBytes, limitBytes: this.limitOf(group) ?? null };
  }

  /**
   * Reserves `bytes` (0 when the size is not known yet: the reservation grows as bits arrive) for
   * `purpose` (`the upload of image …`), or the CONFLICT with `details.reason: STORAGE_QUOTA` when
   * they do not fit. A group without a limit gets a reservation that holds nothing.
   * `exceptImageId`: the image being uploaded, whose declared size is not counted.
   */
  async reserve(groupId: string, bytes: number, purpose: string, exceptImageId?: string): Promise<StorageReservation> {
    const reservation = new StorageReservation(this, groupId, purpose, exceptImageId);
    await reservation.cover(bytes, 0);
    return reservation;
  }

  /**
   * Adds to a reservation (made when `id` is null): `want` bytes when they fit, else `need`, else
   * the quota's CONFLICT. Returns the bytes added and the reservation's id; `limited` false (and
   * nothing recorded) when the group has no limit.
   */
  async grow(r: { id: string | null; groupId: string; purpose: string; exceptImageId?: string }, need: number, want: number): Promise<{ id: string | null; added: number; limited: boolean }> {
    return this.dataSource.transaction(async (m) => {
      const group = await m.getRepository(GroupEntity).findOne({ where: { id: r.groupId }, lock: { mode: 'pessimistic_write' } });
      if (!group) throw new NotFoundError('Group', r.groupId);
      const limit = this.limitOf(group);
      if (limit === undefined) return { id: r.id, added: 0, limited: false };
      const used = usedBytes(await storageUsage(m, r.groupId, r.exceptImageId));
      const added = used + want <= limit ? want : used + need <= limit ? need : -1;
      if (added < 0) throw quotaExceeded(r.groupId, used, limit, need, r.purpose);
      const repo = m.getRepository(StorageReservationEntity);
      if (r.id) {
        await repo.increment({ id: r.id }, 'bytes', added);
        return { id: r.id, added, limited: true };
      }
      const saved = await repo.save(repo.create({ groupId: r.groupId, bytes: added, purpose: r.purpose.slice(0, 200), holder: this.holder }));
      return { id: saved.id, added, limited: true };
    });
  }

  /** Deletes a reservation, within `m` when given (the transaction that records what was stored). */
  async drop(id: string, m: EntityManager = this.dataSource.manager): Promise<void> {
    await m.getRepository(StorageReservationEntity).delete({ id });
  }

  /**
   * Deletes the reservations an earlier run of this gateway left (it was killed or crashed in the
   * middle of a transfer), but for those of open transfers of other sites; called at start. Returns how many.
   */
  async releaseAbandoned(): Promise<number> {
    if (!this.holder) return 0;
    // Those of transfers other sites began here are kept: the transfers go on after the restart (PeerStore.resumeOpen).
    const result = await this.dataSource
      .createQueryBuilder()
      .delete()
      .from(StorageReservationEntity)
      .where('holder = :holder', { holder: this.holder })
      .andWhere('id NOT IN (SELECT "reservationId" FROM "peer_transfer" WHERE "reservationId" IS NOT NULL)')
      .execute();
    return result.affected ?? 0;
  }

  /** The bytes reservation `id` holds (0 when it is gone). */
  async bytesOf(id: string): Promise<number> {
    return (await this.dataSource.getRepository(StorageReservationEntity).findOneBy({ id }))?.bytes ?? 0;
  }
}

/** The CONFLICT of a transfer past a group's quota: `details.reason` `STORAGE_QUOTA`, with used, limit and needed bytes. */
export function quotaExceeded(groupId: string, used: number, limit: number, need: number, purpose: string): ConflictError {
  return new ConflictError(
    `Storage quota of group ${groupId} exceeded: ${used} of ${limit} bytes used (its images, the replicas the gateway keeps and transfers in progress); ${purpose} needs ${need} more bytes, ${Math.max(0, limit - used)} are left`,
    { reason: 'STORAGE_QUOTA', groupId, usedBytes: used, limitBytes: limit, neededBytes: need },
  );
}
