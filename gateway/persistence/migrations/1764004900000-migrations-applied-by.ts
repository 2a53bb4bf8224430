import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The RSP version that applied each migration, so that an older gateway refusing a database
 * migrated by a newer one can name that version (rows applied before this column are left null).
 */
export class MigrationsAppliedBy1764004900000 implements MigrationInterface {
  name = 'MigrationsAppliedBy1764004900000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "rsp_migrations" ADD "appliedBy" character varying`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "rsp_migrations" DROP COLUMN "appliedBy"`);
  }
}
