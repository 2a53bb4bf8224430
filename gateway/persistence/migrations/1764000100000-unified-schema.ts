import { MigrationInterface, QueryRunner } from 'typeorm';

/** The unified schema: groups and tokens, sites, hosts, resources, classes, offers and needs, shares, usage policies, layers, images. */
export class UnifiedSchema1764000100000 implements MigrationInterface {
  name = 'UnifiedSchema1764000100000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE "api_token" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "groupId" uuid, "name" character varying(100) NOT NULL, "role" character varying(10) NOT NULL, "siteAdmin" boolean NOT NULL DEFAULT false, "secretHash" character varying(64) NOT NULL, "prefix" character varying(16) NOT NULL, "expiresAt" TIMESTAMP WITH TIME ZONE, "revokedAt" TIMESTAMP WITH TIME ZONE, "lastUsedAt" TIMESTAMP WITH TIME ZONE, "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_d862311c568d175c26f41bc6f98" PRIMARY KEY ("id"))`);
    await q.query(`CREATE UNIQUE INDEX "IDX_8b2466d7cd43ef8e28ef1e5d58" ON "api_token"  ("secretHash") `);
    await q.query(`CREATE TABLE "group" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "slug" character varying(63) NOT NULL, "name" character varying(200) NOT NULL, "description" text NOT NULL DEFAULT '', "contact" character varying(300) NOT NULL DEFAULT '', "labor" jsonb NOT NULL DEFAULT '[]', "financial" jsonb NOT NULL DEFAULT '[]', "legal" jsonb NOT NULL DEFAULT '[]', "techHosts" jsonb NOT NULL DEFAULT '[]', "techNeeds" jsonb NOT NULL DEFAULT '[]', "noTechPreference" boolean NOT NULL DEFAULT false, "externalBackups" boolean NOT NULL DEFAULT false, "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updatedAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "UQ_d3240eaf64d34439513e46cb495" UNIQUE ("slug"), CONSTRAINT "PK_256aa0fda9b1de1a73ee0b7106b" PRIMARY KEY ("id"))`);
    await q.query(`CREATE TABLE "host" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "siteId" uuid NOT NULL, "ownerGroupId" uuid NOT NULL, "hostname" character varying(253) NOT NULL, "arch" character varying(30) NOT NULL DEFAULT 'x86_64', "state" character varying(12) NOT NULL DEFAULT 'UNKNOWN', "drivers" jsonb NOT NULL DEFAULT '[]', "fingerprint" jsonb NOT NULL DEFAULT '{}', "shareUnits" integer NOT NULL DEFAULT '1', "layerId" uuid, "lastHeartbeatAt" TIMESTAMP WITH TIME ZONE, "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_44424c24c2f9b1d7bbf8721f4c4" PRIMARY KEY ("id"))`);
    await q.query(`CREATE UNIQUE INDEX "IDX_90ed13e56101ebdced58edc444" ON "host"  ("siteId", "hostname") `);
    await q.query(`CREATE TABLE "image" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "name" character varying(100) NOT NULL, "version" character varying(50) NOT NULL, "technology" character varying(30) NOT NULL, "vendorGroupId" uuid NOT NULL, "digest" character varying(71), "sizeBytes" double precision, "readOnly" boolean NOT NULL DEFAULT true, "source" character varying(15) NOT NULL, "visibility" character varying(10) NOT NULL DEFAULT 'PRIVATE', "sharedWith" jsonb NOT NULL DEFAULT '[]', "description" text NOT NULL DEFAULT '', "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_d6db1ab4ee9ad9dbe86c64e4cc3" PRIMARY KEY ("id"))`);
    await q.query(`CREATE UNIQUE INDEX "IDX_6884adbd4a4a522675670166fc" ON "image"  ("vendorGroupId", "name", "version", "technology") `);
    await q.query(`CREATE TABLE "layer" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "kind" character varying(30) NOT NULL, "name" character varying(200) NOT NULL, "groupId" uuid NOT NULL, "parentId" uuid, "properties" jsonb NOT NULL DEFAULT '[]', "requirements" jsonb NOT NULL DEFAULT '[]', "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_d60eea04485b8109a4bc1e09c64" PRIMARY KEY ("id"))`);
    await q.query(`CREATE INDEX "IDX_527567b628a1189dbbb0a9f536" ON "layer"  ("parentId") `);
    await q.query(`CREATE TABLE "offer" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "groupId" uuid NOT NULL, "hostId" uuid, "resourceType" character varying(50) NOT NULL, "unit" character varying(20) NOT NULL, "amount" double precision NOT NULL, "terms" text NOT NULL DEFAULT '', "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_57c6ae1abe49201919ef68de900" PRIMARY KEY ("id"))`);
    await q.query(`CREATE TABLE "need" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "groupId" uuid NOT NULL, "resourceType" character varying(50) NOT NULL, "unit" character varying(20) NOT NULL, "amount" double precision NOT NULL, "technologies" jsonb NOT NULL DEFAULT '[]', "description" text NOT NULL DEFAULT '', "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_218b14514f334ee6f39954f86ba" PRIMARY KEY ("id"))`);
    await q.query(`CREATE TABLE "resource_class" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "name" character varying(100) NOT NULL, "description" text NOT NULL DEFAULT '', "uses" jsonb NOT NULL DEFAULT '[]', "metadata" jsonb NOT NULL DEFAULT '{}', "requirements" jsonb NOT NULL DEFAULT '[]', CONSTRAINT "UQ_3c601ae16587d5fe45bbe58c827" UNIQUE ("name"), CONSTRAINT "PK_dd57fa4e9fb1d5c56d0a53fbf96" PRIMARY KEY ("id"))`);
    await q.query(`CREATE TABLE "resource" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "uid" SERIAL NOT NULL, "hostId" uuid NOT NULL, "type" character varying(50) NOT NULL, "description" character varying(300) NOT NULL DEFAULT '', "unit" character varying(20) NOT NULL, "total" double precision NOT NULL, "reserved" double precision NOT NULL DEFAULT '0', "allocationRatio" double precision NOT NULL DEFAULT '1', "minUnit" double precision NOT NULL DEFAULT '1', "maxUnit" double precision, "stepSize" double precision NOT NULL DEFAULT '1', "used" double precision NOT NULL DEFAULT '0', "attributes" jsonb NOT NULL DEFAULT '{}', "generation" integer NOT NULL, "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "UQ_e6349ecf05ea1e0a1c6ddba88d6" UNIQUE ("uid"), CONSTRAINT "PK_e2894a5867e06ae2e8889f1173f" PRIMARY KEY ("id"))`);
    await q.query(`CREATE INDEX "IDX_48a24433c0e7ff0778b8d595be" ON "resource"  ("hostId", "type") `);
    await q.query(`CREATE TABLE "share" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "hostId" uuid NOT NULL, "groupId" uuid NOT NULL, "kind" character varying(10) NOT NULL, "quotas" jsonb NOT NULL, "cpuWeight" integer NOT NULL, "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_67a2b28d2cff31834bc2aa1ed7c" PRIMARY KEY ("id"))`);
    await q.query(`CREATE UNIQUE INDEX "IDX_bb94ccb33d7e92f323b2498be1" ON "share"  ("hostId", "groupId") `);
    await q.query(`CREATE TABLE "usage_policy" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "siteId" uuid NOT NULL, "name" character varying(100) NOT NULL, "text" text NOT NULL DEFAULT '', "bandwidthBytesPerMonth" double precision, "cpuHoursPerMonth" double precision, "diskBytes" double precision, CONSTRAINT "PK_08fb24b34407aaf5fcc35c31e52" PRIMARY KEY ("id"))`);
    await q.query(`CREATE TABLE "site" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "name" character varying(100) NOT NULL, "location" character varying(300) NOT NULL DEFAULT '', "ownerGroupId" uuid NOT NULL, "placementPolicy" character varying(10) NOT NULL DEFAULT 'BINPACK', "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "UQ_9669a09fcc0eb6d2794a658f647" UNIQUE ("name"), CONSTRAINT "PK_635c0eeabda8862d5b0237b42b4" PRIMARY KEY ("id"))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "site"`);
    await q.query(`DROP TABLE "usage_policy"`);
    await q.query(`DROP INDEX "public"."IDX_bb94ccb33d7e92f323b2498be1"`);
    await q.query(`DROP TABLE "share"`);
    await q.query(`DROP INDEX "public"."IDX_48a24433c0e7ff0778b8d595be"`);
    await q.query(`DROP TABLE "resource"`);
    await q.query(`DROP TABLE "resource_class"`);
    await q.query(`DROP TABLE "need"`);
    await q.query(`DROP TABLE "offer"`);
    await q.query(`DROP INDEX "public"."IDX_527567b628a1189dbbb0a9f536"`);
    await q.query(`DROP TABLE "layer"`);
    await q.query(`DROP INDEX "public"."IDX_6884adbd4a4a522675670166fc"`);
    await q.query(`DROP TABLE "image"`);
    await q.query(`DROP INDEX "public"."IDX_90ed13e56101ebdced58edc444"`);
    await q.query(`DROP TABLE "host"`);
    await q.query(`DROP TABLE "group"`);
    await q.query(`DROP INDEX "public"."IDX_8b2466d7cd43ef8e28ef1e5d58"`);
    await q.query(`DROP TABLE "api_token"`);
  }
}
