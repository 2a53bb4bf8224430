import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * One live environment per group and name, kept by the database (`UQ_environment_live_name`,
 * partial: a DESTROYED environment frees its name). The check the gateway made before inserting
 * could be passed by two concurrent creates on PostgreSQL, each seeing the other not yet
 * committed; live duplicates such a race left are renamed first — every one but the oldest gets
 * `-` and the first 8 characters of its id appended (its name cut to fit 63 characters), its ZONE
 * layer too.
 */
export class EnvironmentLiveName1764011380000 implements MigrationInterface {
  name = 'EnvironmentLiveName1764011380000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      WITH ranked AS (
        SELECT id, "layerId", name, row_number() OVER (PARTITION BY "groupId", name ORDER BY "createdAt", id) AS n
        FROM "environment" WHERE "status" <> 'DESTROYED'
      ), renamed AS (
        UPDATE "environment" e SET "name" = left(r.name, 54) || '-' || left(e.id::text, 8)
        FROM ranked r WHERE r.id = e.id AND r.n > 1
        RETURNING e.id, e."layerId", e."name"
      )
      UPDATE "layer" l SET "name" = renamed."name" FROM renamed WHERE l.id = renamed."layerId"`);
    await q.query(`CREATE UNIQUE INDEX "UQ_environment_live_name" ON "environment" ("groupId", "name") WHERE "status" <> 'DESTROYED'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "UQ_environment_live_name"`);
  }
}
