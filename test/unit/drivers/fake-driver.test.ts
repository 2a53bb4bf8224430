import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { EnvironmentSpec } from '../../../drivers/contract';
import { createRootfsTar, FakeDriver, FakeNetwork, readRootfsTar } from '../../../drivers/fake';
import type { FakeCreateStep } from '../../../drivers/fake';
import { encodeArchive } from '../../../packages/sdk/src/fake/archive';

const rootfs = createRootfsTar({ 'etc/os-release': 'NAME=fake\n', 'usr/share/motd': 'hello\n' });
const dirs: string[] = [];

async function withImage(driver: FakeDriver) {
  const imported = await driver.importImage(Readable.from([rootfs]), { name: 'base', version: '1', format: 'rootfs-tar' });
  return { ref: imported.ref, digest: imported.digest };
}

async function dir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'rsp-fake-'));
  dirs.push(d);
  return d;
}

async function spec(driver: FakeDriver, id: string, extra: Partial<EnvironmentSpec> = {}): Promise<EnvironmentSpec> {
  return { id, image: await withImage(driver), iface: { hostname: `${id}.example`, config: { MODE: 'test' } }, ...extra };
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('FakeDriver images', () => {
  test('importImage computes the sha256 of the stream and exportImage gives the same bytes back', async () => {
    const driver = new FakeDriver();
    const imported = await driver.importImage(Readable.from([rootfs.subarray(0, 100), rootfs.subarray(100)]), { name: 'base', format: 'rootfs-tar' });
    expect(imported.digest).toBe(`sha256:${createHash('sha256').update(rootfs).digest('hex')}`);
    expect(imported.sizeBytes).toBe(rootfs.length);
    expect((await collect(await driver.exportImage(imported))).equals(rootfs)).toBe(true);
  });

  test('a stream that is not a tar archive is BAD_USER_INPUT', async () => {
    const driver = new FakeDriver();
    await expect(driver.importImage(Readable.from([Buffer.alloc(600, 7)]), { name: 'junk', format: 'rootfs-tar' })).rejects.toMatchObject({ category: 'BAD_USER_INPUT' });
  });

  test('the tar writer and reader agree', () => {
    expect([...readRootfsTar(rootfs).entries()].map(([p, d]) => [p, d.toString()])).toEqual([
      ['/etc/os-release', 'NAME=fake\n'],
      ['/usr/share/motd', 'hello\n'],
    ]);
  });

  test('creating from an unknown image is NOT_FOUND', async () => {
    const driver = new FakeDriver();
    await expect(driver.create({ id: 'x', image: { ref: 'nope' }, iface: { hostname: 'x' } })).rejects.toMatchObject({ category: 'NOT_FOUND' });
  });
});

describe('FakeDriver environments', () => {
  test('the image files and the standard interface files are inside; exec works over them', async () => {
    const driver = new FakeDriver();
    await driver.create(await spec(driver, 'web', { iface: { hostname: 'web.example', dns: ['10.0.0.53'], config: { MODE: 'test' } } }));
    await driver.start('web');
    const run = (argv: string[], stdin?: string) => driver.exec('web', argv, { stdin });
    expect((await run(['cat', '/etc/os-release'])).stdout).toBe('NAME=fake\n');
    expect((await run(['hostname'])).stdout).toBe('web.example\n');
    expect((await run(['cat', '/etc/hostname'])).stdout).toBe('web.example\n');
    expect((await run(['cat', '/etc/resolv.conf'])).stdout).toBe('nameserver 10.0.0.53\n');
    expect((await run(['cat', '/etc/rsp/config.env'])).stdout).toBe('MODE=test\n');
    expect((await run(['env'])).stdout).toContain('MODE=test\n');
    expect((await run(['echo', 'a', 'b'])).stdout).toBe('a b\n');
    expect((await run(['ls', '/etc'])).stdout.split('\n')).toEqual(expect.arrayContaining(['hostname', 'hosts', 'os-release', 'rsp']));
    expect(await run(['tee', '/tmp/x'], 'one\n')).toMatchObject({ exitCode: 0 });
    expect(await run(['tee', '-a', '/tmp/x'], 'two\n')).toMatchObject({ exitCode: 0 });
    expect((await run(['/bin/cat', '/tmp/x'])).stdout).toBe('one\ntwo\n');
    expect(await run(['rm', '/tmp/x'])).toMatchObject({ exitCode: 0 });
    expect(await run(['cat', '/tmp/x'])).toMatchObject({ exitCode: 1, stderr: 'cat: /tmp/x: No such file or directory\n' });
    expect(await run(['ls', '/nowhere'])).toMatchObject({ exitCode: 2 });
    expect(await run(['reboot'])).toMatchObject({ exitCode: 127, stderr: 'reboot: command not found\n' });
    expect(await driver.logs('web', { tail: 1 })).toMatch(/web\.example exec reboot\n$/);
  });

  test('exec in a stopped environment is CONFLICT', async () => {
    const driver = new FakeDriver();
    await driver.create(await spec(driver, 'idle'));
    await expect(driver.exec('idle', ['hostname'])).rejects.toMatchObject({ category: 'CONFLICT' });
  });

  test('volumes are bound to their host directories; a read-only one refuses writes', async () => {
    const driver = new FakeDriver();
    const data = await dir();
    const config = await dir();
    await driver.create(await spec(driver, 'db', {
      volumes: [
        { name: 'data', kind: 'data', hostPath: data, mountPath: '/var/lib/db' },
        { name: 'conf', kind: 'config', hostPath: config, mountPath: '/etc/db', readOnly: true },
      ],
    }));
    await driver.start('db');
    expect(await driver.exec('db', ['tee', '/var/lib/db/deep/file'], { stdin: 'rows' })).toMatchObject({ exitCode: 0 });
    expect(await readFile(join(data, 'deep', 'file'), 'utf8')).toBe('rows');
    expect(await driver.exec('db', ['tee', '/etc/db/x'], { stdin: 'no' })).toMatchObject({ exitCode: 1, stderr: 'tee: /etc/db/x: Read-only file system\n' });
    expect((await driver.exec('db', ['ls', '/var/lib'])).stdout).toBe('db\n');
  });

  test('a volume directory that does not exist is BAD_USER_INPUT', async () => {
    const driver = new FakeDriver();
    await expect(driver.create(await spec(driver, 'novol', { volumes: [{ name: 'data', kind: 'data', hostPath: '/nonexistent/rsp', mountPath: '/data' }] }))).rejects.toMatchObject({ category: 'BAD_USER_INPUT' });
    expect(driver.held()).toMatchObject({ environments: 0, reserved: 0, volumeAttachments: 0 });
  });

  test('environments get distinct addresses; a taken static address is CONFLICT; none mode has none', async () => {
    const driver = new FakeDriver();
    const a = await driver.create(await spec(driver, 'a'));
    const b = await driver.create(await spec(driver, 'b', { iface: { hostname: 'b', network: { mode: 'bridge', ipv4: '10.99.0.5/24' } } }));
    expect(a.addresses).toHaveLength(1);
    expect(b.addresses).toEqual(['10.99.0.5']);
    await expect(driver.create(await spec(driver, 'c', { iface: { hostname: 'c', network: { mode: 'bridge', ipv4: '10.99.0.5/24' } } }))).rejects.toMatchObject({ category: 'CONFLICT' });
    expect((await driver.create(await spec(driver, 'd', { iface: { hostname: 'd', network: { mode: 'none' } } }))).addresses).toEqual([]);
  });

  test('objects the engine has but RSP does not own are never listed, and their ids cannot be taken', async () => {
    const driver = new FakeDriver({ foreign: ['someone-else'] });
    expect(await driver.list()).toEqual([]);
    await expect(driver.inspect('someone-else')).rejects.toMatchObject({ category: 'NOT_FOUND' });
    await expect(driver.create(await spec(driver, 'someone-else'))).rejects.toMatchObject({ category: 'CONFLICT' });
  });
});

describe('FakeDriver limits', () => {
  test('limits over the host capacity are BAD_USER_INPUT naming the limit and the maximum', async () => {
    const driver = new FakeDriver({ capacity: { memoryBytes: 1024 ** 3, cpus: 2 } });
    await expect(driver.create(await spec(driver, 'big', { limits: { memoryBytes: 2 * 1024 ** 3 } }))).rejects.toMatchObject({
      category: 'BAD_USER_INPUT',
      message: expect.stringMatching(/memoryBytes .*at most 1073741824 bytes/),
    });
    await expect(driver.create(await spec(driver, 'cpu', { limits: { cpuQuota: 3 } }))).rejects.toMatchObject({ category: 'BAD_USER_INPUT' });
    await expect(driver.create(await spec(driver, 'neg', { limits: { pids: -1 } }))).rejects.toMatchObject({ category: 'BAD_USER_INPUT' });
    await expect(driver.create(await spec(driver, 'frac', { limits: { pids: 1.5 } }))).rejects.toMatchObject({ category: 'BAD_USER_INPUT' });
    await expect(driver.create(await spec(driver, 'weight', { limits: { cpuWeight: 20_000 } }))).rejects.toMatchObject({ category: 'BAD_USER_INPUT' });
    expect(driver.held().environments).toBe(0);
  });

  test('a limit not enforced is UNSUPPORTED_OPERATION', async () => {
    const driver = new FakeDriver({ limits: ['memoryBytes'] });
    await expect(driver.create(await spec(driver, 'x', { limits: { pids: 10 } }))).rejects.toMatchObject({ category: 'UNSUPPORTED_OPERATION' });
  });

  test('the disk limit is enforced on writes, and resize cannot go below what is used', async () => {
    const driver = new FakeDriver();
    await driver.create(await spec(driver, 'small', { limits: { diskBytes: 400 } }));
    await driver.start('small');
    expect(await driver.exec('small', ['tee', '/big'], { stdin: 'x'.repeat(500) })).toMatchObject({ exitCode: 1, stderr: 'tee: /big: No space left on device\n' });
    await expect(driver.resize('small', { diskBytes: 10 })).rejects.toMatchObject({ category: 'BAD_USER_INPUT' });
    await driver.resize('small', { diskBytes: 4096 });
    expect(await driver.exec('small', ['tee', '/big'], { stdin: 'x'.repeat(500) })).toMatchObject({ exitCode: 0 });
  });

  test('a pids limit of 1 leaves no room for exec', async () => {
    const driver = new FakeDriver();
    await driver.create(await spec(driver, 'p', { limits: { pids: 1 } }));
    await driver.start('p');
    expect(await driver.exec('p', ['hostname'])).toMatchObject({ exitCode: 126 });
  });

  test('a CPU quota and a bandwidth cap slow the counters down; memory stays under its limit', async () => {
    const driver = new FakeDriver();
    await driver.create(await spec(driver, 'free'));
    await driver.create(await spec(driver, 'capped', { limits: { cpuQuota: 0.001, networkBitsPerSecond: 800, memoryBytes: 1024 } }));
    await driver.start('free');
    await driver.start('capped');
    await new Promise((r) => setTimeout(r, 200));
    const free = await driver.stats('free');
    const capped = await driver.stats('capped');
    expect(capped.cpuSeconds).toBeLessThan(free.cpuSeconds);
    expect(capped.networkTxBytes).toBeLessThan(free.networkTxBytes);
    expect(capped.memoryBytes).toBeLessThanOrEqual(1024);
    expect(capped.memoryLimitBytes).toBe(1024);
    await driver.stop('free');
    const stopped = await driver.stats('free');
    await new Promise((r) => setTimeout(r, 30));
    expect((await driver.stats('free')).cpuSeconds).toBe(stopped.cpuSeconds);
    expect(stopped.cpuSeconds).toBeGreaterThanOrEqual(free.cpuSeconds);
  });
});

describe('FakeDriver fault injection', () => {
  test.each<FakeCreateStep>(['after-reserve', 'after-volume', 'after-network', 'after-filesystem'])('a create failing %s leaves nothing behind', async (step) => {
    const driver = new FakeDriver({ failOn: { create: step } });
    const volume = await dir();
    await expect(driver.create(await spec(driver, 'doomed', { volumes: [{ name: 'data', kind: 'data', hostPath: volume, mountPath: '/data' }] }))).rejects.toMatchObject({
      category: 'UNAVAILABLE',
      message: expect.stringContaining(step),
    });
    expect(driver.held()).toEqual({ environments: 0, reserved: 0, volumeAttachments: 0, images: 1 });
    await expect(driver.inspect('doomed')).rejects.toMatchObject({ category: 'NOT_FOUND' });
  });

  test('an import failing after it wrote volume files removes them', async () => {
    const source = new FakeDriver();
    const from = await dir();
    await source.create(await spec(source, 'src', { volumes: [{ name: 'data', kind: 'data', hostPath: from, mountPath: '/data' }] }));
    await source.start('src');
    await source.exec('src', ['tee', '/data/f'], { stdin: 'payload' });
    const archive = await source.exportEnvironment('src');
    const failing = new FakeDriver({ failOn: { create: 'after-filesystem' } });
    const to = await dir();
    await expect(failing.importEnvironment(archive, await spec(failing, 'dst', { volumes: [{ name: 'data', kind: 'data', hostPath: to, mountPath: '/data' }] }))).rejects.toMatchObject({ category: 'UNAVAILABLE' });
    await expect(readFile(join(to, 'f'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  test('a failed import into a volume that already holds the files keeps them as they were', async () => {
    const shared = await dir();
    const source = new FakeDriver();
    await source.create(await spec(source, 'src', { volumes: [{ name: 'data', kind: 'data', hostPath: shared, mountPath: '/data' }] }));
    await source.start('src');
    await source.exec('src', ['tee', '/data/db'], { stdin: 'v1' });
    const archive = await source.exportEnvironment('src');
    await source.exec('src', ['tee', '/data/db'], { stdin: 'v2' });
    const failing = new FakeDriver({ failOn: { create: 'after-filesystem' } });
    await expect(failing.importEnvironment(archive, await spec(failing, 'src', { volumes: [{ name: 'data', kind: 'data', hostPath: shared, mountPath: '/data' }] }))).rejects.toMatchObject({ category: 'UNAVAILABLE' });
    expect(await readFile(join(shared, 'db'), 'utf8')).toBe('v2');
  });

  test('an archive with a path that escapes its volume or the root is BAD_USER_INPUT', async () => {
    const driver = new FakeDriver();
    const target = await dir();
    const volumes = [{ name: 'data', kind: 'data' as const, hostPath: target, mountPath: '/data' }];
    const header = { id: 'x', hostname: 'x', image: { ref: 'x' }, limits: {}, labels: {} };
    for (const name of ['volume:data:../../escape', 'volume:data:/etc/passwd', 'relative/root', '/etc/../../x']) {
      await expect(driver.importEnvironment(encodeArchive(header, [{ name, data: Buffer.from('x') }]), await spec(driver, 'evil', { volumes }))).rejects.toMatchObject({ category: 'BAD_USER_INPUT' });
    }
    expect(driver.held().environments).toBe(0);
  });

  test('an archive whose volume the spec does not mount is BAD_USER_INPUT; junk is BAD_USER_INPUT', async () => {
    const driver = new FakeDriver();
    const from = await dir();
    await driver.create(await spec(driver, 'src', { volumes: [{ name: 'data', kind: 'data', hostPath: from, mountPath: '/data' }] }));
    await driver.start('src');
    await driver.exec('src', ['tee', '/data/f'], { stdin: 'payload' });
    await expect(driver.importEnvironment(await driver.exportEnvironment('src'), await spec(driver, 'dst'))).rejects.toMatchObject({ category: 'BAD_USER_INPUT' });
    await expect(driver.importEnvironment(Readable.from([Buffer.from('junk')]), await spec(driver, 'dst2'))).rejects.toMatchObject({ category: 'BAD_USER_INPUT' });
  });
});

describe('FakeDriver snapshots and migration', () => {
  test('a snapshot name is unique per environment', async () => {
    const driver = new FakeDriver();
    await driver.create(await spec(driver, 's'));
    await driver.snapshot('s', 'before');
    await expect(driver.snapshot('s', 'before')).rejects.toMatchObject({ category: 'CONFLICT' });
    await expect(driver.snapshot('s', 'Bad Name')).rejects.toMatchObject({ category: 'BAD_USER_INPUT' });
  });

  test('migrate carries the root filesystem to the other driver and keeps it running', async () => {
    const network = new FakeNetwork();
    const a = new FakeDriver({ network, uri: 'fake://a' });
    const b = new FakeDriver({ network, uri: 'fake://b' });
    await a.create(await spec(a, 'mover'));
    await a.start('mover');
    await a.exec('mover', ['tee', '/root/state'], { stdin: 'kept' });
    await expect(a.migrate('mover', 'fake://nowhere')).rejects.toMatchObject({ category: 'UNAVAILABLE' });
    await expect(a.migrate('mover', 'fake://a')).rejects.toMatchObject({ category: 'BAD_USER_INPUT' });
    await a.migrate('mover', 'fake://b');
    expect(a.held().environments).toBe(0);
    expect((await b.inspect('mover')).state).toBe('running');
    expect((await b.exec('mover', ['cat', '/root/state'])).stdout).toBe('kept');
    a.close();
    b.close();
  });

  test('two drivers cannot listen at one URI', () => {
    const network = new FakeNetwork();
    const a = new FakeDriver({ network, uri: 'fake://same' });
    expect(() => new FakeDriver({ network, uri: 'fake://same' })).toThrow(expect.objectContaining({ category: 'CONFLICT' }));
    a.close();
  });
});

describe('FakeDriver deadlines and probe', () => {
  test('an aborted signal cancels a call', async () => {
    const driver = new FakeDriver();
    const controller = new AbortController();
    controller.abort(new Error('cancelled by test'));
    await expect(driver.list({ signal: controller.signal })).rejects.toThrow('cancelled by test');
  });

  test('probe reports the simulated host, or why it is unavailable', async () => {
    expect(await new FakeDriver({ host: { cpus: 4 } }).probe()).toMatchObject({ available: true, version: '1.0.0', host: { cpus: 4 } });
    const off = new FakeDriver({ unavailable: 'switched off' });
    expect(await off.probe()).toEqual({ available: false, reason: 'switched off' });
    await expect(off.list()).rejects.toMatchObject({ category: 'UNAVAILABLE', message: 'fake: list failed: the engine is unavailable (switched off)' });
  });
});
