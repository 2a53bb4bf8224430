import { MigrationInterface, QueryRunner } from 'typeorm';

/** Hosts by agent: every heartbeat batch, detector round and agent connection looks its hosts up by agent. */
export class HostAgentIndex1764003000000 implements MigrationInterface {
  name = 'HostAgentIndex1764003000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX "host_agent" ON "host" ("agent")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "host_agent"`);
  }
}
