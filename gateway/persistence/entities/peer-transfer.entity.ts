import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/**
 * A transfer another site began here (`POST /peer/store` `begin`) and has not ended: the group it
 * is for and the storage reservation holding its bytes. Kept in the database, so a restart of
 * this gateway neither loses the transfer (the sender goes on with its id) nor its quota claim;
 * one silent for 30 minutes is ended and its claim released.
 */
@Entity('peer_transfer')
export class PeerTransferEntity {
  @PrimaryColumn('uuid', { primaryKeyConstraintName: 'PK_peer_transfer' })
  id: string;

  @Column({ type: 'uuid' })
  groupId: string;

  /** The storage_reservation holding its bytes (null: the group has no storage limit). */
  @Column({ type: 'uuid', nullable: true })
  reservationId: string | null;

  /** Bytes of chunks written so far. */
  @Column({ type: 'double precision', default: 0 })
  written: number;

  /** The manifest the sender wrote within this transfer (null until it did). */
  @Column({ type: 'varchar', length: 64, nullable: true })
  manifestId: string | null;

  /** When the sender last called about it (its idle clock). */
  @Column({ type: 'timestamptz' })
  lastSeenAt: Date;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}
