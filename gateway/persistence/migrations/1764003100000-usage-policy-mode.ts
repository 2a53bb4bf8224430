import { MigrationInterface, QueryRunner } from 'typeorm';

/** Usage policies are enforced: each says how (REFUSE new work, or THROTTLE the group's environments, recorded per environment). */
export class UsagePolicyMode1764003100000 implements MigrationInterface {
  name = 'UsagePolicyMode1764003100000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "usage_policy" ADD "mode" character varying(10) NOT NULL DEFAULT 'REFUSE'`);
    await q.query(`CREATE TABLE "usage_throttle" ("environmentId" uuid NOT NULL, "policyId" uuid NOT NULL, "limits" jsonb NOT NULL, "throttledAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_88e426e61980872a082396a0c25" PRIMARY KEY ("environmentId"))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "usage_throttle"`);
    await q.query(`ALTER TABLE "usage_policy" DROP COLUMN "mode"`);
  }
}
