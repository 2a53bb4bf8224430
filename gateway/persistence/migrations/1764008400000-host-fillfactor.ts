import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Host rows keep half of each page free: a heartbeat's write (`lastHeartbeatAt`, no indexed
 * column) then stays on its page, without new index entries (a HOT update).
 */
export class HostFillfactor1764008400000 implements MigrationInterface {
  name = 'HostFillfactor1764008400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "host" SET (fillfactor = 50)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "host" RESET (fillfactor)`);
  }
}
