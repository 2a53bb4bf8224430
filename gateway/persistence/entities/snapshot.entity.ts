import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/** A snapshot of an environment its driver holds on the environment's host, as RSP recorded it. */
@Entity('environment_snapshot')
@Index('environment_snapshot_name', ['environmentId', 'name'], { unique: true })
export class EnvironmentSnapshotEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'uuid' })
  environmentId: string;

  /** Unique per environment; the driver's name of it too. */
  @Column({ type: 'varchar', length: 63 })
  name: string;

  /** Who took it (a token name, or `retention`/`replication` for the gateway's own). */
  @Column({ type: 'varchar', length: 200 })
  createdBy: string;

  /** The implicit allocation holding its host disk against the group's share; null: none claimed (no disk limit to size it by). */
  @Column({ type: 'uuid', nullable: true })
  allocationId: string | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}
