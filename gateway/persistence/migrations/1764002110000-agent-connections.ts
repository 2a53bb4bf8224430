import { MigrationInterface, QueryRunner } from 'typeorm';

/** Host agents' connections to gateways: who holds which, since when, with what version, from where. */
export class AgentConnections1764002110000 implements MigrationInterface {
  name = 'AgentConnections1764002110000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE "agent_connection" (
      "id" uuid NOT NULL DEFAULT gen_random_uuid(),
      "agentId" character varying(200) NOT NULL,
      "gatewayId" character varying(100) NOT NULL,
      "connectedAt" TIMESTAMP WITH TIME ZONE NOT NULL,
      "disconnectedAt" TIMESTAMP WITH TIME ZONE,
      "version" character varying(100) NOT NULL,
      "remoteAddress" character varying(200) NOT NULL,
      CONSTRAINT "PK_agent_connection_id" PRIMARY KEY ("id"))`);
    await q.query(`CREATE INDEX "IDX_2352f05a1b0555109d78445f8c" ON "agent_connection" ("agentId", "connectedAt")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "agent_connection"`);
  }
}
