import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';

/** What a group shares: an amount of one resource type (optionally on one host), with terms. */
@Entity('offer')
export class OfferEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'uuid' })
  groupId: string;

  @Column({ type: 'uuid', nullable: true })
  hostId: string | null;

  @Column({ type: 'varchar', length: 50 })
  resourceType: string;

  @Column({ type: 'varchar', length: 20 })
  unit: string;

  @Column({ type: 'double precision' })
  amount: number;

  @Column({ type: 'text', default: '' })
  terms: string;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}

/** What a group asks for. */
@Entity('need')
export class NeedEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'uuid' })
  groupId: string;

  @Column({ type: 'varchar', length: 50 })
  resourceType: string;

  @Column({ type: 'varchar', length: 20 })
  unit: string;

  @Column({ type: 'double precision' })
  amount: number;

  /** Technologies acceptable, in order; empty = no preference. */
  @Column({ type: 'jsonb', default: () => "'[]'" })
  technologies: string[];

  @Column({ type: 'text', default: '' })
  description: string;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}
