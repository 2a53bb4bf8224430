import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Hosts are UP only on the word of their agent's heartbeat, which agents now push: every UP host
 * is UNKNOWN until its agent's first heartbeat after the upgrade (DOWN and MAINTENANCE hosts keep
 * their state).
 */
export class HostsUnknownUntilHeard1764002100000 implements MigrationInterface {
  name = 'HostsUnknownUntilHeard1764002100000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`UPDATE "host" SET "state" = 'UNKNOWN' WHERE "state" = 'UP'`);
  }

  async down(): Promise<void> {
    // The hosts come back UP on their agents' next heartbeats: nothing to undo.
  }
}
