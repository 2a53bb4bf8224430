import { MigrationInterface, QueryRunner } from 'typeorm';

/** Usage: the disk a group's environments take on each host. */
export class UsageDisk1764000600000 implements MigrationInterface {
  name = 'UsageDisk1764000600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "usage_record" ADD "diskBytes" double precision NOT NULL DEFAULT '0'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "usage_record" DROP COLUMN "diskBytes"`);
  }
}
