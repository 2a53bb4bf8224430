import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `rsp_lost_race(message)`: raises an error with that message. A placement commit made in one
 * statement calls it when a resource moved or a share no longer covers the usage, so that the
 * whole statement fails and writes nothing (plain SQL has no RAISE).
 */
export class PlacementLostRace1764000800000 implements MigrationInterface {
  name = 'PlacementLostRace1764000800000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE FUNCTION rsp_lost_race(message text) RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION USING ERRCODE = 'serialization_failure', MESSAGE = message;
END
$$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION rsp_lost_race(text)`);
  }
}
