import { MigrationInterface, QueryRunner } from 'typeorm';

/** Replicas record what their run reused, wrote and repaired, and what the last verify job found; policies the counts of their last run. */
export class ReplicaVerification1764004600000 implements MigrationInterface {
  name = 'ReplicaVerification1764004600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "replica" ADD "verifyState" varchar(10)`);
    await q.query(`ALTER TABLE "replica" ADD "verifyProblems" jsonb NOT NULL DEFAULT '[]'`);
    await q.query(`ALTER TABLE "replica" ADD "reusedChunks" integer NOT NULL DEFAULT 0`);
    await q.query(`ALTER TABLE "replica" ADD "writtenChunks" integer NOT NULL DEFAULT 0`);
    await q.query(`ALTER TABLE "replica" ADD "repairedChunks" integer NOT NULL DEFAULT 0`);
    await q.query(`ALTER TABLE "replication_policy" ADD "lastChunkCounts" jsonb`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "replication_policy" DROP COLUMN "lastChunkCounts"`);
    for (const column of ['repairedChunks', 'writtenChunks', 'reusedChunks', 'verifyProblems', 'verifyState']) await q.query(`ALTER TABLE "replica" DROP COLUMN "${column}"`);
  }
}
