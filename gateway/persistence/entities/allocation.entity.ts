import { Column, CreateDateColumn, Entity, Index, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';

/** How a request is placed (SRSM-2): by the requester, by the scheduler, or by a site admin. */
export enum PlacementMode {
  DIRECT = 'DIRECT',
  AUTOMATIC = 'AUTOMATIC',
  APPROVAL = 'APPROVAL',
}

/** What the placement promises: best effort (overbooking allowed, PlanetLab) or guaranteed (leased). */
export enum AllocationGuarantee {
  BEST_EFFORT = 'BEST_EFFORT',
  GUARANTEED = 'GUARANTEED',
}

/** Where a request is in its life. */
export enum AllocationRequestStatus {
  /** Waiting for a site admin (APPROVAL). */
  PENDING = 'PENDING',
  PLACED = 'PLACED',
  REJECTED = 'REJECTED',
}

/** Where an allocation is in its life. */
export enum AllocationStatus {
  ACTIVE = 'ACTIVE',
  RELEASED = 'RELEASED',
  EXPIRED = 'EXPIRED',
}

/** Spread rule between the replicas of one request. */
export enum AntiAffinity {
  /** Replicas may share a host. */
  NONE = 'NONE',
  /** No two replicas on one host. */
  HOST = 'HOST',
  /** No two replicas in one site. */
  SITE = 'SITE',
}

/** One resource wanted by each replica (RSpec-like). */
export interface ResourceWant {
  type: string;
  amount: number;
  unit: string;
}

/** A required effective property of the host (the machine layer and what it inherits). */
export interface PropertyWant {
  key: string;
  op: 'EQ' | 'NEQ' | 'IN' | 'GTE' | 'LTE' | 'EXISTS';
  values: Array<string | number | boolean>;
}

/** What an allocation request asks for: the part the scheduler reads. */
export interface AllocationSpec {
  resources: ResourceWant[];
  /** Technologies in order of preference; empty = any. */
  technologies: string[];
  requiredProperties: PropertyWant[];
  antiAffinity: AntiAffinity;
  replicas: number;
  /** DIRECT: the hosts named by the requester, one per replica. */
  hostIds: string[];
}

/** An allocation request (the RSpec of seed 003) and how it was decided. */
@Entity('allocation_request')
@Index(['groupId', 'createdAt'])
// Only PENDING requests are looked up by status (approvals); placed ones, nearly all, get no entry.
@Index(['status'], { where: `"status" = 'PENDING'` })
export class AllocationRequestEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  /** The group whose share is charged. */
  @Column({ type: 'uuid' })
  groupId: string;

  /** Name of the token that asked. */
  @Column({ type: 'varchar', length: 200 })
  requestedBy: string;

  @Column({ type: 'varchar', length: 10 })
  mode: PlacementMode;

  @Column({ type: 'varchar', length: 12 })
  guarantee: AllocationGuarantee;

  @Column({ type: 'jsonb' })
  spec: AllocationSpec;

  /** Lease length of GUARANTEED allocations. */
  @Column({ type: 'integer', nullable: true })
  leaseSeconds: number | null;

  @Column({ type: 'varchar', length: 10 })
  status: AllocationRequestStatus;

  /** Why a site admin rejected (or approved) it. */
  @Column({ type: 'text', nullable: true })
  reason: string | null;

  @Column({ type: 'varchar', length: 200, nullable: true })
  decidedBy: string | null;

  @Column({ type: 'timestamptz', nullable: true })
  decidedAt: Date | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}

/** One replica of a request placed on a host: the capacity it holds is in its claims. */
@Entity('allocation')
@Index(['requestId'])
@Index(['groupId', 'createdAt'])
@Index(['hostId'])
// The lease sweep's lookup: active allocations with a lease (those without one get no entry).
@Index(['expiresAt'], { where: `"status" = 'ACTIVE' AND "expiresAt" IS NOT NULL` })
// Implicit allocations only: those of placement requests, nearly all, get no entry.
@Index(['environmentId'], { where: '"environmentId" IS NOT NULL' })
@Index(['replicaId'], { where: '"replicaId" IS NOT NULL' })
export class AllocationEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'uuid' })
  requestId: string;

  @Column({ type: 'uuid' })
  groupId: string;

  @Column({ type: 'uuid' })
  hostId: string;

  /** The technology chosen on the host (empty when the request named none and the host has none). */
  @Column({ type: 'varchar', length: 30 })
  technology: string;

  @Column({ type: 'varchar', length: 12 })
  guarantee: AllocationGuarantee;

  @Column({ type: 'varchar', length: 10 })
  status: AllocationStatus;

  /** The scheduler's score of the host when it was chosen. */
  @Column({ type: 'double precision', default: 0 })
  score: number;

  /** GUARANTEED: when the lease ends unless renewed. */
  @Column({ type: 'timestamptz', nullable: true })
  expiresAt: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  endedAt: Date | null;

  /** An implicit allocation: the environment whose limits it holds (made with it, released when it is destroyed or leaves the host). */
  @Column({ type: 'uuid', nullable: true })
  environmentId: string | null;

  /** An implicit allocation: the replica whose bytes it holds on the host keeping it (released when the replica is removed). */
  @Column({ type: 'uuid', nullable: true })
  replicaId: string | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}

/**
 * A portion of one resource held by an allocation; active claims add up to the resource's `used`.
 * Keyed by allocation and resource (an allocation claims a resource once); the key's index serves
 * the lookups by allocation.
 */
@Entity('allocation_claim')
@Index(['resourceId', 'active'])
export class AllocationClaimEntity {
  @PrimaryColumn({ type: 'uuid' })
  allocationId: string;

  @PrimaryColumn({ type: 'uuid' })
  resourceId: string;

  @Column({ type: 'uuid' })
  hostId: string;

  @Column({ type: 'uuid' })
  groupId: string;

  @Column({ type: 'varchar', length: 50 })
  type: string;

  @Column({ type: 'double precision' })
  amount: number;

  @Column({ type: 'boolean' })
  guaranteed: boolean;

  @Column({ type: 'boolean', default: true })
  active: boolean;
}
