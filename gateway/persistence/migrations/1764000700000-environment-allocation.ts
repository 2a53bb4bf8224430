import { MigrationInterface, QueryRunner } from 'typeorm';

/** Environments may run on an allocation's capacity. */
export class EnvironmentAllocation1764000700000 implements MigrationInterface {
  name = 'EnvironmentAllocation1764000700000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "environment" ADD "allocationId" uuid`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "environment" DROP COLUMN "allocationId"`);
  }
}
