import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/** Kinds of layer (seed 000): machine → OS → zone (container/vserver/VM) → service; custom allowed. */
export const LAYER_KINDS = ['MACHINE', 'OS', 'ZONE', 'SERVICE'] as const;

/** A property of a layer. `locked`: upper layers cannot override it. */
export interface LayerProperty {
  key: string;
  value: string | number | boolean;
  locked?: boolean;
}

/** Operators of layer requirements. */
export type RequirementOp = 'EQ' | 'NEQ' | 'IN' | 'GTE' | 'LTE' | 'EXISTS';

/** What a layer needs from the effective properties beneath it. */
export interface LayerRequirement {
  key: string;
  op: RequirementOp;
  values: Array<string | number | boolean>;
}

/** One layer of a stack. Its effective properties inherit from the layers below. */
@Entity('layer')
@Index(['parentId'])
export class LayerEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 30 })
  kind: string;

  @Column({ type: 'varchar', length: 200 })
  name: string;

  @Column({ type: 'uuid' })
  groupId: string;

  @Column({ type: 'uuid', nullable: true })
  parentId: string | null;

  @Column({ type: 'jsonb', default: () => "'[]'" })
  properties: LayerProperty[];

  @Column({ type: 'jsonb', default: () => "'[]'" })
  requirements: LayerRequirement[];

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}
