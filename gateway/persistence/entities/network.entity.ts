import { Column, CreateDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * An address of a host's range held by an environment. The primary key (host, address) is the
 * rule that no two environments of a host ever hold the same address; the row lives from the
 * environment's creation (or its move onto the host) to its destruction.
 */
@Entity('environment_address')
@Index(['environmentId'])
export class EnvironmentAddressEntity {
  @PrimaryColumn({ type: 'uuid' })
  hostId: string;

  /** The address without prefix, e.g. `10.160.7.2`. */
  @PrimaryColumn({ type: 'varchar', length: 45 })
  address: string;

  @Column({ type: 'uuid' })
  environmentId: string;

  /** `IPv4` or `IPv6`. */
  @Column({ type: 'varchar', length: 4 })
  family: string;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}

/**
 * A port of a host published to an environment. The primary key (host, protocol, host port) is
 * the rule that no two environments of a host publish the same port.
 */
@Entity('host_port')
@Index(['environmentId'])
export class HostPortEntity {
  @PrimaryColumn({ type: 'uuid' })
  hostId: string;

  /** `tcp` or `udp`. */
  @PrimaryColumn({ type: 'varchar', length: 3 })
  protocol: string;

  @PrimaryColumn({ type: 'integer' })
  hostPort: number;

  @Column({ type: 'uuid' })
  environmentId: string;

  /** The port inside the environment. */
  @Column({ type: 'integer' })
  port: number;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}
