import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The secret the groups' replica keys are derived from, kept with the installation so that every
 * gateway replica on the database derives the same keys (it was a file in each gateway's data
 * directory; the first gateway to need it after this migration adopts that file's secret).
 */
export class ReplicaKeySecret1764004100000 implements MigrationInterface {
  name = 'ReplicaKeySecret1764004100000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "installation" ADD "replicaKeySecret" bytea`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "installation" DROP COLUMN "replicaKeySecret"`);
  }
}
