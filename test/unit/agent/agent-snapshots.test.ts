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

/** The snapshot calls through the loopback (plain data both ways, as to a remote agent): the driver's snapshot operations, or UNSUPPORTED_OPERATION without them. */
describe('the agent calls of snapshots', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rsp-agent-snapshots-'));
  const fake = new FakeDriver();
  const plain = new FakeDriver({ name: 'plain', operations: ['importImage', 'exec'] });
  const registry = new DriverRegistry();
  registry.register(fake);
  registry.register(plain);
  const client = throughLoopback(new InProcessAgent(registry, dir, pino({ level: 'silent' }), 'local'));
  const target = { driver: 'fake', environmentId: 'env-1' };

  beforeAll(async () => {
    for (const driver of [fake, plain]) {
      const image = await driver.importImage(Readable.from([createRootfsTar({ '/etc/hostname': 'x' })]), { name: 'base', format: 'rootfs-tar' });
      await driver.create({ id: 'env-1', image: { ref: image.ref }, iface: { hostname: 'env-1' } });
      await driver.start('env-1');
    }
  });

  afterAll(() => rm(dir, { recursive: true, force: true }));

  test('create, list, roll back (a file written since is gone) and delete', async () => {
    const taken = await client.snapshotEnvironment({ ...target, name: 'before' });
    expect(taken).toEqual({ name: 'before', createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    expect(await client.environmentSnapshots(target)).toEqual([taken]);
    expect((await client.exec({ ...target, command: ['tee', '/after'], stdin: 'x' })).exitCode).toBe(0);
    await client.rollbackSnapshot({ ...target, name: 'before' });
    expect((await client.exec({ ...target, command: ['cat', '/after'] })).exitCode).not.toBe(0);
    await expect(client.rollbackSnapshot({ ...target, name: 'never' })).rejects.toMatchObject({ category: 'NOT_FOUND' });
    await expect(client.snapshotEnvironment({ ...target, name: 'before' })).rejects.toMatchObject({ category: 'CONFLICT' });
    await client.deleteSnapshot({ ...target, name: 'before' });
    expect(await client.environmentSnapshots(target)).toEqual([]);
  });

  test('a driver without snapshots refuses each call with UNSUPPORTED_OPERATION', async () => {
    const other = { driver: 'plain', environmentId: 'env-1' };
    await expect(client.snapshotEnvironment({ ...other, name: 'before' })).rejects.toMatchObject({ category: 'UNSUPPORTED_OPERATION' });
    await expect(client.environmentSnapshots(other)).rejects.toMatchObject({ category: 'UNSUPPORTED_OPERATION' });
    await expect(client.rollbackSnapshot({ ...other, name: 'before' })).rejects.toMatchObject({ category: 'UNSUPPORTED_OPERATION' });
    await expect(client.deleteSnapshot({ ...other, name: 'before' })).rejects.toMatchObject({ category: 'UNSUPPORTED_OPERATION' });
  });
});
