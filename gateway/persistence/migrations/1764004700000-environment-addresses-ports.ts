import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Networks of environments: each host's address range (null: the default), the addresses its
 * environments hold and the host ports they publish, each unique per host by its primary key.
 */
export class EnvironmentAddressesPorts1764004700000 implements MigrationInterface {
  name = 'EnvironmentAddressesPorts1764004700000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE "environment_address" ("hostId" uuid NOT NULL, "address" character varying(45) NOT NULL, "environmentId" uuid NOT NULL, "family" character varying(4) NOT NULL, "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_d294b994839b3e4bc0e118fed72" PRIMARY KEY ("hostId", "address"))`);
    await q.query(`CREATE INDEX "IDX_5996a1a6088dd27767fb6533b9" ON "environment_address" ("environmentId") `);
    await q.query(`CREATE TABLE "host_port" ("hostId" uuid NOT NULL, "protocol" character varying(3) NOT NULL, "hostPort" integer NOT NULL, "environmentId" uuid NOT NULL, "port" integer NOT NULL, "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_78572f24e563a56d1a8e9f7d26a" PRIMARY KEY ("hostId", "protocol", "hostPort"))`);
    await q.query(`CREATE INDEX "IDX_a86ca5006ccad98ddf05203afc" ON "host_port" ("environmentId") `);
    await q.query(`ALTER TABLE "host" ADD "addressRange" character varying(43)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "host" DROP COLUMN "addressRange"`);
    await q.query(`DROP INDEX "public"."IDX_a86ca5006ccad98ddf05203afc"`);
    await q.query(`DROP TABLE "host_port"`);
    await q.query(`DROP INDEX "public"."IDX_5996a1a6088dd27767fb6533b9"`);
    await q.query(`DROP TABLE "environment_address"`);
  }
}
