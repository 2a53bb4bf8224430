import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A claim is keyed by its allocation and resource (an allocation claims a resource once: one want
 * per type, one resource per host and type) instead of an id of its own that nothing looked up:
 * the key's index also serves the lookups by allocation, so a placement writes two index entries
 * fewer per claim (the id's, the allocation's) and no id. Claims an allocation held twice on one
 * resource (possible only before resources were unique per host and type) are merged first, their
 * amounts added.
 */
export class ClaimKey1764010900000 implements MigrationInterface {
  name = 'ClaimKey1764010900000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      UPDATE "allocation_claim" k SET "amount" = d."amount"
        FROM (SELECT min("id"::text)::uuid AS "keeper", sum("amount") AS "amount" FROM "allocation_claim" GROUP BY "allocationId", "resourceId" HAVING count(*) > 1) d
       WHERE k."id" = d."keeper"`);
    await q.query(`
      DELETE FROM "allocation_claim" c
       USING (SELECT "allocationId", "resourceId", min("id"::text)::uuid AS "keeper" FROM "allocation_claim" GROUP BY 1, 2 HAVING count(*) > 1) d
       WHERE c."allocationId" = d."allocationId" AND c."resourceId" = d."resourceId" AND c."id" <> d."keeper"`);
    await q.query(`ALTER TABLE "allocation_claim" DROP CONSTRAINT "PK_0933e8574556a26dd3ccd49894f"`);
    await q.query(`DROP INDEX "public"."IDX_b91720ad027161645ad7e85a4c"`);
    await q.query(`ALTER TABLE "allocation_claim" DROP COLUMN "id"`);
    await q.query(`ALTER TABLE "allocation_claim" ADD CONSTRAINT "PK_1ae761eb9715dbe18e5a41d4e68" PRIMARY KEY ("allocationId", "resourceId")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "allocation_claim" DROP CONSTRAINT "PK_1ae761eb9715dbe18e5a41d4e68"`);
    await q.query(`ALTER TABLE "allocation_claim" ADD "id" uuid NOT NULL DEFAULT gen_random_uuid()`);
    await q.query(`ALTER TABLE "allocation_claim" ADD CONSTRAINT "PK_0933e8574556a26dd3ccd49894f" PRIMARY KEY ("id")`);
    await q.query(`CREATE INDEX "IDX_b91720ad027161645ad7e85a4c" ON "allocation_claim" ("allocationId") `);
  }
}
