import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A host's technologies come from its agent's probe: what the probe found usable and the site
 * admin's narrowing. `drivers` stays the effective list placement reads; existing hosts keep their
 * declared list as the narrowing, applied once their agent reports.
 */
export class HostProbedDrivers1764001800000 implements MigrationInterface {
  name = 'HostProbedDrivers1764001800000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "host" ADD "probedDrivers" jsonb`);
    await q.query(`ALTER TABLE "host" ADD "allowedDrivers" jsonb`);
    // A declared list narrows what the probe finds; none declared (empty) leaves it all.
    await q.query(`UPDATE "host" SET "allowedDrivers" = drivers WHERE drivers <> '[]'::jsonb`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "host" DROP COLUMN "allowedDrivers"`);
    await q.query(`ALTER TABLE "host" DROP COLUMN "probedDrivers"`);
  }
}
