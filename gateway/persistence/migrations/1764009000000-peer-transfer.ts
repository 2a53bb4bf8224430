import { MigrationInterface, QueryRunner } from 'typeorm';

/** Transfers other sites began here, kept across restarts with their storage reservations. */
export class PeerTransfer1764009000000 implements MigrationInterface {
  name = 'PeerTransfer1764009000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE "peer_transfer" (
      "id" uuid NOT NULL,
      "groupId" uuid NOT NULL,
      "reservationId" uuid,
      "written" double precision NOT NULL DEFAULT 0,
      "lastSeenAt" timestamptz NOT NULL,
      "createdAt" timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT "PK_peer_transfer" PRIMARY KEY ("id")
    )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "peer_transfer"`);
  }
}
