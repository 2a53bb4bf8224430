import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/** Where an image came from. */
export enum ImageSource {
  READY = 'READY',
  USER_SUPPLIED = 'USER_SUPPLIED',
}

/** Who may see and use an image. */
export enum ImageVisibility {
  PRIVATE = 'PRIVATE',
  SHARED = 'SHARED',
  PUBLIC = 'PUBLIC',
}

/** A read-only root filesystem image in the catalog, tradeable between groups. */
@Entity('image')
@Index(['vendorGroupId', 'name', 'version', 'technology'], { unique: true })
export class ImageEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 100 })
  name: string;

  @Column({ type: 'varchar', length: 50 })
  version: string;

  @Column({ type: 'varchar', length: 30 })
  technology: string;

  @Column({ type: 'uuid' })
  vendorGroupId: string;

  /** `sha256:<hex>` of the bits, once imported. */
  @Column({ type: 'varchar', length: 71, nullable: true })
  digest: string | null;

  @Column({ type: 'double precision', nullable: true })
  sizeBytes: number | null;

  /**
   * Whether its group showed it has the bits of `digest`: it uploaded them, fetched them from a
   * peer site that lists the image, or could already use an image of that digest when it declared
   * it. Until then the image has no content, whatever the store holds: a digest alone (which a
   * listing or a log may show) gives no right to another group's bits.
   */
  @Column({ type: 'boolean', default: true })
  contentProven: boolean;

  /**
   * The format of its bits (`rootfs-tar`, `qcow2`, a plugin's own), told from their first bytes at
   * the upload (`imageFormatOf`) or taken from an image of the same digest; null without content,
   * or for bits stored before formats were kept.
   */
  @Column({ type: 'varchar', length: 30, nullable: true })
  format: string | null;

  @Column({ type: 'boolean', default: true })
  readOnly: boolean;

  @Column({ type: 'varchar', length: 15 })
  source: ImageSource;

  @Column({ type: 'varchar', length: 10, default: ImageVisibility.PRIVATE })
  visibility: ImageVisibility;

  /** Groups it is shared with, when SHARED. */
  @Column({ type: 'jsonb', default: () => "'[]'" })
  sharedWith: string[];

  @Column({ type: 'text', default: '' })
  description: string;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}
