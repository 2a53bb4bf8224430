import { MigrationInterface, QueryRunner } from 'typeorm';

/** The manifest a peer's transfer sent, so that its replica can name only that one (or one its group already holds). */
export class PeerTransferManifest1764010300000 implements MigrationInterface {
  name = 'PeerTransferManifest1764010300000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "peer_transfer" ADD "manifestId" character varying(64)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "peer_transfer" DROP COLUMN "manifestId"`);
  }
}
