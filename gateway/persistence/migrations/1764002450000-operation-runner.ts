import { MigrationInterface, QueryRunner } from 'typeorm';

/** Which gateway runs an operation, so a gateway restarted after a crash can end the ones it left RUNNING. */
export class OperationRunner1764002450000 implements MigrationInterface {
  name = 'OperationRunner1764002450000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "operation" ADD "runner" character varying(100)`);
    await q.query(`CREATE INDEX "operation_runner_state" ON "operation" ("runner", "state")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "operation_runner_state"`);
    await q.query(`ALTER TABLE "operation" DROP COLUMN "runner"`);
  }
}
