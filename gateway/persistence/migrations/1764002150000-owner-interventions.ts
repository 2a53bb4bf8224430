import { MigrationInterface, QueryRunner } from 'typeorm';

/** Host owners' interventions on guest environments, and the group that started each operation. */
export class OwnerInterventions1764002150000 implements MigrationInterface {
  name = 'OwnerInterventions1764002150000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "environment" ADD "intervention" jsonb`);
    await q.query(`ALTER TABLE "operation" ADD "actorGroupId" uuid`);
    await q.query(`CREATE INDEX "operation_actor_group" ON "operation" ("actorGroupId")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "operation_actor_group"`);
    await q.query(`ALTER TABLE "operation" DROP COLUMN "actorGroupId"`);
    await q.query(`ALTER TABLE "environment" DROP COLUMN "intervention"`);
  }
}
