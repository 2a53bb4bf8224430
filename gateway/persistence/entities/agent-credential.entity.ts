import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/** What an agent secret is: a one-time join token, or the agent's own long-lived credential. */
export enum AgentSecretKind {
  JOIN = 'JOIN',
  CREDENTIAL = 'CREDENTIAL',
}

/**
 * A secret a host agent presents when it connects, bound to one agent id. Only the sha256 of the
 * secret is stored. A join token is used once (`usedAt`) before it expires; the credential it is
 * exchanged for lasts until it is revoked.
 */
@Entity('agent_credential')
export class AgentCredentialEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  /** The agent it identifies (hosts name it in `host.agent`). */
  @Index()
  @Column({ type: 'varchar', length: 100 })
  agentId: string;

  @Column({ type: 'varchar', length: 12 })
  kind: AgentSecretKind;

  /** sha256 (hex) of the secret. */
  @Index({ unique: true })
  @Column({ type: 'varchar', length: 64 })
  secretHash: string;

  @Column({ type: 'timestamptz', nullable: true })
  expiresAt: Date | null;

  /** When a join token was exchanged for a credential. */
  @Column({ type: 'timestamptz', nullable: true })
  usedAt: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  revokedAt: Date | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}
