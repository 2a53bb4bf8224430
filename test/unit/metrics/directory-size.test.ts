import { mkdtempSync } from 'node:fs';
import { link, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { directoryBytes } from '../../../gateway/agent/directory-size';
import { InProcessAgent } from '../../../gateway/agent/in-process-agent';
import { DriverRegistry } from '../../../drivers/registry';

describe('disk used by volumes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rsp-du-'));
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test('directoryBytes counts allocated blocks like du, hard links once, symlinks not followed, a missing directory as 0', async () => {
    const root = join(dir, 'tree');
    await mkdir(join(root, 'sub'), { recursive: true });
    await writeFile(join(root, 'a'), Buffer.alloc(1024 * 1024, 1));
    await writeFile(join(root, 'sub', 'b'), Buffer.alloc(256 * 1024, 2));
    const before = await directoryBytes(root);
    expect(before).toBeGreaterThanOrEqual(1280 * 1024);
    await link(join(root, 'a'), join(root, 'sub', 'a-again'));
    await symlink('/usr', join(root, 'usr'));
    const after = await directoryBytes(root);
    expect(after - before).toBeLessThan(64 * 1024);
    expect(await directoryBytes(join(dir, 'nothing-here'))).toBe(0);
  });

  test("the in-process agent reports the bytes of an environment's volume directories", async () => {
    const agent = new InProcessAgent(new DriverRegistry(), join(dir, 'data'), pino({ level: 'silent' }));
    expect(await agent.volumesBytes({ environmentIds: ['env-1'] })).toEqual({ 'env-1': 0 });
    const [volume] = await agent.prepareVolumes('env-1', [{ name: 'data', kind: 'data', mountPath: '/data', readOnly: false }]);
    await writeFile(join(volume!.hostPath, 'blob'), Buffer.alloc(2 * 1024 * 1024, 3));
    const [other] = await agent.prepareVolumes('env-2', [{ name: 'data', kind: 'data', mountPath: '/data', readOnly: false }]);
    await writeFile(join(other!.hostPath, 'blob'), Buffer.alloc(64 * 1024, 3));
    const both = await agent.volumesBytes({ environmentIds: ['env-1', 'env-2', 'env-3'] });
    expect(both['env-1']).toBeGreaterThanOrEqual(2 * 1024 * 1024);
    expect(both['env-2']).toBeGreaterThanOrEqual(64 * 1024);
    expect(both['env-2']).toBeLessThan(2 * 1024 * 1024);
    expect(both['env-3']).toBe(0);
    await agent.removeVolumes({ environmentId: 'env-1' });
    expect(await agent.volumesBytes({ environmentIds: ['env-1'] })).toEqual({ 'env-1': 0 });
  });

  test('an id that would leave the volumes directory is refused', async () => {
    const agent = new InProcessAgent(new DriverRegistry(), join(dir, 'data'), pino({ level: 'silent' }));
    await expect(agent.volumesBytes({ environmentIds: ['../..'] })).rejects.toMatchObject({ category: 'BAD_USER_INPUT' });
    await expect(agent.removeVolumes({ environmentId: '../data' })).rejects.toMatchObject({ category: 'BAD_USER_INPUT' });
  });
});
