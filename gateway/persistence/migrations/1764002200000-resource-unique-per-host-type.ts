import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * One resource per host and type, enforced by a unique index, so that facts reported concurrently
 * (an agent's push and the gateway's own pull) can never create a type twice. Duplicates made
 * before are merged first into one keeper per (host, type) — the admin's (ADMIN) over one from
 * facts, then the most used, then the oldest: the others' claims move to it, their use is added
 * to its own, and they are removed.
 */
export class ResourceUniquePerHostType1764002200000 implements MigrationInterface {
  name = 'ResourceUniquePerHostType1764002200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TEMPORARY TABLE "resource_duplicate" AS
      SELECT r."id", ranked."keeper"
        FROM "resource" r
        JOIN (SELECT "id", first_value("id") OVER (PARTITION BY "hostId", "type" ORDER BY ("source" = 'ADMIN') DESC, "used" DESC, "createdAt" ASC, "id" ASC) AS "keeper"
                FROM "resource") ranked ON ranked."id" = r."id"
       WHERE ranked."keeper" <> r."id"`);
    await q.query(`UPDATE "allocation_claim" c SET "resourceId" = d."keeper" FROM "resource_duplicate" d WHERE c."resourceId" = d."id"`);
    await q.query(`
      UPDATE "resource" k SET "used" = k."used" + moved."used", "generation" = k."generation" + 1
        FROM (SELECT d."keeper", sum(r."used") AS "used" FROM "resource_duplicate" d JOIN "resource" r ON r."id" = d."id" GROUP BY d."keeper") moved
       WHERE k."id" = moved."keeper"`);
    await q.query(`DELETE FROM "resource" r USING "resource_duplicate" d WHERE r."id" = d."id"`);
    await q.query(`DROP TABLE "resource_duplicate"`);
    await q.query(`DROP INDEX "public"."IDX_48a24433c0e7ff0778b8d595be"`);
    await q.query(`CREATE UNIQUE INDEX "IDX_48a24433c0e7ff0778b8d595be" ON "resource" ("hostId", "type") `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "public"."IDX_48a24433c0e7ff0778b8d595be"`);
    await q.query(`CREATE INDEX "IDX_48a24433c0e7ff0778b8d595be" ON "resource" ("hostId", "type") `);
  }
}
