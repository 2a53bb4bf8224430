import { MigrationInterface, QueryRunner } from 'typeorm';

/** Offers and needs become exchangeable: what is left of each, whether it is still open, and the technologies an offer is for. */
export class OfferNeedExchange1764003200000 implements MigrationInterface {
  name = 'OfferNeedExchange1764003200000';

  async up(q: QueryRunner): Promise<void> {
    for (const table of ['offer', 'need']) {
      await q.query(`ALTER TABLE "${table}" ADD "remaining" double precision`);
      await q.query(`UPDATE "${table}" SET "remaining" = "amount"`);
      await q.query(`ALTER TABLE "${table}" ALTER COLUMN "remaining" SET NOT NULL`);
      await q.query(`ALTER TABLE "${table}" ADD "status" varchar(10) NOT NULL DEFAULT 'OPEN'`);
    }
    await q.query(`ALTER TABLE "offer" ADD "technologies" jsonb NOT NULL DEFAULT '[]'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "offer" DROP COLUMN "technologies"`);
    for (const table of ['need', 'offer']) {
      await q.query(`ALTER TABLE "${table}" DROP COLUMN "status"`);
      await q.query(`ALTER TABLE "${table}" DROP COLUMN "remaining"`);
    }
  }
}
