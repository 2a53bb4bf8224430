import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Whether an image's group showed it has the bits of the image's digest (`image.contentProven`):
 * a digest declared at registration no longer gives the bits of another group's image of the same
 * digest. Images recorded before keep their bits (true).
 */
export class ImageContentProven1764011290000 implements MigrationInterface {
  name = 'ImageContentProven1764011290000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "image" ADD "contentProven" boolean NOT NULL DEFAULT true`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "image" DROP COLUMN "contentProven"`);
  }
}
