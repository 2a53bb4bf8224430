import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/** Where a host is in its life. */
export enum HostState {
  UP = 'UP',
  DOWN = 'DOWN',
  MAINTENANCE = 'MAINTENANCE',
  UNKNOWN = 'UNKNOWN',
}

/** A physical machine: the bottom layer. */
@Entity('host')
@Index(['siteId', 'hostname'], { unique: true })
export class HostEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'uuid' })
  siteId: string;

  @Column({ type: 'uuid' })
  ownerGroupId: string;

  @Column({ type: 'varchar', length: 253 })
  hostname: string;

  @Column({ type: 'varchar', length: 30, default: 'x86_64' })
  arch: string;

  @Column({ type: 'varchar', length: 12, default: HostState.UNKNOWN })
  state: HostState;

  /** Driver technologies available on it. */
  @Column({ type: 'jsonb', default: () => "'[]'" })
  drivers: string[];

  /** Facts the host agent reported (CPU model, kernel…). */
  @Column({ type: 'jsonb', default: () => "'{}'" })
  fingerprint: Record<string, unknown>;

  /** How many full shares the host is divided into (seed 001: a co-op box split N ways). */
  @Column({ type: 'integer', default: 1 })
  shareUnits: number;

  /** The host agent that runs its drivers: `local` is the gateway's in-process agent. */
  @Column({ type: 'varchar', length: 200, default: 'local' })
  agent: string;

  /** Its machine layer (properties upper layers inherit). */
  @Column({ type: 'uuid', nullable: true })
  layerId: string | null;

  @Column({ type: 'timestamptz', nullable: true })
  lastHeartbeatAt: Date | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}
