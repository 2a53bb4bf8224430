import { randomUUID } from 'node:crypto';
import { ResourceUniquePerHostType1764002200000 } from '../../gateway/persistence/migrations/1764002200000-resource-unique-per-host-type';
import { useMigratedRunner } from '../helpers/migrated-runner';

/**
 * One resource per host and type: the migration merges the duplicates an older gateway could make
 * (facts racing facts) into one keeper — ADMIN first, then the most used, then the oldest — moving
 * their claims and use to it, and from then on a second row of a type is refused.
 */
describe('migration: one resource per host and type', () => {
  const migrated = useMigratedRunner();

  const resource = async (hostId: string, type: string, fields: { source: string; used: number; total: number; createdAt: string }) => {
    const id = randomUUID();
    await migrated.runner().query(`INSERT INTO "resource" ("id", "hostId", "type", "unit", "total", "used", "source", "createdAt", "generation") VALUES ($1, $2, $3, 'CORES', $4, $5, $6, $7, 1)`, [id, hostId, type, fields.total, fields.used, fields.source, fields.createdAt]);
    return id;
  };
  const claim = async (resourceId: string, hostId: string, amount: number) => {
    await migrated.runner().query(`INSERT INTO "allocation_claim" ("allocationId", "resourceId", "hostId", "groupId", "type", "amount", "guaranteed") VALUES ($1, $2, $3, $4, 'CPU', $5, true)`, [randomUUID(), resourceId, hostId, randomUUID(), amount]);
  };

  test('duplicates are merged into one keeper with their claims and use; another host and type are left alone; then a duplicate is refused', async () => {
    await new ResourceUniquePerHostType1764002200000().down(migrated.runner());
    const h1 = randomUUID();
    const h2 = randomUUID();
    const factsOld = await resource(h1, 'CPU', { source: 'FACTS', used: 1, total: 8, createdAt: '2026-01-01T00:00:00Z' });
    const admin = await resource(h1, 'CPU', { source: 'ADMIN', used: 2, total: 16, createdAt: '2026-02-01T00:00:00Z' });
    const factsNew = await resource(h1, 'CPU', { source: 'FACTS', used: 0, total: 8, createdAt: '2026-03-01T00:00:00Z' });
    await claim(factsOld, h1, 1);
    await claim(admin, h1, 2);
    const ramOld = await resource(h1, 'RAM', { source: 'FACTS', used: 0, total: 100, createdAt: '2026-01-01T00:00:00Z' });
    const ramUsed = await resource(h1, 'RAM', { source: 'FACTS', used: 5, total: 100, createdAt: '2026-02-01T00:00:00Z' });
    const other = await resource(h2, 'CPU', { source: 'FACTS', used: 0, total: 4, createdAt: '2026-01-01T00:00:00Z' });

    await new ResourceUniquePerHostType1764002200000().up(migrated.runner());

    const rows: Array<{ id: string; hostId: string; type: string; used: number; total: number }> = await migrated.runner().query(`SELECT "id", "hostId", "type", "used", "total" FROM "resource" WHERE "hostId" IN ($1, $2) ORDER BY "hostId" = $1 DESC, "type"`, [h1, h2]);
    expect(rows).toEqual([
      { id: admin, hostId: h1, type: 'CPU', used: 3, total: 16 },
      { id: ramUsed, hostId: h1, type: 'RAM', used: 5, total: 100 },
      { id: other, hostId: h2, type: 'CPU', used: 0, total: 4 },
    ]);
    const claims: Array<{ resourceId: string; amount: number }> = await migrated.runner().query(`SELECT "resourceId", "amount" FROM "allocation_claim" WHERE "hostId" = $1 ORDER BY "amount"`, [h1]);
    expect(claims).toEqual([
      { resourceId: admin, amount: 1 },
      { resourceId: admin, amount: 2 },
    ]);
    expect([factsOld, factsNew, ramOld].every((id) => !rows.some((r) => r.id === id))).toBe(true);
    await expect(resource(h1, 'CPU', { source: 'FACTS', used: 0, total: 8, createdAt: '2026-04-01T00:00:00Z' })).rejects.toThrow(/duplicate key|unique/i);
  });
});
