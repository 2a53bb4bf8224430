import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';

/** Kinds of labor a group offers (seed 000). */
export enum LaborKind {
  HARDWARE = 'HARDWARE',
  SYSADMIN = 'SYSADMIN',
  APPLICATIONS = 'APPLICATIONS',
  OTHER = 'OTHER',
}

/** People × hours per week of one kind of labor. */
export interface LaborOffer {
  kind: LaborKind;
  people: number;
  hoursPerWeek: number;
}

/** A financial or legal resource of a group, with an amount where it has one. */
export interface GroupNote {
  kind: string;
  description: string;
  amount?: number | null;
  unit?: string | null;
}

/** A group: the tenant. Groups give and get space in each other's machines. */
@Entity('group')
export class GroupEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 63, unique: true })
  slug: string;

  @Column({ type: 'varchar', length: 200 })
  name: string;

  @Column({ type: 'text', default: '' })
  description: string;

  /** Private: members only. */
  @Column({ type: 'varchar', length: 300, default: '' })
  contact: string;

  @Column({ type: 'jsonb', default: () => "'[]'" })
  labor: LaborOffer[];

  /** Private: members only. */
  @Column({ type: 'jsonb', default: () => "'[]'" })
  financial: GroupNote[];

  /** Private: members only. */
  @Column({ type: 'jsonb', default: () => "'[]'" })
  legal: GroupNote[];

  /** Technologies it hosts environments with. */
  @Column({ type: 'jsonb', default: () => "'[]'" })
  techHosts: string[];

  /** Technologies it needs; empty with `noTechPreference` means any. */
  @Column({ type: 'jsonb', default: () => "'[]'" })
  techNeeds: string[];

  @Column({ type: 'boolean', default: false })
  noTechPreference: boolean;

  /** Whether it makes external backups (from the host) of what it hosts. */
  @Column({ type: 'boolean', default: false })
  externalBackups: boolean;

  /** Bytes it may keep in the gateway's stores (images, gateway-kept replicas), set by a site admin; null: the installation default (`RSP_GROUP_STORAGE_BYTES`). */
  @Column({ type: 'double precision', nullable: true })
  storageQuotaBytes: number | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt: Date;
}
