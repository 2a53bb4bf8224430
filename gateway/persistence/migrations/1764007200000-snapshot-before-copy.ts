import { MigrationInterface, QueryRunner } from 'typeorm';

/** Replication policies may take a snapshot before each copy and export from it. */
export class SnapshotBeforeCopy1764007200000 implements MigrationInterface {
  name = 'SnapshotBeforeCopy1764007200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "replication_policy" ADD "snapshotBeforeCopy" boolean NOT NULL DEFAULT false`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "replication_policy" DROP COLUMN "snapshotBeforeCopy"`);
  }
}
