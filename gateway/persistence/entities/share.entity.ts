import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/** Share sizes (seed 001). */
export enum ShareKind {
  FULL = 'FULL',
  HALF = 'HALF',
  CUSTOM = 'CUSTOM',
}

/** A group's slice of a host; it sets the group's quota there. */
@Entity('share')
@Index(['hostId', 'groupId'], { unique: true })
export class ShareEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'uuid' })
  hostId: string;

  @Column({ type: 'uuid' })
  groupId: string;

  @Column({ type: 'varchar', length: 10 })
  kind: ShareKind;

  /** Quota per resource type, in the resource's unit. */
  @Column({ type: 'jsonb' })
  quotas: Record<string, number>;

  /** Relative CPU weight: 100 full, 50 half (like nice 10). */
  @Column({ type: 'integer' })
  cpuWeight: number;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}

/** A site's usage policy: text for people and limits a machine can check. */
@Entity('usage_policy')
export class UsagePolicyEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'uuid' })
  siteId: string;

  @Column({ type: 'varchar', length: 100 })
  name: string;

  @Column({ type: 'text', default: '' })
  text: string;

  @Column({ type: 'double precision', nullable: true })
  bandwidthBytesPerMonth: number | null;

  @Column({ type: 'double precision', nullable: true })
  cpuHoursPerMonth: number | null;

  @Column({ type: 'double precision', nullable: true })
  diskBytes: number | null;
}
