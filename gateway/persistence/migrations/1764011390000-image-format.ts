import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The format of an image's bits as the gateway told it at their upload (`image.format`:
 * `rootfs-tar`, `qcow2`, a plugin's own). Images stored before say none (null): their bits were
 * taken without the format being kept.
 */
export class ImageFormat1764011390000 implements MigrationInterface {
  name = 'ImageFormat1764011390000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "image" ADD "format" varchar(30)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "image" DROP COLUMN "format"`);
  }
}
