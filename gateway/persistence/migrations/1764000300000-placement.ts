import { MigrationInterface, QueryRunner } from 'typeorm';

/** Placement: allocation requests, the allocations placed for them, and the claims they hold on resources. */
export class Placement1764000300000 implements MigrationInterface {
  name = 'Placement1764000300000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE "allocation_request" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "groupId" uuid NOT NULL, "requestedBy" character varying(200) NOT NULL, "mode" character varying(10) NOT NULL, "guarantee" character varying(12) NOT NULL, "spec" jsonb NOT NULL, "leaseSeconds" integer, "status" character varying(10) NOT NULL, "reason" text, "decidedBy" character varying(200), "decidedAt" TIMESTAMP WITH TIME ZONE, "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_99e4730f0a8ea1f505fae493879" PRIMARY KEY ("id"))`);
    await q.query(`CREATE INDEX "IDX_a832ff7df83e84408dd0f2e086" ON "allocation_request"  ("status") `);
    await q.query(`CREATE INDEX "IDX_a2b27eab32e8b3565056f37e07" ON "allocation_request"  ("groupId", "createdAt") `);
    await q.query(`CREATE TABLE "allocation" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "requestId" uuid NOT NULL, "groupId" uuid NOT NULL, "hostId" uuid NOT NULL, "technology" character varying(30) NOT NULL, "guarantee" character varying(12) NOT NULL, "status" character varying(10) NOT NULL, "score" double precision NOT NULL DEFAULT '0', "expiresAt" TIMESTAMP WITH TIME ZONE, "endedAt" TIMESTAMP WITH TIME ZONE, "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_7df89c736595e454b6ae07264fe" PRIMARY KEY ("id"))`);
    await q.query(`CREATE INDEX "IDX_59ac4137b60d792ff41c41cd31" ON "allocation"  ("status", "expiresAt") `);
    await q.query(`CREATE INDEX "IDX_66fe52487d38b6078bdfa5e517" ON "allocation"  ("hostId") `);
    await q.query(`CREATE INDEX "IDX_779188c5209f31c05954fe7b8a" ON "allocation"  ("groupId", "createdAt") `);
    await q.query(`CREATE INDEX "IDX_267c691bb90c28166449d6b842" ON "allocation"  ("requestId") `);
    await q.query(`CREATE TABLE "allocation_claim" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "allocationId" uuid NOT NULL, "resourceId" uuid NOT NULL, "hostId" uuid NOT NULL, "groupId" uuid NOT NULL, "type" character varying(50) NOT NULL, "amount" double precision NOT NULL, "guaranteed" boolean NOT NULL, "active" boolean NOT NULL DEFAULT true, CONSTRAINT "PK_0933e8574556a26dd3ccd49894f" PRIMARY KEY ("id"))`);
    await q.query(`CREATE INDEX "IDX_61640e91ae091e3838815dbf8c" ON "allocation_claim"  ("resourceId", "active") `);
    await q.query(`CREATE INDEX "IDX_b91720ad027161645ad7e85a4c" ON "allocation_claim"  ("allocationId") `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "public"."IDX_b91720ad027161645ad7e85a4c"`);
    await q.query(`DROP INDEX "public"."IDX_61640e91ae091e3838815dbf8c"`);
    await q.query(`DROP TABLE "allocation_claim"`);
    await q.query(`DROP INDEX "public"."IDX_267c691bb90c28166449d6b842"`);
    await q.query(`DROP INDEX "public"."IDX_779188c5209f31c05954fe7b8a"`);
    await q.query(`DROP INDEX "public"."IDX_66fe52487d38b6078bdfa5e517"`);
    await q.query(`DROP INDEX "public"."IDX_59ac4137b60d792ff41c41cd31"`);
    await q.query(`DROP TABLE "allocation"`);
    await q.query(`DROP INDEX "public"."IDX_a2b27eab32e8b3565056f37e07"`);
    await q.query(`DROP INDEX "public"."IDX_a832ff7df83e84408dd0f2e086"`);
    await q.query(`DROP TABLE "allocation_request"`);
  }
}
