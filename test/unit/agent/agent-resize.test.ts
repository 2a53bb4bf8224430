import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import pino from 'pino';
import { createRootfsTar, FakeDriver } from '../../../drivers/fake';
import { DriverRegistry } from '../../../drivers/registry';
import { InProcessAgent } from '../../../gateway/agent/in-process-agent';
import { throughLoopback } from '../../../gateway/agent/loopback-channel';

/** `resizeEnvironment` through the loopback (plain data both ways): the driver's `resize`, or UNSUPPORTED_OPERATION without it. */
describe('the agent call resizeEnvironment', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rsp-agent-resize-'));
  const fake = new FakeDriver();
  const fixed = new FakeDriver({ name: 'fixed', operations: ['importImage'] });
  const registry = new DriverRegistry();
  registry.register(fake);
  registry.register(fixed);
  const client = throughLoopback(new InProcessAgent(registry, dir, pino({ level: 'silent' }), 'local'));

  afterAll(() => rm(dir, { recursive: true, force: true }));

  test('changes the limits given of a running environment, the others stay', async () => {
    const image = await fake.importImage(Readable.from([createRootfsTar({ '/etc/hostname': 'x' })]), { name: 'base', format: 'rootfs-tar' });
    await fake.create({ id: 'env-1', image: { ref: image.ref }, limits: { cpuWeight: 100, memoryBytes: 64 * 2 ** 20 }, iface: { hostname: 'env-1' } });
    await fake.start('env-1');
    await client.resizeEnvironment({ driver: 'fake', environmentId: 'env-1', limits: { cpuWeight: 10 } });
    const info = await client.inspectEnvironment({ driver: 'fake', environmentId: 'env-1' });
    expect(info).toMatchObject({ state: 'running', limits: { cpuWeight: 10, memoryBytes: 64 * 2 ** 20 } });
  });

  test('a driver without resize, an unknown environment and missing limits are refused with their categories', async () => {
    await expect(client.resizeEnvironment({ driver: 'fixed', environmentId: 'env-1', limits: { cpuWeight: 10 } })).rejects.toMatchObject({ category: 'UNSUPPORTED_OPERATION' });
    await expect(client.resizeEnvironment({ driver: 'fake', environmentId: 'nope', limits: { cpuWeight: 10 } })).rejects.toMatchObject({ category: 'NOT_FOUND' });
    await expect(client.resizeEnvironment({ driver: 'fake', environmentId: 'env-1' } as never)).rejects.toMatchObject({ category: 'BAD_USER_INPUT' });
  });
});
