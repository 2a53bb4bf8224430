import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The installation's id: one row made with the database, the same for every gateway replica on
 * it. The in-process agent's default id is derived from it (`RSP_LOCAL_AGENT_ID`).
 */
export class Installation1764002250000 implements MigrationInterface {
  name = 'Installation1764002250000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE "installation" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_installation" PRIMARY KEY ("id"))`);
    await q.query(`INSERT INTO "installation" DEFAULT VALUES`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "installation"`);
  }
}
