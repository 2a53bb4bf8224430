import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Host facts from the agent: the facts it last reported on the host, whether the host's inventory
 * is filled from them (no for every existing host), and which resources those facts describe
 * (FACTS, kept up to date) as opposed to those a site admin typed (ADMIN, every existing one).
 */
export class HostFacts1764001900000 implements MigrationInterface {
  name = 'HostFacts1764001900000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "host" ADD "facts" jsonb`);
    await q.query(`ALTER TABLE "host" ADD "inventoryFromFacts" boolean NOT NULL DEFAULT false`);
    await q.query(`ALTER TABLE "resource" ADD "source" character varying(10) NOT NULL DEFAULT 'ADMIN'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "resource" DROP COLUMN "source"`);
    await q.query(`ALTER TABLE "host" DROP COLUMN "inventoryFromFacts"`);
    await q.query(`ALTER TABLE "host" DROP COLUMN "facts"`);
  }
}
