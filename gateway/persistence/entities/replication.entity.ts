import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn, UpdateDateColumn, VersionColumn } from 'typeorm';
import type { ImageRef, ResourceLimits } from '../../../drivers/contract';
import type { EnvironmentInterface, EnvironmentVolume } from './environment.entity';

/** Where a policy's replicas are meant to live and be restored. */
export enum ReplicationTargetKind {
  /** One named host: restores go there by default. */
  HOST = 'HOST',
  /** Any UP host of a site. */
  SITE = 'SITE',
  /** Any UP host owned by a group ("any host of group X"). */
  GROUP = 'GROUP',
  /** Only the artifact store; restores go back to the environment's own host. */
  STORE = 'STORE',
}

/** What the last verify job found of a replica. */
export enum ReplicaVerifyState {
  /** Every chunk checked out (after repairs, if any). */
  OK = 'OK',
  /** Some chunk or the manifest is damaged or missing and could not be repaired. */
  DAMAGED = 'DAMAGED',
}

/** One thing a verify job found wrong with a replica: the chunk (null: the manifest), its position, why, and whether it was repaired. */
export interface ReplicaVerifyProblem {
  chunk: string | null;
  index: number | null;
  reason: string;
  repaired: boolean;
}

/** Distinct chunks of a run's copy into the store that keeps its replica. */
export interface ReplicaChunkCounts {
  /** Already there and intact as far as the store knew: not written. */
  reusedChunks: number;
  /** Absent (or not checkable there): written. */
  writtenChunks: number;
  /** There but damaged: written again from the source. */
  repairedChunks: number;
}

/** How a restore drill ended. */
export enum RestoreDrillState {
  /** The newest replica checked out chunk by chunk, was restored into a scratch environment and started. */
  PASSED = 'PASSED',
  /** Some step failed: `message` says which and why. */
  FAILED = 'FAILED',
}

/** What a restore drill found: the replica it restored, where, what it checked, and how it ended. */
export interface RestoreDrillResult {
  /** When it ended (ISO 8601). */
  at: string;
  state: RestoreDrillState;
  /** The policy's newest replica (null when it had none). */
  replicaId: string | null;
  /** The host the scratch environment ran on (null when none was found). */
  hostId: string | null;
  /** The scratch environment's name (it is destroyed once the drill ends). */
  environmentName: string | null;
  /** Chunks and bytes of the replica read back and checked against its manifest. */
  checkedChunks: number;
  checkedBytes: number;
  /** The scratch environment reached running. */
  started: boolean;
  durationMs: number;
  /** Why it failed; null when it passed. */
  message: string | null;
}

/** Who makes a replica (seed 000: external and internal backups). */
export enum ReplicationKind {
  /** Made by the host from outside: the environment's export (filesystem, config, volumes). */
  EXTERNAL = 'EXTERNAL',
  /** Made from inside the environment by the hosted group: the output of a command run in it. */
  INTERNAL = 'INTERNAL',
}

/**
 * Which layer replicates to which target, how often and how many copies are kept. Attached to a
 * layer of an environment's stack; the seed-000 rule (a layer replicates itself and the layers
 * above it, never the layers below) is checked when it is created or changed.
 */
@Entity('replication_policy')
@Index(['groupId'])
@Index(['environmentId'])
@Index(['enabled', 'nextRunAt'])
export class ReplicationPolicyEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 100 })
  name: string;

  /** The environment's group: its members manage the policy. */
  @Column({ type: 'uuid' })
  groupId: string;

  /** The environment whose content the replicas hold. */
  @Column({ type: 'uuid' })
  environmentId: string;

  /** The layer that replicates (itself and the layers above it). */
  @Column({ type: 'uuid' })
  layerId: string;

  @Column({ type: 'varchar', length: 10 })
  targetKind: ReplicationTargetKind;

  /** The host, site or group of the target; null for STORE. */
  @Column({ type: 'uuid', nullable: true })
  targetId: string | null;

  /** SITE and GROUP targets: the host chosen (once, again only when it is no longer usable) to keep the replicas. */
  @Column({ type: 'uuid', nullable: true })
  storeHostId: string | null;

  /** STORE at another site: its name, GraphQL URL and the token it issued (never shown); null: this site's store. */
  @Column({ type: 'varchar', length: 63, nullable: true })
  peerName: string | null;

  @Column({ type: 'text', nullable: true })
  peerUrl: string | null;

  @Column({ type: 'text', nullable: true })
  peerToken: string | null;

  /** A 5-field cron expression or `every N minutes`. */
  @Column({ type: 'varchar', length: 200 })
  schedule: string;

  /** Replicas kept; older ones are pruned after each successful run. */
  @Column({ type: 'integer', default: 3 })
  keep: number;

  @Column({ type: 'varchar', length: 10 })
  kind: ReplicationKind;

  /** INTERNAL: the command run inside the environment whose standard output is the backup. */
  @Column({ type: 'jsonb', nullable: true })
  backupCommand: string[] | null;

  /** INTERNAL: the command run inside the environment that reads a backup on its standard input. */
  @Column({ type: 'jsonb', nullable: true })
  restoreCommand: string[] | null;

  /** Start the newest replica elsewhere when the host fails (used by failover). */
  @Column({ type: 'boolean', default: false })
  autoFailover: boolean;

  /** Chunks encrypted at rest with the group key. */
  @Column({ type: 'boolean', default: false })
  encrypted: boolean;

  /** EXTERNAL: each run takes a snapshot, exports from it, then deletes it (drivers with `exportSnapshot`). */
  @Column({ type: 'boolean', default: false })
  snapshotBeforeCopy: boolean;

  @Column({ type: 'boolean', default: true })
  enabled: boolean;

  /** Last successful run's end. */
  @Column({ type: 'timestamptz', nullable: true })
  lastSyncAt: Date | null;

  /** Last run's start, successful or not. */
  @Column({ type: 'timestamptz', nullable: true })
  lastTryAt: Date | null;

  @Column({ type: 'integer', nullable: true })
  lastDurationMs: number | null;

  /** Failures since the last success (drives the backoff). */
  @Column({ type: 'integer', default: 0 })
  failCount: number;

  @Column({ type: 'timestamptz', nullable: true })
  nextRunAt: Date | null;

  @Column({ type: 'text', nullable: true })
  lastError: string | null;

  /** The operation of the run in progress, if any. */
  @Column({ type: 'uuid', nullable: true })
  runningOperationId: string | null;

  /** What the last successful run's copy reused, wrote and repaired; null before the first. */
  @Column({ type: 'jsonb', nullable: true })
  lastChunkCounts: ReplicaChunkCounts | null;

  /** When the newest replica is restored into a scratch environment as a drill (same syntax as `schedule`); null: no drills on a schedule. */
  @Column({ type: 'varchar', length: 200, nullable: true })
  drillSchedule: string | null;

  /** The next scheduled drill (null without a drill schedule or while the policy is disabled). */
  @Column({ type: 'timestamptz', nullable: true })
  nextDrillAt: Date | null;

  /** What the last restore drill found; null before the first. */
  @Column({ type: 'jsonb', nullable: true })
  lastDrill: RestoreDrillResult | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt: Date;

  @VersionColumn()
  version: number;
}

/** What a replica remembers of its environment, so it can be restored when the original is gone. */
export interface ReplicaSource {
  name: string;
  hostId: string;
  driver: string;
  technology: string;
  imageId: string;
  imageRef: ImageRef | null;
  limits: ResourceLimits;
  volumes: EnvironmentVolume[];
  iface: EnvironmentInterface;
  command: string[] | null;
  /** INTERNAL: the command that reads the backup on its standard input. */
  restoreCommand: string[] | null;
  /** Sent by another site (its replication policy's peer is this site): that site's name. */
  fromSite?: string;
}

/** One checksummed, restorable copy of an environment (or of what an INTERNAL command produced), in an artifact store: a host's or the gateway's. */
@Entity('replica')
@Index(['environmentId', 'createdAt'])
@Index(['policyId', 'createdAt'])
@Index(['groupId'])
export class ReplicaEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  /** The policy that made it; null for a one-off replication. */
  @Column({ type: 'uuid', nullable: true })
  policyId: string | null;

  @Column({ type: 'uuid' })
  environmentId: string;

  @Column({ type: 'uuid' })
  groupId: string;

  /** The layer that replicated. */
  @Column({ type: 'uuid', nullable: true })
  layerId: string | null;

  @Column({ type: 'varchar', length: 10 })
  kind: ReplicationKind;

  /** The artifact store manifest holding the bits. */
  @Column({ type: 'varchar', length: 200 })
  manifestId: string;

  /** Size of the replica. */
  @Column({ type: 'double precision' })
  bytes: number;

  /** What this run actually added to the store (chunks not there before). */
  @Column({ type: 'double precision' })
  newBytes: number;

  @Column({ type: 'integer' })
  chunks: number;

  @Column({ type: 'boolean', default: false })
  encrypted: boolean;

  @Column({ type: 'varchar', length: 10 })
  targetKind: ReplicationTargetKind;

  @Column({ type: 'uuid', nullable: true })
  targetId: string | null;

  /** The host whose agent's artifact store holds the replica; null: the gateway's store (RSP_ARTIFACT_DIR). */
  @Column({ type: 'uuid', nullable: true })
  storeHostId: string | null;

  /** The source host whose agent's store keeps the export too (the base the next run deduplicates against); null: none. */
  @Column({ type: 'uuid', nullable: true })
  stagingHostId: string | null;

  /** Bytes copied to the store that holds the replica (the chunks it lacked). */
  @Column({ type: 'double precision', default: 0 })
  movedBytes: number;

  @Column({ type: 'jsonb' })
  source: ReplicaSource;

  /** Kept in another site's store (a policy's peer): that site, and the replica's id there (restored there). */
  @Column({ type: 'varchar', length: 63, nullable: true })
  peerSite: string | null;

  @Column({ type: 'uuid', nullable: true })
  peerReplicaId: string | null;

  /** When every checksum was last verified. */
  @Column({ type: 'timestamptz', nullable: true })
  verifiedAt: Date | null;

  /** What the last verify job found; null: never verified by one. */
  @Column({ type: 'varchar', length: 10, nullable: true })
  verifyState: ReplicaVerifyState | null;

  /** What the last verify job found wrong (repaired or not). */
  @Column({ type: 'jsonb', default: () => "'[]'" })
  verifyProblems: ReplicaVerifyProblem[];

  /** Distinct chunks the run that made it reused from the store (already there, intact). */
  @Column({ type: 'integer', default: 0 })
  reusedChunks: number;

  /** Distinct chunks the run that made it wrote to the store. */
  @Column({ type: 'integer', default: 0 })
  writtenChunks: number;

  /** Distinct chunks the run that made it found damaged in the store and wrote again. */
  @Column({ type: 'integer', default: 0 })
  repairedChunks: number;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}
