import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import type { HostFactsData } from '../../agent/host-facts';

/** Where a host is in its life. */
export enum HostState {
  UP = 'UP',
  DOWN = 'DOWN',
  MAINTENANCE = 'MAINTENANCE',
  /** Being emptied before it is retired (`drainHost`): takes no new work; its environments move away. */
  DRAINING = 'DRAINING',
  UNKNOWN = 'UNKNOWN',
}

/** A physical machine: the bottom layer. */
@Entity('host')
@Index(['siteId', 'hostname'], { unique: true })
@Index('host_agent', ['agent'])
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

  /**
   * The technologies placement offers on it: what its agent's last probe found usable, narrowed
   * by `allowedDrivers`; as the site admin declared them while its agent never reported.
   */
  @Column({ type: 'jsonb', default: () => "'[]'" })
  drivers: string[];

  /** Technologies its agent's last probe found usable; null until the agent reported. */
  @Column({ type: 'jsonb', nullable: true })
  probedDrivers: string[] | null;

  /** The site admin's narrowing of the probed technologies, in order of preference; null: all of them. */
  @Column({ type: 'jsonb', nullable: true })
  allowedDrivers: string[] | null;

  /** Facts the host agent reported (CPU model, kernel…). */
  @Column({ type: 'jsonb', default: () => "'{}'" })
  fingerprint: Record<string, unknown>;

  /** The facts its agent last reported (`HostFactsData`: CPUs, memory, filesystems, interfaces, kernel, drivers); null until it did. */
  @Column({ type: 'jsonb', nullable: true })
  facts: HostFactsData | null;

  /** Whether its resources are filled from its agent's facts (their totals kept up to date); false: typed by hand only. */
  @Column({ type: 'boolean', default: false })
  inventoryFromFacts: boolean;

  /** How many full shares the host is divided into (seed 001: a co-op box split N ways). */
  @Column({ type: 'integer', default: 1 })
  shareUnits: number;

  /** The host agent that runs its drivers: `local` is the gateway's in-process agent. */
  @Column({ type: 'varchar', length: 200, default: 'local' })
  agent: string;

  /** Its machine layer (properties upper layers inherit). */
  @Column({ type: 'uuid', nullable: true })
  layerId: string | null;

  /** The IPv4 range (CIDR) its environments' addresses come from; null: the default of `gateway/networks/address-range.ts`. */
  @Column({ type: 'varchar', length: 43, nullable: true })
  addressRange: string | null;

  /** The IPv6 /64 (CIDR) its environments' IPv6 addresses come from; null: they get none. */
  @Column({ type: 'varchar', length: 43, nullable: true })
  ipv6Range: string | null;

  @Column({ type: 'timestamptz', nullable: true })
  lastHeartbeatAt: Date | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}
