import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';

/** How the scheduler scores hosts of a site. */
export enum PlacementPolicy {
  BINPACK = 'BINPACK',
  SPREAD = 'SPREAD',
}

/** A physical location; hosts belong to one. Used for spread and anti-affinity. */
@Entity('site')
export class SiteEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 100, unique: true })
  name: string;

  @Column({ type: 'varchar', length: 300, default: '' })
  location: string;

  @Column({ type: 'uuid' })
  ownerGroupId: string;

  @Column({ type: 'varchar', length: 10, default: PlacementPolicy.BINPACK })
  placementPolicy: PlacementPolicy;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}
