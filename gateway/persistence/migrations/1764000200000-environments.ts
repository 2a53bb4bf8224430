import { MigrationInterface, QueryRunner } from 'typeorm';

/** Environments (virtual spaces on hosts) and the agent that serves each host. */
export class Environments1764000200000 implements MigrationInterface {
  name = 'Environments1764000200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE "environment" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "name" character varying(63) NOT NULL, "groupId" uuid NOT NULL, "hostId" uuid NOT NULL, "driver" character varying(63) NOT NULL, "technology" character varying(30) NOT NULL, "imageId" uuid NOT NULL, "imageRef" jsonb, "status" character varying(12) NOT NULL, "drift" text, "lastError" text, "limits" jsonb NOT NULL DEFAULT '{}', "volumes" jsonb NOT NULL DEFAULT '[]', "iface" jsonb NOT NULL, "command" jsonb, "layerId" uuid, "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updatedAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "version" integer NOT NULL, CONSTRAINT "PK_f0ec97d0ac5e0e2f50f7475699f" PRIMARY KEY ("id"))`);
    await q.query(`CREATE INDEX "IDX_874134daa2a793df3cb0aca0d5" ON "environment"  ("groupId") `);
    await q.query(`CREATE INDEX "IDX_9703183b8283f0674ef596411f" ON "environment"  ("hostId") `);
    await q.query(`ALTER TABLE "host" ADD "agent" character varying(200) NOT NULL DEFAULT 'local'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "host" DROP COLUMN "agent"`);
    await q.query(`DROP INDEX "public"."IDX_9703183b8283f0674ef596411f"`);
    await q.query(`DROP INDEX "public"."IDX_874134daa2a793df3cb0aca0d5"`);
    await q.query(`DROP TABLE "environment"`);
  }
}
