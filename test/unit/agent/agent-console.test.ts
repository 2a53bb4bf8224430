import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import pino from 'pino';
import { createRootfsTar, FakeDriver } from '../../../drivers/fake';
import { DriverRegistry } from '../../../drivers/registry';
import { InProcessAgent } from '../../../gateway/agent/in-process-agent';

/**
 * The in-process agent's consoles and interactive exec: the driver's `console` when it has one;
 * a driver with a console but no `interactiveExec` (libvirt's VMs) refuses interactive exec naming
 * the console; one with neither refuses both, a console saying that its environments have none
 * (and, when the driver runs commands, to use rsp env exec instead).
 */
describe('the in-process agent: console and interactive exec', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rsp-agent-console-'));
  const vm = new FakeDriver({ name: 'vm', operations: ['importImage', 'console'] });
  const bare = new FakeDriver({ name: 'bare', operations: ['importImage'] });
  const vserver = new FakeDriver({ name: 'vs', technology: 'vserver', operations: ['importImage', 'exec'] });
  const registry = new DriverRegistry();
  registry.register(vm);
  registry.register(bare);
  registry.register(vserver);
  const agent = new InProcessAgent(registry, dir, pino({ level: 'silent' }), 'local');

  afterAll(() => rm(dir, { recursive: true, force: true }));

  test('attaches to the console; interactive exec is refused with the reason and the way round it', async () => {
    for (const d of [vm, bare]) {
      const image = await d.importImage(Readable.from([createRootfsTar({ '/etc/hostname': 'x' })]), { name: 'base', format: 'rootfs-tar' });
      await d.create({ id: 'env-1', image: { ref: image.ref }, iface: { hostname: 'env-1' } });
      await d.start('env-1');
    }
    const p = await agent.console({ driver: 'vm', environmentId: 'env-1' });
    let out = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
    p.stdin.write('exit\r');
    expect(await p.exit).toBe(0);
    expect(out).toContain('exit');
    await expect(agent.interactiveExec({ driver: 'vm', environmentId: 'env-1', command: ['sh'] })).rejects.toMatchObject({ category: 'UNSUPPORTED_OPERATION', message: expect.stringContaining('rsp env console') as string });
    await expect(agent.console({ driver: 'bare', environmentId: 'env-1' })).rejects.toMatchObject({ category: 'UNSUPPORTED_OPERATION', message: 'driver bare does not support console: its environments have no console RSP can attach to' });
    await expect(agent.interactiveExec({ driver: 'bare', environmentId: 'env-1', command: ['sh'] })).rejects.toMatchObject({ category: 'UNSUPPORTED_OPERATION' });
  });

  test('a driver without a console (vserver) refuses one, naming rsp env exec when it runs commands', async () => {
    await expect(agent.console({ driver: 'vs', environmentId: 'env-1' })).rejects.toMatchObject({ category: 'UNSUPPORTED_OPERATION', message: 'driver vs does not support console: its environments have no console RSP can attach to (run commands with rsp env exec instead)' });
  });
});
