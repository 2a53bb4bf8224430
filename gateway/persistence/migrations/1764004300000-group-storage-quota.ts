import { MigrationInterface, QueryRunner } from 'typeorm';

/** A group's own storage quota (null: the installation default), and the bytes transfers in progress hold against it. */
export class GroupStorageQuota1764004300000 implements MigrationInterface {
  name = 'GroupStorageQuota1764004300000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "group" ADD "storageQuotaBytes" double precision`);
    await q.query(`CREATE TABLE "storage_reservation" (
      "id" uuid NOT NULL DEFAULT gen_random_uuid(),
      "groupId" uuid NOT NULL,
      "bytes" double precision NOT NULL,
      "purpose" varchar(200) NOT NULL,
      "holder" varchar(64),
      "createdAt" timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT "PK_storage_reservation" PRIMARY KEY ("id")
    )`);
    await q.query(`CREATE INDEX "IDX_storage_reservation_group" ON "storage_reservation" ("groupId")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "storage_reservation"`);
    await q.query(`ALTER TABLE "group" DROP COLUMN "storageQuotaBytes"`);
  }
}
