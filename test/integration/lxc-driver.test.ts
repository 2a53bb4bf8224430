import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isCategory } from '../../gateway/errors/rsp-error';
import type { EnvironmentSpec } from '../../drivers/contract';
import { createLxcDriver } from '../../drivers/lxc';
import type { LxcDriver } from '../../drivers/lxc';
import { buildBusyboxRootfs } from '../fixtures/busybox-rootfs';
import { describeWithEngine } from '../helpers/engines';

async function expectCategory(promise: Promise<unknown>, category: string): Promise<void> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  if (!isCategory(error, category as never)) throw new Error(`expected ${category}, got ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
}

describeWithEngine('lxc', 'LXC driver on real LXC', () => {
  let work: string;
  let lxcPath: string;
  let tarball: string;
  let driver: LxcDriver;
  const made: string[] = [];
  const id = (suffix: string) => {
    const value = `t${process.pid % 10000}-${suffix}`;
    made.push(value);
    return value;
  };
  const spec = (envId: string, extra: Partial<EnvironmentSpec> = {}): EnvironmentSpec => ({
    id: envId,
    image: { ref: tarball },
    iface: { hostname: `h-${envId}` },
    ...extra,
  });

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'rsp-lxc-test-'));
    lxcPath = join(work, 'lxc');
    tarball = await buildBusyboxRootfs();
    driver = createLxcDriver({ lxcPath, imageDir: join(work, 'images') });
  });

  afterAll(async () => {
    for (const envId of made) await driver.destroy(envId).catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  });

  test('probe finds LXC and the cgroup layout', async () => {
    const probe = await driver.probe();
    expect(probe.available).toBe(true);
    expect(probe.version).toMatch(/cgroup v[12]/);
    expect(probe.host?.cpus).toBeGreaterThan(0);
  });

  test('bad input: names, hostname, missing rootfs, missing bridge, unsupported limit — nothing left behind', async () => {
    await expectCategory(driver.create(spec('../etc')), 'BAD_USER_INPUT');
    await expectCategory(driver.create(spec('a;rm -rf')), 'BAD_USER_INPUT');
    await expectCategory(driver.create(spec(id('badhost'), { iface: { hostname: 'x y' } })), 'BAD_USER_INPUT');
    await expectCategory(driver.create(spec(id('norootfs'), { image: { ref: join(work, 'missing.tar') } })), 'BAD_USER_INPUT');
    await expectCategory(driver.create(spec(id('nobridge'), { iface: { hostname: 'x', network: { mode: 'bridge', bridge: 'rspnobr0' } } })), 'BAD_USER_INPUT');
    await expectCategory(driver.create(spec(id('disk'), { limits: { diskBytes: 1e9 } })), 'UNSUPPORTED_OPERATION');
    await expectCategory(driver.create(spec(id('vol'), { volumes: [{ name: 'v', kind: 'data', hostPath: '/no/such/dir', mountPath: '/data' }] })), 'BAD_USER_INPUT');
    // A corrupt image fails while unpacking: the revert stack removes the half-made container.
    const corrupt = join(work, 'corrupt.tar');
    writeFileSync(corrupt, 'not a tarball');
    await expect(driver.create(spec(id('corrupt'), { image: { ref: corrupt } }))).rejects.toThrow(/unpacking/);
    expect(existsSync(lxcPath) ? readdirSync(lxcPath).filter((e) => !e.startsWith('.')) : []).toEqual([]);
    expect(await driver.list()).toEqual([]);
  });

  test('lifecycle with limits, bridge network, interface files, volumes, exec, stats; idempotent stop/destroy', async () => {
    const envId = id('life');
    const data = join(work, 'data');
    mkdirSync(data);
    writeFileSync(join(data, 'hello.txt'), 'from the host\n');
    const created = await driver.create(spec(envId, {
      limits: { cpuWeight: 50, cpuQuota: 0.5, memoryBytes: 64 * 1024 * 1024, pids: 64 },
      volumes: [{ name: 'data', kind: 'data', hostPath: data, mountPath: '/srv/data' }],
      iface: { hostname: 'web-1', dns: ['10.0.3.1', '9.9.9.9'], network: { mode: 'bridge', ipv4: '10.0.3.77/24' }, config: { GREETING: 'hi there' } },
      labels: { team: 'a' },
    }));
    expect(created).toMatchObject({ id: envId, handle: `rsp-${envId}`, state: 'created', hostname: 'web-1', labels: { team: 'a', 'rsp.environment': envId } });
    expect(created.limits).toEqual({ cpuWeight: 50, cpuQuota: 0.5, memoryBytes: 64 * 1024 * 1024, pids: 64 });
    await expectCategory(driver.create(spec(envId)), 'CONFLICT');
    expect((await driver.list()).map((e) => e.id)).toEqual([envId]);

    await driver.start(envId);
    await driver.start(envId); // starting a running environment is a no-op
    const running = await driver.inspect(envId);
    expect(running.state).toBe('running');
    expect(running.addresses).toEqual(['10.0.3.77']);
    expect(running.startedAt).toBeInstanceOf(Date);

    const sh = (script: string) => driver.exec(envId, ['/bin/sh', '-c', script]);
    expect((await sh('hostname')).stdout.trim()).toBe('web-1');
    expect((await sh('cat /etc/resolv.conf')).stdout).toBe('nameserver 10.0.3.1\nnameserver 9.9.9.9\n');
    expect((await sh('cat /etc/rsp/config.env')).stdout).toContain('GREETING=hi there\n');
    expect((await sh('echo "$GREETING"')).stdout.trim()).toBe('hi there');
    expect((await sh('tr "\\0" "\\n" < /proc/1/environ | grep GREETING')).stdout.trim()).toBe('GREETING=hi there');
    expect((await sh('cat /srv/data/hello.txt')).stdout).toBe('from the host\n');
    expect((await sh('ip -4 addr show eth0')).stdout).toContain('10.0.3.77/24');
    const failed = await sh('echo oops >&2; exit 3');
    expect(failed).toEqual({ exitCode: 3, stdout: '', stderr: 'oops\n' });
    expect((await driver.exec(envId, ['cat'], { stdin: 'piped' })).stdout).toBe('piped');

    // Limits are really applied by the kernel: read back from the container's cgroups.
    const state = execFileSync('lxc-info', ['-P', lxcPath, '-n', `rsp-${envId}`, '-p', '-H'], { encoding: 'utf8' });
    const pid = Number(/(\d+)/.exec(state)?.[1]);
    const cgroups = execFileSync('cat', [`/proc/${pid}/cgroup`], { encoding: 'utf8' });
    if (/:memory:/.test(cgroups)) {
      const memPath = /:memory:(\S+)/.exec(cgroups)![1];
      expect(execFileSync('cat', [`/sys/fs/cgroup/memory${memPath}/memory.limit_in_bytes`], { encoding: 'utf8' }).trim()).toBe(String(64 * 1024 * 1024));
      const pidsPath = /:pids:(\S+)/.exec(cgroups)![1];
      expect(execFileSync('cat', [`/sys/fs/cgroup/pids${pidsPath}/pids.max`], { encoding: 'utf8' }).trim()).toBe('64');
    }

    await sh('i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; ping -c 2 -W 1 10.0.3.1 >/dev/null 2>&1; dd if=/dev/zero of=/tmp/f bs=64k count=16 2>/dev/null; sync');
    const stats = await driver.stats(envId);
    expect(stats.cpuSeconds).toBeGreaterThan(0);
    expect(stats.memoryBytes).toBeGreaterThan(0);
    expect(stats.memoryLimitBytes).toBe(64 * 1024 * 1024);
    expect(stats.networkTxBytes).toBeGreaterThan(0);
    expect(stats.pids).toBeGreaterThanOrEqual(1);
    expect(stats.diskWriteBytes).toBeGreaterThanOrEqual(0);
    const later = await driver.stats(envId);
    expect(later.cpuSeconds).toBeGreaterThanOrEqual(stats.cpuSeconds);

    await driver.stop(envId, { graceSeconds: 5 });
    expect((await driver.inspect(envId)).state).toBe('stopped');
    await driver.stop(envId); // twice: not an error
    await expectCategory(driver.exec(envId, ['true']), 'CONFLICT');
    await driver.destroy(envId);
    await driver.destroy(envId); // missing: not an error
    await expectCategory(driver.inspect(envId), 'NOT_FOUND');
    await expectCategory(driver.start(envId), 'NOT_FOUND');
    expect(existsSync(join(lxcPath, `rsp-${envId}`))).toBe(false);
    expect(readdirSync(data)).toEqual(['hello.txt']); // data volumes outside the root filesystem survive
  });

  test('a custom command, logs, and a container that died behind RSP\'s back', async () => {
    const envId = id('cmd');
    await driver.create(spec(envId, { command: ['/bin/sh', '-c', 'echo "started as $RSP_HOSTNAME"; exec sleep 300'] }));
    await driver.start(envId);
    expect((await driver.exec(envId, ['cat', '/proc/1/cmdline'])).stdout).toContain('sleep');
    execFileSync('lxc-stop', ['-P', lxcPath, '-n', `rsp-${envId}`, '-k']);
    expect((await driver.inspect(envId)).state).toBe('stopped');
    expect((await driver.stats(envId)).cpuSeconds).toBe(0);
    await driver.stop(envId);
    expect(await driver.logs(envId)).toContain(`started as h-${envId}`);
    await driver.destroy(envId);
  });

  test('list shows only RSP-owned containers', async () => {
    mkdirSync(join(lxcPath, 'rsp-foreign'), { recursive: true });
    mkdirSync(join(lxcPath, 'someone-else'), { recursive: true });
    writeFileSync(join(lxcPath, 'rsp-foreign', 'config'), 'lxc.uts.name = foreign\n');
    const envId = id('owned');
    await driver.create(spec(envId));
    const listed = (await driver.list()).map((e) => e.id);
    expect(listed).toContain(envId);
    expect(listed).not.toContain('foreign');
    await driver.destroy('foreign'); // not RSP's: left alone
    expect(existsSync(join(lxcPath, 'rsp-foreign'))).toBe(true);
    rmSync(join(lxcPath, 'rsp-foreign'), { recursive: true });
    rmSync(join(lxcPath, 'someone-else'), { recursive: true });
    await driver.destroy(envId);
  });

  test('export → import round trip, image import/export, snapshot', async () => {
    const a = id('src');
    const b = id('copy');
    const image = await driver.importImage(createReadStream(tarball), { name: 'busybox', format: 'rootfs-tar' });
    expect(image.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    await driver.create(spec(a, { image: { ref: image.ref, digest: image.digest } }));
    await driver.start(a);
    await driver.exec(a, ['/bin/sh', '-c', 'echo precious > /root/state.txt']);
    await driver.stop(a);
    const snap = await driver.snapshot(a, 'before-copy');
    expect(snap.name).toBe('before-copy');
    expect(execFileSync('lxc-snapshot', ['-P', lxcPath, '-n', `rsp-${a}`, '-L', '-C'], { encoding: 'utf8' })).toContain('rsp.snapshot = before-copy');
    await expectCategory(driver.snapshot(a, '../x'), 'BAD_USER_INPUT');

    const stream = await driver.exportEnvironment(a);
    const copy = await driver.importEnvironment(stream, spec(b, { iface: { hostname: 'copy-host' } }));
    expect(copy).toMatchObject({ id: b, state: 'created', hostname: 'copy-host' });
    await driver.start(b);
    expect((await driver.exec(b, ['cat', '/root/state.txt'])).stdout).toBe('precious\n');
    expect((await driver.exec(b, ['hostname'])).stdout.trim()).toBe('copy-host');
    await driver.destroy(b);
    await driver.destroy(a);

    const chunks: Buffer[] = [];
    for await (const c of await driver.exportImage({ ref: image.ref })) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).length).toBe(image.sizeBytes);
  });

  test('two driver instances (name prefixes) on one engine run the same environment id side by side; each sees only its own', async () => {
    const other = createLxcDriver({ lxcPath, imageDir: join(work, 'images'), namePrefix: 'rsp-b-' });
    const envId = id('twin');
    await driver.create(spec(envId));
    try {
      await other.create(spec(envId));
      await driver.start(envId);
      await other.start(envId);
      expect(readdirSync(lxcPath).filter((n) => n.endsWith(envId)).sort()).toEqual([`rsp-${envId}`, `rsp-b-${envId}`].sort());
      expect((await driver.list()).filter((e) => e.id === envId).map((e) => [e.handle, e.state])).toEqual([[`rsp-${envId}`, 'running']]);
      expect((await other.list()).map((e) => [e.id, e.state])).toEqual([[envId, 'running']]);
      await other.destroy(envId);
      expect((await driver.inspect(envId)).state).toBe('running');
      await expectCategory(other.inspect(envId), 'NOT_FOUND');
    } finally {
      await other.destroy(envId).catch(() => undefined);
      await driver.destroy(envId).catch(() => undefined);
    }
  });
});
