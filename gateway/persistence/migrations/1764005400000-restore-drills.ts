import { MigrationInterface, QueryRunner } from 'typeorm';

/** Replication policies may drill restores on a schedule, and record the last drill's result. */
export class RestoreDrills1764005400000 implements MigrationInterface {
  name = 'RestoreDrills1764005400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "replication_policy" ADD "drillSchedule" varchar(200)`);
    await q.query(`ALTER TABLE "replication_policy" ADD "nextDrillAt" timestamptz`);
    await q.query(`ALTER TABLE "replication_policy" ADD "lastDrill" jsonb`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const column of ['lastDrill', 'nextDrillAt', 'drillSchedule']) await q.query(`ALTER TABLE "replication_policy" DROP COLUMN "${column}"`);
  }
}
