import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/** Roles a token carries inside its group, weakest first. */
export enum MemberRole {
  VIEWER = 'VIEWER',
  MEMBER = 'MEMBER',
  ADMIN = 'ADMIN',
}

/** Order of roles, for "at least" checks. */
export const ROLE_RANK: Record<MemberRole, number> = { VIEWER: 0, MEMBER: 1, ADMIN: 2 };

/** An API token. Only the sha256 of the secret is stored; the secret is shown once. */
@Entity('api_token')
export class ApiTokenEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  /** The group it acts for; null for a site-admin token that belongs to no group. */
  @Column({ type: 'uuid', nullable: true })
  groupId: string | null;

  /** Who or what holds it, e.g. "alice" or "backup-script". */
  @Column({ type: 'varchar', length: 100 })
  name: string;

  @Column({ type: 'varchar', length: 10 })
  role: MemberRole;

  /** Site admins manage sites and hosts and may act in every group. */
  @Column({ type: 'boolean', default: false })
  siteAdmin: boolean;

  /** sha256 (hex) of the secret. */
  @Index({ unique: true })
  @Column({ type: 'varchar', length: 64 })
  secretHash: string;

  /** The first characters of the secret, to recognise it in lists. */
  @Column({ type: 'varchar', length: 16 })
  prefix: string;

  @Column({ type: 'timestamptz', nullable: true })
  expiresAt: Date | null;

  /** The token that made it (null: the gateway, or made before makers were kept); revoking that one revokes this one. */
  @Index('IDX_api_token_made_by')
  @Column({ type: 'uuid', nullable: true })
  madeByTokenId: string | null;

  @Column({ type: 'timestamptz', nullable: true })
  revokedAt: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  lastUsedAt: Date | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}
