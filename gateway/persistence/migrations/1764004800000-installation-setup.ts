import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * How far the first start's set-up of this machine went (`gateway/setup`): null until a start
 * looked, then the names it chose and whether it is STARTED, DONE or SKIPPED (the database was
 * already in use), so a set-up cut short is completed by the next start and a finished one is
 * never repeated.
 */
export class InstallationSetup1764004800000 implements MigrationInterface {
  name = 'InstallationSetup1764004800000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "installation" ADD "setup" jsonb`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "installation" DROP COLUMN "setup"`);
  }
}
