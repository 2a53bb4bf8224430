import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';

/** Whether an offer or need can still be taken up: CLOSED once nothing of it is left. */
export enum ExchangeStatus {
  OPEN = 'OPEN',
  CLOSED = 'CLOSED',
}

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

  /** The amount first offered. */
  @Column({ type: 'double precision' })
  amount: number;

  /** What acceptances and grants have not taken yet. */
  @Column({ type: 'double precision' })
  remaining: number;

  @Column({ type: 'varchar', length: 10, default: ExchangeStatus.OPEN })
  status: ExchangeStatus;

  /** Technologies the offer is for (each run by its host); empty = whatever the host runs. */
  @Column({ type: 'jsonb', default: () => "'[]'" })
  technologies: string[];

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

  /** The amount first asked for. */
  @Column({ type: 'double precision' })
  amount: number;

  /** What grants and acceptances have not covered yet. */
  @Column({ type: 'double precision' })
  remaining: number;

  @Column({ type: 'varchar', length: 10, default: ExchangeStatus.OPEN })
  status: ExchangeStatus;

  /** Technologies acceptable, in order; empty = no preference. */
  @Column({ type: 'jsonb', default: () => "'[]'" })
  technologies: string[];

  @Column({ type: 'text', default: '' })
  description: string;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}
