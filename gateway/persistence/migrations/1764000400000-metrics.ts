import { MigrationInterface, QueryRunner } from 'typeorm';

/** Metrics: stored samples at each history resolution, alert rules, alerts, and usage per group, host and month. */
export class Metrics1764000400000 implements MigrationInterface {
  name = 'Metrics1764000400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE "metric_sample" ("targetType" character varying(12) NOT NULL, "targetId" uuid NOT NULL, "resolutionSeconds" integer NOT NULL, "at" TIMESTAMP WITH TIME ZONE NOT NULL, "metrics" jsonb NOT NULL, CONSTRAINT "PK_d4457e76e38f312b4ad3a165d5e" PRIMARY KEY ("targetType", "targetId", "resolutionSeconds", "at"))`);
    await q.query(`CREATE TABLE "alert_rule" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "name" character varying(100) NOT NULL, "groupId" uuid, "siteId" uuid, "targetType" character varying(12) NOT NULL, "targetId" uuid, "metric" character varying(60) NOT NULL, "comparison" character varying(5) NOT NULL, "threshold" double precision NOT NULL, "durationSeconds" integer NOT NULL DEFAULT '0', "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_e9bf555f33872d7b50eb2421a17" PRIMARY KEY ("id"))`);
    await q.query(`CREATE INDEX "IDX_69fa5f1c20da5e93fe02c67ae3" ON "alert_rule"  ("groupId") `);
    await q.query(`CREATE INDEX "IDX_9b3c0253d9be4ab86e2cb98def" ON "alert_rule"  ("siteId") `);
    await q.query(`CREATE TABLE "alert" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "ruleId" uuid, "groupId" uuid, "siteId" uuid, "targetType" character varying(12) NOT NULL, "targetId" uuid NOT NULL, "metric" character varying(60) NOT NULL, "value" double precision NOT NULL, "threshold" double precision NOT NULL, "state" character varying(10) NOT NULL, "message" text NOT NULL, "firedAt" TIMESTAMP WITH TIME ZONE NOT NULL, "resolvedAt" TIMESTAMP WITH TIME ZONE, CONSTRAINT "PK_ad91cad659a3536465d564a4b2f" PRIMARY KEY ("id"))`);
    await q.query(`CREATE INDEX "IDX_83ab2761a7afa2818930a384de" ON "alert"  ("groupId") `);
    await q.query(`CREATE INDEX "IDX_961e9865d19fb85e3cf7953b7d" ON "alert"  ("state", "firedAt") `);
    await q.query(`CREATE TABLE "usage_record" ("groupId" uuid NOT NULL, "hostId" uuid NOT NULL, "month" character varying(7) NOT NULL, "cpuSeconds" double precision NOT NULL DEFAULT '0', "networkBytes" double precision NOT NULL DEFAULT '0', "peakMemoryBytes" double precision NOT NULL DEFAULT '0', "updatedAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_d9c13b348ee9d3634c0bbd27799" PRIMARY KEY ("groupId", "hostId", "month"))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "usage_record"`);
    await q.query(`DROP INDEX "public"."IDX_961e9865d19fb85e3cf7953b7d"`);
    await q.query(`DROP INDEX "public"."IDX_83ab2761a7afa2818930a384de"`);
    await q.query(`DROP TABLE "alert"`);
    await q.query(`DROP INDEX "public"."IDX_9b3c0253d9be4ab86e2cb98def"`);
    await q.query(`DROP INDEX "public"."IDX_69fa5f1c20da5e93fe02c67ae3"`);
    await q.query(`DROP TABLE "alert_rule"`);
    await q.query(`DROP TABLE "metric_sample"`);
  }
}
