import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Indexes only the rows their queries look for, so a placement writes fewer index entries: the
 * requests by status only while PENDING (the approval lists and decisions ask for nothing else by
 * status), the allocations by environment and replica only when they hold one (implicit
 * allocations; an equality on the column implies it is not null, so every lookup still uses them),
 * and the allocations by lease end only while ACTIVE with a lease (the lease sweep's lookup; no
 * other query filters on status without a group, host or id of its own).
 * Resource rows keep half of each page free, as host rows do: a claim's write (`used` and
 * `generation`, no indexed column) then stays on its page, without new index entries (a HOT update).
 */
export class PlacementWriteCosts1764009100000 implements MigrationInterface {
  name = 'PlacementWriteCosts1764009100000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "public"."IDX_a832ff7df83e84408dd0f2e086"`);
    await q.query(`DROP INDEX "public"."IDX_d3f2249bec79c86aec82adb88e"`);
    await q.query(`DROP INDEX "public"."IDX_dbd817ed4b2714c348b8afcbe8"`);
    await q.query(`CREATE INDEX "IDX_e39d372982e445535374277440" ON "allocation_request" ("status") WHERE "status" = 'PENDING'`);
    await q.query(`CREATE INDEX "IDX_3a9d349147fe53556010fe1e92" ON "allocation" ("replicaId") WHERE "replicaId" IS NOT NULL`);
    await q.query(`CREATE INDEX "IDX_f89de2ff87b9a3b218f4503a06" ON "allocation" ("environmentId") WHERE "environmentId" IS NOT NULL`);
    await q.query(`DROP INDEX "public"."IDX_59ac4137b60d792ff41c41cd31"`);
    await q.query(`CREATE INDEX "IDX_a7f2ce823034a1e09e4280b2b0" ON "allocation" ("expiresAt") WHERE "status" = 'ACTIVE' AND "expiresAt" IS NOT NULL`);
    await q.query(`ALTER TABLE "resource" SET (fillfactor = 50)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "resource" RESET (fillfactor)`);
    await q.query(`DROP INDEX "public"."IDX_a7f2ce823034a1e09e4280b2b0"`);
    await q.query(`CREATE INDEX "IDX_59ac4137b60d792ff41c41cd31" ON "allocation" ("status", "expiresAt")`);
    await q.query(`DROP INDEX "public"."IDX_f89de2ff87b9a3b218f4503a06"`);
    await q.query(`DROP INDEX "public"."IDX_3a9d349147fe53556010fe1e92"`);
    await q.query(`DROP INDEX "public"."IDX_e39d372982e445535374277440"`);
    await q.query(`CREATE INDEX "IDX_dbd817ed4b2714c348b8afcbe8" ON "allocation" ("replicaId")`);
    await q.query(`CREATE INDEX "IDX_d3f2249bec79c86aec82adb88e" ON "allocation" ("environmentId")`);
    await q.query(`CREATE INDEX "IDX_a832ff7df83e84408dd0f2e086" ON "allocation_request" ("status")`);
  }
}
