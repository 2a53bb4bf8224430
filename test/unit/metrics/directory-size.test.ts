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
    expect(await agent.volumeBytes({ environmentId: 'env-1' })).toBe(0);
    const [volume] = await agent.prepareVolumes('env-1', [{ name: 'data', kind: 'data', mountPath: '/data', readOnly: false }]);
    await writeFile(join(volume!.hostPath, 'blob'), Buffer.alloc(2 * 1024 * 1024, 3));
    expect(await agent.volumeBytes({ environmentId: 'env-1' })).toBeGreaterThanOrEqual(2 * 1024 * 1024);
    await agent.removeVolumes({ environmentId: 'env-1' });
    expect(await agent.volumeBytes({ environmentId: 'env-1' })).toBe(0);
  });
});
