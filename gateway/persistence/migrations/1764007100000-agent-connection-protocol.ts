import { MigrationInterface, QueryRunner } from 'typeorm';

/** Each agent connection records the agent protocol version its handshake negotiated (null: recorded by an older gateway). */
export class AgentConnectionProtocol1764007100000 implements MigrationInterface {
  name = 'AgentConnectionProtocol1764007100000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "agent_connection" ADD "protocol" integer`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "agent_connection" DROP COLUMN "protocol"`);
  }
}
