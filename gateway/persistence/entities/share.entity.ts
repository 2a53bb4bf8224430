import { Column, CreateDateColumn, Entity, Index, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';
import type { ResourceLimits } from '../../../drivers/contract';

/** Share sizes (seed 001). */
export enum ShareKind {
  FULL = 'FULL',
  HALF = 'HALF',
  CUSTOM = 'CUSTOM',
}

/** A group's slice of a host; it sets the group's quota there. */
@Entity('share')
@Index(['hostId', 'groupId'], { unique: true })
export class ShareEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'uuid' })
  hostId: string;

  @Column({ type: 'uuid' })
  groupId: string;

  @Column({ type: 'varchar', length: 10 })
  kind: ShareKind;

  /** Quota per resource type, in the resource's unit. */
  @Column({ type: 'jsonb' })
  quotas: Record<string, number>;

  /** Relative CPU weight: 100 full, 50 half (like nice 10). */
  @Column({ type: 'integer' })
  cpuWeight: number;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}

/** What happens to a group over a usage policy in the site: new work is refused, or its environments there are throttled. */
export enum UsagePolicyMode {
  REFUSE = 'REFUSE',
  THROTTLE = 'THROTTLE',
}

/** A site's usage policy: text for people, limits a machine checks, and how they are enforced. */
@Entity('usage_policy')
export class UsagePolicyEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'uuid' })
  siteId: string;

  @Column({ type: 'varchar', length: 100 })
  name: string;

  @Column({ type: 'text', default: '' })
  text: string;

  @Column({ type: 'double precision', nullable: true })
  bandwidthBytesPerMonth: number | null;

  @Column({ type: 'double precision', nullable: true })
  cpuHoursPerMonth: number | null;

  @Column({ type: 'double precision', nullable: true })
  diskBytes: number | null;

  /** How a group over the policy is held back in the site. */
  @Column({ type: 'varchar', length: 10, default: UsagePolicyMode.REFUSE })
  mode: UsagePolicyMode;
}

/** An environment a THROTTLE usage policy holds back, and the limits applied over its own. */
@Entity('usage_throttle')
export class UsageThrottleEntity {
  @PrimaryColumn('uuid')
  environmentId: string;

  /** The policy its group is over in the environment's site. */
  @Column({ type: 'uuid' })
  policyId: string;

  /** What the throttle set (the environment's own limits are put back when it is lifted). */
  @Column({ type: 'jsonb' })
  limits: ResourceLimits;

  /** When it was applied last. */
  @Column({ type: 'timestamptz', default: () => 'now()' })
  throttledAt: Date;
}
