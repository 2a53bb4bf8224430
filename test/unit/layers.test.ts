import type { LayerEntity } from '../../gateway/persistence/entities';
import { checkRequirements, effectiveProperties } from '../../gateway/services/layer-service';

let n = 0;
function layer(kind: string, properties: LayerEntity['properties'], requirements: LayerEntity['requirements'] = []): LayerEntity {
  n += 1;
  return { id: `l${n}`, kind, name: kind.toLowerCase(), groupId: 'g', parentId: null, properties, requirements, createdAt: new Date() };
}
const values = (stack: LayerEntity[]) => Object.fromEntries(effectiveProperties(stack).map((p) => [p.key, p.value]));

describe('layer property inheritance', () => {
  const machine = () => layer('MACHINE', [{ key: 'arch', value: 'x86_64', locked: true }, { key: 'site', value: 'north', locked: true }, { key: 'diskEncryption', value: false }]);

  test('nearest layer wins', () => {
    const os = layer('OS', [{ key: 'diskEncryption', value: true }, { key: 'os', value: 'debian' }]);
    expect(values([os, machine()])).toEqual({ arch: 'x86_64', site: 'north', diskEncryption: true, os: 'debian' });
  });

  test('a locked property of a lower layer cannot be overridden', () => {
    const zone = layer('ZONE', [{ key: 'arch', value: 'arm64' }]);
    const props = effectiveProperties([zone, machine()]);
    expect(props.find((p) => p.key === 'arch')).toMatchObject({ value: 'x86_64', locked: true });
  });

  test('virtual layer equivalence: a collapsed stack and an expanded one give the same effective properties', () => {
    const expanded = [
      layer('SERVICE', [{ key: 'service', value: 'email' }]),
      layer('ZONE', [{ key: 'kernelMode', value: false }, { key: 'isolation', value: 'container' }]),
      layer('OS', [{ key: 'os', value: 'debian' }, { key: 'diskEncryption', value: true }]),
      machine(),
    ];
    const collapsed = [
      layer('SERVICE', [{ key: 'os', value: 'debian' }, { key: 'diskEncryption', value: true }, { key: 'kernelMode', value: false }, { key: 'isolation', value: 'container' }, { key: 'service', value: 'email' }]),
      machine(),
    ];
    expect(values(collapsed)).toEqual(values(expanded));
  });

  test('requirements are checked with the reason for each unmet one', () => {
    const props = effectiveProperties([layer('OS', [{ key: 'diskEncryption', value: false }, { key: 'ramGiB', value: 4 }]), machine()]);
    const check = checkRequirements(
      [
        { key: 'diskEncryption', op: 'EQ', values: [true] },
        { key: 'arch', op: 'IN', values: ['x86_64', 'arm64'] },
        { key: 'ramGiB', op: 'GTE', values: [8] },
        { key: 'backedUp', op: 'EXISTS', values: [] },
        { key: 'site', op: 'NEQ', values: ['south'] },
      ],
      props,
    );
    expect(check.satisfied).toBe(false);
    expect(check.unmet.map((u) => [u.requirement.key, u.reason])).toEqual([
      ['diskEncryption', 'diskEncryption is false, needs true'],
      ['ramGiB', 'ramGiB is 4, needs ≥ 8'],
      ['backedUp', 'backedUp is not set below this layer'],
    ]);
  });
});
