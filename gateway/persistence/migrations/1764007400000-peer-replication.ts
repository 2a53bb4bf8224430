import { MigrationInterface, QueryRunner } from 'typeorm';

/** Replication to another site's store: a policy names the peer site (its URL and the token it issued), a replica where it went there. */
export class PeerReplication1764007400000 implements MigrationInterface {
  name = 'PeerReplication1764007400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "replication_policy" ADD "peerName" character varying(63), ADD "peerUrl" text, ADD "peerToken" text`);
    await q.query(`ALTER TABLE "replica" ADD "peerSite" character varying(63), ADD "peerReplicaId" uuid`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "replica" DROP COLUMN "peerReplicaId", DROP COLUMN "peerSite"`);
    await q.query(`ALTER TABLE "replication_policy" DROP COLUMN "peerToken", DROP COLUMN "peerUrl", DROP COLUMN "peerName"`);
  }
}
