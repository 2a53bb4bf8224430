import { Column, CreateDateColumn, Entity, Index, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';

/**
 * One stored point of a host's, environment's or site's metrics at one resolution: the average
 * of the live samples in `[at, at + resolutionSeconds)`, every metric name → value.
 */
@Entity('metric_sample')
export class MetricSampleEntity {
  @PrimaryColumn({ type: 'varchar', length: 12 })
  targetType: string;

  @PrimaryColumn({ type: 'uuid' })
  targetId: string;

  /** 1, 60 or 3600 (see the history levels). */
  @PrimaryColumn({ type: 'integer' })
  resolutionSeconds: number;

  @PrimaryColumn({ type: 'timestamptz' })
  at: Date;

  @Column({ type: 'jsonb' })
  metrics: Record<string, number>;
}

/** Whether a rule fires above or below its threshold. */
export enum AlertComparison {
  ABOVE = 'ABOVE',
  BELOW = 'BELOW',
}

/** An alert rule: a metric of some targets crossing a threshold for at least a duration. */
@Entity('alert_rule')
export class AlertRuleEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 100 })
  name: string;

  /** A group's rule watches the group's environments; null for a site's rule. */
  @Index()
  @Column({ type: 'uuid', nullable: true })
  groupId: string | null;

  /** A site's rule watches the site's hosts, the site itself, or its environments. */
  @Index()
  @Column({ type: 'uuid', nullable: true })
  siteId: string | null;

  /** HOST, ENVIRONMENT or SITE. */
  @Column({ type: 'varchar', length: 12 })
  targetType: string;

  /** One target, or null for every target of the scope. */
  @Column({ type: 'uuid', nullable: true })
  targetId: string | null;

  @Column({ type: 'varchar', length: 60 })
  metric: string;

  @Column({ type: 'varchar', length: 5 })
  comparison: AlertComparison;

  @Column({ type: 'double precision' })
  threshold: number;

  /** How long the condition must hold before the alert fires. */
  @Column({ type: 'integer', default: 0 })
  durationSeconds: number;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}

/** Where an alert is. */
export enum AlertState {
  FIRING = 'FIRING',
  RESOLVED = 'RESOLVED',
}

/** A fired alert (from a rule, or from a usage policy exceeded), until resolved. */
@Entity('alert')
@Index(['state', 'firedAt'])
export class AlertEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  /** The rule, or null for a usage-policy alert. */
  @Column({ type: 'uuid', nullable: true })
  ruleId: string | null;

  /** Who sees it: the group's members, or (null) site admins only. */
  @Index()
  @Column({ type: 'uuid', nullable: true })
  groupId: string | null;

  @Column({ type: 'uuid', nullable: true })
  siteId: string | null;

  @Column({ type: 'varchar', length: 12 })
  targetType: string;

  @Column({ type: 'uuid' })
  targetId: string;

  @Column({ type: 'varchar', length: 60 })
  metric: string;

  @Column({ type: 'double precision' })
  value: number;

  @Column({ type: 'double precision' })
  threshold: number;

  @Column({ type: 'varchar', length: 10 })
  state: AlertState;

  @Column({ type: 'text' })
  message: string;

  @Column({ type: 'timestamptz' })
  firedAt: Date;

  @Column({ type: 'timestamptz', nullable: true })
  resolvedAt: Date | null;
}

/** What a group used on one host (its share) in one calendar month (UTC). */
@Entity('usage_record')
export class UsageRecordEntity {
  @PrimaryColumn({ type: 'uuid' })
  groupId: string;

  @PrimaryColumn({ type: 'uuid' })
  hostId: string;

  /** `YYYY-MM`. */
  @PrimaryColumn({ type: 'varchar', length: 7 })
  month: string;

  @Column({ type: 'double precision', default: 0 })
  cpuSeconds: number;

  /** Bytes received plus sent. */
  @Column({ type: 'double precision', default: 0 })
  networkBytes: number;

  /** The most memory the group's environments held at once on the host. */
  @Column({ type: 'double precision', default: 0 })
  peakMemoryBytes: number;

  /** Disk the group's environments take on the host (their filesystems and volumes), as last measured. */
  @Column({ type: 'double precision', default: 0 })
  diskBytes: number;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  updatedAt: Date;
}
