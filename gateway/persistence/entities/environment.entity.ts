import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn, UpdateDateColumn, VersionColumn } from 'typeorm';
import type { ImageRef, ResourceLimits } from '../../../drivers/contract';

/** Where an environment is in its life. Transitions are checked by the state machine of `gateway/environments/`. */
export enum EnvironmentStatus {
  CREATING = 'CREATING',
  CREATED = 'CREATED',
  STARTING = 'STARTING',
  RUNNING = 'RUNNING',
  STOPPING = 'STOPPING',
  STOPPED = 'STOPPED',
  REBUILDING = 'REBUILDING',
  DESTROYING = 'DESTROYING',
  DESTROYED = 'DESTROYED',
  FAILED = 'FAILED',
  /** Moving to another host (migration). */
  MIGRATING = 'MIGRATING',
  /** Being restored from a replica (as a new environment, or into itself). */
  RESTORING = 'RESTORING',
  /** Its host is DOWN: being restored elsewhere from its newest replica. */
  FAILING_OVER = 'FAILING_OVER',
  /** A snapshot being taken, rolled back to or deleted (a replication's own snapshot too). */
  SNAPSHOTTING = 'SNAPSHOTTING',
}

/** A volume of an environment, kept outside its image. */
export interface EnvironmentVolume {
  name: string;
  kind: 'config' | 'data';
  mountPath: string;
  readOnly: boolean;
}

/** The address RSP assigned an environment on its host's managed network (held in `environment_address`). */
export interface AssignedAddress {
  /** The engine network, e.g. `rsp-1a2b3c4d5e`. */
  network: string;
  /** The address with the range's prefix, e.g. `10.160.7.2/24`. */
  ipv4: string;
  /** The host's address on the network. */
  gateway: string;
  /** Its IPv6 address with the /64 prefix, when its host has an IPv6 range, e.g. `fd3a:1b2c:4d5e::2/64`. */
  ipv6?: string;
  /** The host's IPv6 address on the network. */
  gateway6?: string;
}

/** A host port published to an environment (held in `host_port`). */
export interface PublishedPort {
  hostPort: number;
  port: number;
  protocol: 'tcp' | 'udp';
}

/** The host↔image interface values of an environment (seed 002). */
export interface EnvironmentInterface {
  hostname: string;
  dns: string[];
  network: 'none' | 'bridge';
  config: Record<string, string>;
  /** Its address on its host's managed network; absent: none assigned (network none, or a driver without managed networks). */
  address?: AssignedAddress;
  /** Host ports published to it; absent: none. */
  ports?: PublishedPort[];
  /** Whether its root filesystem is read-only; absent: writable (made before read-only roots existed). */
  readOnlyRoot?: boolean;
}

/** What the owners of its host did to a guest environment, and why: shown to the guest group. */
export interface EnvironmentIntervention {
  /** The group governing the host that acted; null: a site admin without a group. */
  byGroupId: string | null;
  action: 'stop' | 'evict';
  reason: string;
  /** ISO time. */
  at: string;
}

/** A virtual space (sliver) of one technology on one host: a ZONE layer on the host's MACHINE layer. */
@Entity('environment')
@Index(['hostId'])
@Index(['groupId'])
@Index('UQ_environment_live_name', ['groupId', 'name'], { unique: true, where: `"status" <> 'DESTROYED'` })
export class EnvironmentEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 63 })
  name: string;

  @Column({ type: 'uuid' })
  groupId: string;

  @Column({ type: 'uuid' })
  hostId: string;

  /** The registry name of the driver that runs it. */
  @Column({ type: 'varchar', length: 63 })
  driver: string;

  @Column({ type: 'varchar', length: 30 })
  technology: string;

  @Column({ type: 'uuid' })
  imageId: string;

  /** The driver's reference to the imported image. */
  @Column({ type: 'jsonb', nullable: true })
  imageRef: ImageRef | null;

  @Column({ type: 'varchar', length: 12 })
  status: EnvironmentStatus;

  /** What reconciliation found different on the engine, when it differs. */
  @Column({ type: 'text', nullable: true })
  drift: string | null;

  @Column({ type: 'text', nullable: true })
  lastError: string | null;

  @Column({ type: 'jsonb', default: () => "'{}'" })
  limits: ResourceLimits;

  @Column({ type: 'jsonb', default: () => "'[]'" })
  volumes: EnvironmentVolume[];

  @Column({ type: 'jsonb' })
  iface: EnvironmentInterface;

  /** The main process; null: the image's own. */
  @Column({ type: 'jsonb', nullable: true })
  command: string[] | null;

  /** The allocation whose capacity it runs on (released when it is destroyed); null: none. */
  @Column({ type: 'uuid', nullable: true })
  allocationId: string | null;

  /** The last intervention of its host's owners (stop, evict), with their reason; null: none. */
  @Column({ type: 'jsonb', nullable: true })
  intervention: EnvironmentIntervention | null;

  /** Its ZONE layer. */
  @Column({ type: 'uuid', nullable: true })
  layerId: string | null;

  /** Snapshot retention: after each snapshot only the newest this many are kept; null: all. */
  @Column({ type: 'integer', nullable: true })
  snapshotKeepLast: number | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt: Date;

  @VersionColumn()
  version: number;
}
