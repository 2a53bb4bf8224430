import { Check, Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn, UpdateDateColumn, VersionColumn } from 'typeorm';

/** Where an operation is in its life. Terminal states never change again. */
export enum OperationState {
  PENDING = 'PENDING',
  RUNNING = 'RUNNING',
  SUCCEEDED = 'SUCCEEDED',
  FAILED = 'FAILED',
  CANCELLED = 'CANCELLED',
}

/** States an operation cannot leave. */
export const TERMINAL_OPERATION_STATES: ReadonlySet<OperationState> = new Set([
  OperationState.SUCCEEDED,
  OperationState.FAILED,
  OperationState.CANCELLED,
]);

/** A long action (create, replicate, migrate, restore…) with its progress, result and error. */
@Entity('operation')
@Index('operation_target', ['targetType', 'targetId'])
@Index('operation_created', ['createdAt'])
@Index('operation_runner_state', ['runner', 'state'])
@Check('operation_progress_range', '"progress" >= 0 AND "progress" <= 1')
export class OperationEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  /** What is being done, e.g. `environment.create`. */
  @Column({ type: 'varchar', length: 100 })
  kind: string;

  /** The kind of thing it is done to, e.g. `Environment`. */
  @Column({ type: 'varchar', length: 100, nullable: true })
  targetType: string | null;

  @Column({ type: 'varchar', length: 200, nullable: true })
  targetId: string | null;

  /** The group on whose behalf it runs; null for site-level work. */
  @Column({ type: 'uuid', nullable: true })
  groupId: string | null;

  /** The group of the caller that started it, when another group acts (a host owner stopping a guest); null otherwise. */
  @Index('operation_actor_group')
  @Column({ type: 'uuid', nullable: true })
  actorGroupId: string | null;

  /** The gateway that runs it (its id, kept in its data directory); null for operations from before this was recorded. */
  @Column({ type: 'varchar', length: 100, nullable: true })
  runner: string | null;

  @Column({ type: 'varchar', length: 20, default: OperationState.PENDING })
  state: OperationState;

  /** 0 to 1. */
  @Column({ type: 'double precision', default: 0 })
  progress: number;

  @Column({ type: 'text', nullable: true })
  message: string | null;

  /** Whatever the operation produced, e.g. `{ environmentId }`. */
  @Column({ type: 'jsonb', nullable: true })
  result: Record<string, unknown> | null;

  @Column({ type: 'varchar', length: 50, nullable: true })
  errorCode: string | null;

  @Column({ type: 'text', nullable: true })
  errorMessage: string | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt: Date;

  @Column({ type: 'timestamptz', nullable: true })
  startedAt: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  finishedAt: Date | null;

  @VersionColumn()
  version: number;
}
