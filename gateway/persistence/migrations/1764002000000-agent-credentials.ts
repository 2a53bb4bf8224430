import { MigrationInterface, QueryRunner } from 'typeorm';

/** Host agents' join tokens and credentials, stored hashed, each bound to one agent id. */
export class AgentCredentials1764002000000 implements MigrationInterface {
  name = 'AgentCredentials1764002000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE "agent_credential" (
      "id" uuid NOT NULL DEFAULT gen_random_uuid(),
      "agentId" character varying(100) NOT NULL,
      "kind" character varying(12) NOT NULL,
      "secretHash" character varying(64) NOT NULL,
      "expiresAt" TIMESTAMP WITH TIME ZONE,
      "usedAt" TIMESTAMP WITH TIME ZONE,
      "revokedAt" TIMESTAMP WITH TIME ZONE,
      "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
      CONSTRAINT "PK_83d2e88e9177d444d600c592a68" PRIMARY KEY ("id"))`);
    await q.query(`CREATE UNIQUE INDEX "IDX_5a4ca26426f0d39fca42fb6508" ON "agent_credential" ("secretHash")`);
    await q.query(`CREATE INDEX "IDX_475e6be6270c23b8487da05901" ON "agent_credential" ("agentId")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "agent_credential"`);
  }
}
