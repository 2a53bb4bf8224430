import { MigrationInterface, QueryRunner } from 'typeorm';

/** Operations: every long action with its progress, result and error. */
export class Operations1764000000000 implements MigrationInterface {
  name = 'Operations1764000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "operation" (
        "id" uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        "kind" varchar(100) NOT NULL,
        "targetType" varchar(100),
        "targetId" varchar(200),
        "groupId" uuid,
        "state" varchar(20) NOT NULL DEFAULT 'PENDING',
        "progress" double precision NOT NULL DEFAULT 0,
        "message" text,
        "result" jsonb,
        "errorCode" varchar(50),
        "errorMessage" text,
        "createdAt" timestamptz NOT NULL DEFAULT now(),
        "updatedAt" timestamptz NOT NULL DEFAULT now(),
        "startedAt" timestamptz,
        "finishedAt" timestamptz,
        "version" integer NOT NULL,
        CONSTRAINT "operation_progress_range" CHECK ("progress" >= 0 AND "progress" <= 1)
      )`);
    await q.query(`CREATE INDEX "operation_target" ON "operation" ("targetType", "targetId")`);
    await q.query(`CREATE INDEX "operation_created" ON "operation" ("createdAt")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "operation"`);
  }
}
