import type { LayerEntity } from '../../../gateway/persistence/entities';
import { ReplicationKind } from '../../../gateway/persistence/entities';
import { layerRuleViolation } from '../../../gateway/replication/layer-rule';
import { replicasBeyondKeep } from '../../../gateway/replication/retention';
import { nextRunAfter, retryDelayMs } from '../../../gateway/replication/retry-backoff';

function layer(id: string, kind: string, parentId: string | null): LayerEntity {
  return { id, kind, name: id, groupId: 'g', parentId, properties: [], requirements: [], createdAt: new Date() };
}

describe('seed 000: a layer replicates itself and the layers above it, never the layers below', () => {
  const machine = layer('machine', 'MACHINE', null);
  const zone = layer('zone', 'ZONE', 'machine');
  const service = layer('service', 'SERVICE', 'zone');
  const elsewhere = layer('elsewhere', 'ZONE', 'machine');
  const zoneChain = [zone, machine];
  const chain = (l: LayerEntity) => ({ machine: [machine], zone: zoneChain, service: [service, zone, machine], elsewhere: [elsewhere, machine] })[l.id as 'machine']!;

  test('EXTERNAL from the ZONE layer or the host beneath it is allowed', () => {
    expect(layerRuleViolation(ReplicationKind.EXTERNAL, zone, zoneChain, chain(zone))).toBeNull();
    expect(layerRuleViolation(ReplicationKind.EXTERNAL, machine, zoneChain, chain(machine))).toBeNull();
  });

  test('EXTERNAL from a SERVICE above the environment is refused: it would replicate a layer below it', () => {
    expect(layerRuleViolation(ReplicationKind.EXTERNAL, service, zoneChain, chain(service))).toMatch(/SERVICE layer "service" sits above the environment's ZONE layer "zone".*never the layers below/);
  });

  test('INTERNAL from the ZONE layer or a SERVICE in it is allowed; from the host beneath it is refused', () => {
    expect(layerRuleViolation(ReplicationKind.INTERNAL, zone, zoneChain, chain(zone))).toBeNull();
    expect(layerRuleViolation(ReplicationKind.INTERNAL, service, zoneChain, chain(service))).toBeNull();
    expect(layerRuleViolation(ReplicationKind.INTERNAL, machine, zoneChain, chain(machine))).toMatch(/MACHINE layer "machine" lies below the environment's ZONE layer "zone"; an INTERNAL replica is made from inside/);
  });

  test('a layer of another stack is refused', () => {
    expect(layerRuleViolation(ReplicationKind.EXTERNAL, elsewhere, zoneChain, chain(elsewhere))).toMatch(/not in the layer stack of the environment/);
  });
});

describe('retries back off exponentially', () => {
  const settings = { baseMs: 60_000, maxMs: 3_600_000 };

  test('base × 2^(failures−1), capped', () => {
    expect([1, 2, 3, 4, 7, 8, 50].map((n) => retryDelayMs(n, settings))).toEqual([60_000, 120_000, 240_000, 480_000, 3_600_000, 3_600_000, 3_600_000]);
    expect(retryDelayMs(0, settings)).toBe(0);
  });

  test('after a failure the sooner of the retry and the schedule; after a success the schedule', () => {
    const ended = new Date('2026-03-01T10:00:00Z');
    const scheduled = new Date('2026-03-01T11:00:00Z');
    expect(nextRunAfter(ended, 0, scheduled, settings)).toEqual(scheduled);
    expect(nextRunAfter(ended, 2, scheduled, settings)).toEqual(new Date('2026-03-01T10:02:00Z'));
    expect(nextRunAfter(ended, 9, scheduled, settings)).toEqual(scheduled);
  });
});

describe('pruning keeps the newest copies', () => {
  test('everything beyond keep, newest first order decides', () => {
    const r = (id: string, minute: number) => ({ id, createdAt: new Date(Date.UTC(2026, 2, 1, 10, minute)) });
    const replicas = [r('b', 2), r('d', 4), r('a', 1), r('c', 3)];
    expect(replicasBeyondKeep(replicas, 2).map((x) => x.id)).toEqual(['b', 'a']);
    expect(replicasBeyondKeep(replicas, 4)).toEqual([]);
    expect(replicasBeyondKeep(replicas, 0).map((x) => x.id)).toEqual(['d', 'c', 'b', 'a']);
  });
});
