import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The token that made each token (`api_token.madeByTokenId`): revoking a token revokes every token
 * made through it, transitively. Tokens made before are nobody's (null).
 */
export class TokenMaker1764011370000 implements MigrationInterface {
  name = 'TokenMaker1764011370000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "api_token" ADD "madeByTokenId" uuid`);
    await q.query(`CREATE INDEX "IDX_api_token_made_by" ON "api_token" ("madeByTokenId")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "IDX_api_token_made_by"`);
    await q.query(`ALTER TABLE "api_token" DROP COLUMN "madeByTokenId"`);
  }
}
