import type { EntityManager } from 'typeorm';
import type { StorageQuotas } from './storage-quotas';

/** The least and most a reservation of unknown final size grows by at a time. */
const MIN_STEP = 1024 ** 2;
const MAX_STEP = 256 * 1024 ** 2;

/**
 * Bytes of a group's quota held by one transfer. It grows ahead of the bits (by as much as it
 * holds, 1 MiB to 256 MiB at a time, or exactly what is needed near the limit) and ends either
 * `settleWithin` the transaction that records what was stored, or `release`d when the transfer fails.
 */
export class StorageReservation {
  private id: string | null = null;
  private limited = true;
  /** Bytes held. */
  bytes = 0;

  constructor(
    private readonly quotas: StorageQuotas,
    readonly groupId: string,
    readonly purpose: string,
    readonly exceptImageId?: string,
  ) {}

  /** A reservation recorded earlier (its row `id`, null when the group had no limit, holding `bytes`), taken up again after a restart. */
  static resumed(quotas: StorageQuotas, groupId: string, purpose: string, id: string | null, bytes: number): StorageReservation {
    const r = new StorageReservation(quotas, groupId, purpose);
    r.id = id;
    r.limited = id !== null;
    r.bytes = bytes;
    return r;
  }

  /** Its row in storage_reservation (null until it holds bytes of a limited group, and once ended). */
  get recordId(): string | null {
    return this.id;
  }

  /** True when `total` bytes are covered already (or the group has no limit). */
  covers(total: number): boolean {
    return !this.limited || total <= this.bytes;
  }

  /**
   * Grows to cover `total` bytes, with `step` more when they fit (default: as much as it holds,
   * within 1 MiB–256 MiB); the quota's CONFLICT when even `total` does not fit.
   */
  async cover(total: number, step = Math.min(MAX_STEP, Math.max(MIN_STEP, this.bytes))): Promise<void> {
    if (this.id && this.covers(total)) return;
    if (!this.limited) return;
    const need = Math.max(0, total - this.bytes);
    const grown = await this.quotas.grow({ id: this.id, groupId: this.groupId, purpose: this.purpose, exceptImageId: this.exceptImageId }, need, need + step);
    this.id = grown.id;
    this.limited = grown.limited;
    this.bytes += grown.added;
  }

  /** Ends the reservation in `m`, the transaction that records what the transfer stored. */
  async settleWithin(m: EntityManager): Promise<void> {
    if (this.id) await this.quotas.drop(this.id, m);
    this.id = null;
  }

  /**
   * Ends the reservation of a failed transfer. Never throws (it runs while another error is on its
   * way): a reservation it could not delete is dropped at this gateway's next start.
   */
  async release(): Promise<void> {
    if (!this.id) return;
    const id = this.id;
    this.id = null;
    await this.quotas.drop(id).catch(() => undefined);
  }
}
