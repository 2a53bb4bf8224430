import { MigrationInterface, QueryRunner } from 'typeorm';

/** Replicas live in the target's store: where each one is kept, what moved there, and the host a SITE/GROUP policy chose. */
export class ReplicaStores1764000900000 implements MigrationInterface {
  name = 'ReplicaStores1764000900000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "replication_policy" ADD "storeHostId" uuid`);
    await q.query(`ALTER TABLE "replica" ADD "storeHostId" uuid`);
    await q.query(`ALTER TABLE "replica" ADD "stagingHostId" uuid`);
    await q.query(`ALTER TABLE "replica" ADD "movedBytes" double precision NOT NULL DEFAULT '0'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "replica" DROP COLUMN "movedBytes"`);
    await q.query(`ALTER TABLE "replica" DROP COLUMN "stagingHostId"`);
    await q.query(`ALTER TABLE "replica" DROP COLUMN "storeHostId"`);
    await q.query(`ALTER TABLE "replication_policy" DROP COLUMN "storeHostId"`);
  }
}
