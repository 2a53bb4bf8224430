import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/**
 * Bytes of a group's storage quota held by a transfer in progress (an image upload, a replica
 * copied into the gateway's store): counted as used until the transfer records what it stored
 * (in the same transaction that deletes the reservation) or fails (the reservation is deleted).
 */
@Entity('storage_reservation')
@Index('IDX_storage_reservation_group', ['groupId'])
export class StorageReservationEntity {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'PK_storage_reservation' })
  id: string;

  /** The group whose quota the bytes are held against (deleted with it). */
  @Column({ type: 'uuid' })
  groupId: string;

  @Column({ type: 'double precision' })
  bytes: number;

  /** What holds them: `image <id>` or `replica of environment <id>`. */
  @Column({ type: 'varchar', length: 200 })
  purpose: string;

  /** The gateway that made it (see `gateway-id.ts`): at its restart, its reservations are dropped. */
  @Column({ type: 'varchar', length: 64, nullable: true })
  holder: string | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}
