import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

/** One requirement of a resource class: at least `amount` free of `type`. */
export interface ClassRequirement {
  type: string;
  unit: string;
  amount: number;
}

/** A named class of resources with metadata that fits a set of uses ("small web", "mail"). */
@Entity('resource_class')
export class ResourceClassEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 100, unique: true })
  name: string;

  @Column({ type: 'text', default: '' })
  description: string;

  /** Uses it fits, e.g. ["web", "mailing lists"]. */
  @Column({ type: 'jsonb', default: () => "'[]'" })
  uses: string[];

  @Column({ type: 'jsonb', default: () => "'{}'" })
  metadata: Record<string, unknown>;

  @Column({ type: 'jsonb', default: () => "'[]'" })
  requirements: ClassRequirement[];
}
