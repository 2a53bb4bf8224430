import { MigrationInterface, QueryRunner } from 'typeorm';

/** Replication: policies (with their Proxmox-style status) and the replicas they made. */
export class Replication1764000500000 implements MigrationInterface {
  name = 'Replication1764000500000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE "replication_policy" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "name" character varying(100) NOT NULL, "groupId" uuid NOT NULL, "environmentId" uuid NOT NULL, "layerId" uuid NOT NULL, "targetKind" character varying(10) NOT NULL, "targetId" uuid, "schedule" character varying(200) NOT NULL, "keep" integer NOT NULL DEFAULT '3', "kind" character varying(10) NOT NULL, "backupCommand" jsonb, "restoreCommand" jsonb, "autoFailover" boolean NOT NULL DEFAULT false, "encrypted" boolean NOT NULL DEFAULT false, "enabled" boolean NOT NULL DEFAULT true, "lastSyncAt" TIMESTAMP WITH TIME ZONE, "lastTryAt" TIMESTAMP WITH TIME ZONE, "lastDurationMs" integer, "failCount" integer NOT NULL DEFAULT '0', "nextRunAt" TIMESTAMP WITH TIME ZONE, "lastError" text, "runningOperationId" uuid, "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updatedAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "version" integer NOT NULL, CONSTRAINT "PK_a28c493100f26e3cb4161e40921" PRIMARY KEY ("id"))`);
    await q.query(`CREATE INDEX "IDX_e704fefca7d78ea4e0b123ddda" ON "replication_policy"  ("enabled", "nextRunAt") `);
    await q.query(`CREATE INDEX "IDX_770037695081907ac85ae94a96" ON "replication_policy"  ("environmentId") `);
    await q.query(`CREATE INDEX "IDX_b7c0e17338aaff421d96e4cc69" ON "replication_policy"  ("groupId") `);
    await q.query(`CREATE TABLE "replica" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "policyId" uuid, "environmentId" uuid NOT NULL, "groupId" uuid NOT NULL, "layerId" uuid, "kind" character varying(10) NOT NULL, "manifestId" character varying(200) NOT NULL, "bytes" double precision NOT NULL, "newBytes" double precision NOT NULL, "chunks" integer NOT NULL, "encrypted" boolean NOT NULL DEFAULT false, "targetKind" character varying(10) NOT NULL, "targetId" uuid, "source" jsonb NOT NULL, "verifiedAt" TIMESTAMP WITH TIME ZONE, "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_f319ce5a90abd2823a9cdd08c24" PRIMARY KEY ("id"))`);
    await q.query(`CREATE INDEX "IDX_29eb090d5cd71f07b291786a47" ON "replica"  ("groupId") `);
    await q.query(`CREATE INDEX "IDX_cdf6763736c33d6467fc069aee" ON "replica"  ("policyId", "createdAt") `);
    await q.query(`CREATE INDEX "IDX_2cbd0dcdfc40a527d3e0d32976" ON "replica"  ("environmentId", "createdAt") `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "public"."IDX_2cbd0dcdfc40a527d3e0d32976"`);
    await q.query(`DROP INDEX "public"."IDX_cdf6763736c33d6467fc069aee"`);
    await q.query(`DROP INDEX "public"."IDX_29eb090d5cd71f07b291786a47"`);
    await q.query(`DROP TABLE "replica"`);
    await q.query(`DROP INDEX "public"."IDX_b7c0e17338aaff421d96e4cc69"`);
    await q.query(`DROP INDEX "public"."IDX_770037695081907ac85ae94a96"`);
    await q.query(`DROP INDEX "public"."IDX_e704fefca7d78ea4e0b123ddda"`);
    await q.query(`DROP TABLE "replication_policy"`);
  }
}
