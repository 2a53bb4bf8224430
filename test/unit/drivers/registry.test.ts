import type { Driver } from '../../../drivers/contract';
import { FakeDriver } from '../../../drivers/fake';
import { DriverRegistry } from '../../../drivers/registry';

/** A driver whose probe is replaced, for the probe reports. */
function withProbe(name: string, probe: Driver['probe']): Driver {
  const driver = new FakeDriver({ name, technology: 'test' });
  return Object.assign(Object.create(driver) as Driver, { probe });
}

describe('DriverRegistry', () => {
  test('drivers are registered by name and found again; all() keeps registration order', () => {
    const registry = new DriverRegistry();
    const a = new FakeDriver({ name: 'a' });
    const b = new FakeDriver({ name: 'b' });
    registry.register(a);
    registry.register(b);
    expect(registry.get('b')).toBe(b);
    expect(registry.has('a')).toBe(true);
    expect(registry.all()).toEqual([a, b]);
  });

  test('a duplicate name is CONFLICT; a malformed name is BAD_USER_INPUT', () => {
    const registry = new DriverRegistry();
    registry.register(new FakeDriver({ name: 'fake' }));
    expect(() => registry.register(new FakeDriver({ name: 'fake' }))).toThrow(expect.objectContaining({ category: 'CONFLICT', message: 'A driver named fake is already registered' }));
    expect(() => registry.register(new FakeDriver({ name: 'Bad Name' }))).toThrow(expect.objectContaining({ category: 'BAD_USER_INPUT' }));
  });

  test('an unknown name is NOT_FOUND, naming the registered drivers', () => {
    const registry = new DriverRegistry();
    registry.register(new FakeDriver());
    expect(() => registry.get('docker')).toThrow(expect.objectContaining({ category: 'NOT_FOUND', details: expect.objectContaining({ registered: ['fake'] }) }));
  });

  test('probeAll reports each driver; a throwing or slow probe is unavailable with why, never a throw', async () => {
    const registry = new DriverRegistry();
    registry.register(new FakeDriver({ name: 'ok', host: { cpus: 2 } }));
    registry.register(new FakeDriver({ name: 'missing', unavailable: 'no engine socket' }));
    registry.register(withProbe('throws', async () => {
      throw new Error('engine exploded');
    }));
    registry.register(withProbe('hangs', () => new Promise(() => undefined)));
    const reports = await registry.probeAll({ timeoutMs: 100 });
    expect(reports.map((r) => [r.name, r.available])).toEqual([
      ['ok', true],
      ['missing', false],
      ['throws', false],
      ['hangs', false],
    ]);
    expect(reports[0]).toMatchObject({ technology: 'fake', version: '1.0.0', host: { cpus: 2 }, capabilities: { operations: expect.arrayContaining(['exec']), limits: expect.arrayContaining(['pids']) } });
    expect(reports[1]!.reason).toBe('no engine socket');
    expect(reports[2]!.reason).toBe('engine exploded');
    expect(reports[3]!.reason).toMatch(/probe of driver hangs did not finish within 100 ms/);
  });

  test('a probe report keeps the image formats a driver declares (what uploads are checked against), and none when it declares none', async () => {
    const registry = new DriverRegistry();
    const disk = new FakeDriver({ name: 'disk', technology: 'disk' });
    registry.register(Object.assign(Object.create(disk) as Driver, { capabilities: () => ({ ...disk.capabilities(), imageFormats: ['qcow2', 'rootfs-tar'] }) }));
    registry.register(new FakeDriver({ name: 'plain' }));
    const reports = await registry.probeAll();
    expect(reports.map((r) => [r.name, r.capabilities.imageFormats])).toEqual([
      ['disk', ['qcow2', 'rootfs-tar']],
      ['plain', undefined],
    ]);
  });
});
