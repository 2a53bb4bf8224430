import { Column, CreateDateColumn, Entity, Generated, Index, PrimaryGeneratedColumn, VersionColumn } from 'typeorm';

/** Units of resource amounts: explicit, never "340M" strings. */
export enum ResourceUnit {
  CORES = 'CORES',
  MHZ = 'MHZ',
  BYTES = 'BYTES',
  BITS_PER_SECOND = 'BITS_PER_SECOND',
  COUNT = 'COUNT',
}

/** Who describes a resource: a site admin (typed by hand), or its host agent's facts (filled and kept up to date by the gateway). */
export enum ResourceSource {
  ADMIN = 'ADMIN',
  FACTS = 'FACTS',
}

/** Well-known resource types (SRSM-2); other uppercase names are allowed as custom types. */
export const KNOWN_RESOURCE_UNITS: Record<string, ResourceUnit[]> = {
  CPU: [ResourceUnit.CORES, ResourceUnit.MHZ],
  RAM: [ResourceUnit.BYTES],
  DISK: [ResourceUnit.BYTES],
  NET_BANDWIDTH: [ResourceUnit.BITS_PER_SECOND],
};

/** A resource of a host (SRSM-2 description + Placement-style inventory). */
@Entity('resource')
@Index(['hostId', 'type'], { unique: true })
export class ResourceEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  /** SRSM-2 numerical UID. */
  @Column({ type: 'integer', unique: true })
  @Generated('increment')
  uid: number;

  @Column({ type: 'uuid' })
  hostId: string;

  @Column({ type: 'varchar', length: 50 })
  type: string;

  @Column({ type: 'varchar', length: 300, default: '' })
  description: string;

  @Column({ type: 'varchar', length: 20 })
  unit: ResourceUnit;

  /** Amount of the resource in `unit` (SRSM-2 "value"). Equals `total`. */
  @Column({ type: 'double precision' })
  total: number;

  @Column({ type: 'double precision', default: 0 })
  reserved: number;

  /** Overbooking factor: capacity = (total − reserved) × allocationRatio. */
  @Column({ type: 'double precision', default: 1 })
  allocationRatio: number;

  @Column({ type: 'double precision', default: 1 })
  minUnit: number;

  @Column({ type: 'double precision', nullable: true })
  maxUnit: number | null;

  @Column({ type: 'double precision', default: 1 })
  stepSize: number;

  @Column({ type: 'double precision', default: 0 })
  used: number;

  /** SRSM-2 value vector, e.g. `{ latency: "2ms" }`. */
  @Column({ type: 'jsonb', default: () => "'{}'" })
  attributes: Record<string, unknown>;

  /**
   * FACTS: created from its host agent's facts, which keep its `total` up to date (an admin's
   * reserved, ratio and unit bounds stay); ADMIN: typed by hand, never touched by facts.
   */
  @Column({ type: 'varchar', length: 10, default: ResourceSource.ADMIN })
  source: ResourceSource;

  /** Optimistic version: every inventory change bumps it. */
  @VersionColumn()
  generation: number;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}

/** Capacity of a resource under its overbooking ratio. */
export function capacityOf(r: Pick<ResourceEntity, 'total' | 'reserved' | 'allocationRatio'>): number {
  return (r.total - r.reserved) * r.allocationRatio;
}
