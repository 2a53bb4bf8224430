import { MigrationInterface, QueryRunner } from 'typeorm';

/** Environments' snapshots are recorded (name, who, the allocation holding their disk), with a retention per environment. */
export class EnvironmentSnapshots1764006300000 implements MigrationInterface {
  name = 'EnvironmentSnapshots1764006300000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `CREATE TABLE "environment_snapshot" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "environmentId" uuid NOT NULL, "name" character varying(63) NOT NULL, "createdBy" character varying(200) NOT NULL, "allocationId" uuid, "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_394a4a4402f1491b6e13988a236" PRIMARY KEY ("id"))`,
    );
    await q.query(`CREATE UNIQUE INDEX "environment_snapshot_name" ON "environment_snapshot" ("environmentId", "name")`);
    await q.query(`ALTER TABLE "environment" ADD "snapshotKeepLast" integer`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "environment" DROP COLUMN "snapshotKeepLast"`);
    await q.query(`DROP TABLE "environment_snapshot"`);
  }
}
