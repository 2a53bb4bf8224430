import { MigrationInterface, QueryRunner } from 'typeorm';

/** Implicit allocations: what an environment made without an allocation, or a stored replica, holds on its host. */
export class ImplicitAllocations1764002300000 implements MigrationInterface {
  name = 'ImplicitAllocations1764002300000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "allocation" ADD "environmentId" uuid`);
    await q.query(`ALTER TABLE "allocation" ADD "replicaId" uuid`);
    await q.query(`CREATE INDEX "IDX_d3f2249bec79c86aec82adb88e" ON "allocation" ("environmentId") `);
    await q.query(`CREATE INDEX "IDX_dbd817ed4b2714c348b8afcbe8" ON "allocation" ("replicaId") `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "public"."IDX_dbd817ed4b2714c348b8afcbe8"`);
    await q.query(`DROP INDEX "public"."IDX_d3f2249bec79c86aec82adb88e"`);
    await q.query(`ALTER TABLE "allocation" DROP COLUMN "replicaId"`);
    await q.query(`ALTER TABLE "allocation" DROP COLUMN "environmentId"`);
  }
}
