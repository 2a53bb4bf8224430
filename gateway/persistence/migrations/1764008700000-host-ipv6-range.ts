import { MigrationInterface, QueryRunner } from 'typeorm';

/** A host's IPv6 range (a /64; null: its environments get no IPv6 address). */
export class HostIpv6Range1764008700000 implements MigrationInterface {
  name = 'HostIpv6Range1764008700000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "host" ADD "ipv6Range" character varying(43)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "host" DROP COLUMN "ipv6Range"`);
  }
}
