import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/** One connection of a host agent to a gateway: open while `disconnectedAt` is null. */
@Entity('agent_connection')
@Index(['agentId', 'connectedAt'])
export class AgentConnectionEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 200 })
  agentId: string;

  /** The gateway (replica) that holds the connection (`<data dir>/gateway-id`). */
  @Column({ type: 'varchar', length: 100 })
  gatewayId: string;

  @Column({ type: 'timestamptz' })
  connectedAt: Date;

  @Column({ type: 'timestamptz', nullable: true })
  disconnectedAt: Date | null;

  /** The RSP version the agent runs. */
  @Column({ type: 'varchar', length: 100 })
  version: string;

  /** The agent protocol version the connection negotiated; null in rows of gateways older than the column. */
  @Column({ type: 'integer', nullable: true })
  protocol: number | null;

  /** Where it connected from (`in-process` for the gateway's own agents). */
  @Column({ type: 'varchar', length: 200 })
  remoteAddress: string;
}
