import { execFileSync, spawnSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isCategory } from '../../gateway/errors/rsp-error';
import type { EnvironmentSpec } from '../../drivers/contract';
import { createVserverDriver, parseVserverStat } from '../../drivers/vserver';
import type { VserverDriver } from '../../drivers/vserver';
import { buildBusyboxRootfs } from '../fixtures/busybox-rootfs';
import { describeWithEngine } from '../helpers/engines';
import { until } from '../helpers/until';
import { EMULATOR, emulatedVserverOptions, processExited } from '../helpers/vserver-emulation';


async function expectCategory(promise: Promise<unknown>, category: string): Promise<void> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  if (!isCategory(error, category as never)) throw new Error(`expected ${category}, got ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
}

test('vserver-stat output is parsed (sizes and times as util-vserver prints them)', () => {
  const text = 'CTX   PROC    VSZ    RSS  userTIME   sysTIME    UPTIME NAME\n49152     3   7.3M   1.5M   0m01s50   1h02m03   2d06h27 rsp-a\n';
  expect(parseVserverStat(text)).toEqual([
    { context: 49152, processes: 3, vszBytes: Math.round(7.3 * 1024 ** 2), rssBytes: Math.round(1.5 * 1024 ** 2), userSeconds: 1.5, systemSeconds: 3723, name: 'rsp-a' },
  ]);
});

describeWithEngine('vserver-emulation', 'vserver driver on the util-vserver emulation', () => {
  let work: string;
  let tarball: string;
  let driver: VserverDriver;
  const made: string[] = [];
  const id = (suffix: string) => {
    const value = `v${process.pid % 10000}-${suffix}`;
    made.push(value);
    return value;
  };
  const spec = (envId: string, extra: Partial<EnvironmentSpec> = {}): EnvironmentSpec => ({ id: envId, image: { ref: tarball }, iface: { hostname: `h-${envId}` }, ...extra });
  const tool = (...args: string[]) => execFileSync(join(EMULATOR, 'vserver'), args, { encoding: 'utf8', env: { ...process.env, ...emulatedVserverOptions(work).toolEnv } });

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'rsp-vserver-test-'));
    tarball = await buildBusyboxRootfs();
    driver = createVserverDriver(emulatedVserverOptions(work));
  });

  afterAll(async () => {
    for (const envId of made) await driver.destroy(envId).catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  });

  test('probe', async () => {
    expect(await driver.probe()).toMatchObject({ available: true });
    expect((await createVserverDriver({ ...emulatedVserverOptions(work), statTool: '/nonexistent/vserver-stat' }).probe()).available).toBe(false);
  });

  test('bad input and unsupported limits; nothing left behind', async () => {
    await expectCategory(driver.create(spec('../x')), 'BAD_USER_INPUT');
    await expectCategory(driver.create(spec('a$(id)')), 'BAD_USER_INPUT');
    await expectCategory(driver.create(spec(id('noimg'), { image: { ref: join(work, 'missing.tar') } })), 'BAD_USER_INPUT');
    await expectCategory(driver.create(spec(id('nobr'), { iface: { hostname: 'x', network: { mode: 'bridge', bridge: 'rspnobr0', ipv4: '10.9.9.9/24' } } })), 'BAD_USER_INPUT');
    await expectCategory(driver.create(spec(id('disk'), { limits: { diskBytes: 1e9 } })), 'UNSUPPORTED_OPERATION');
    await expectCategory(driver.create(spec(id('bw'), { limits: { networkBitsPerSecond: 1e6 } })), 'UNSUPPORTED_OPERATION');
    const corrupt = join(work, 'corrupt.tar');
    writeFileSync(corrupt, 'garbage');
    await expect(driver.create(spec(id('corrupt'), { image: { ref: corrupt } }))).rejects.toThrow(/unpack/);
    const conf = join(work, 'etc-vservers');
    expect(existsSync(conf) ? readdirSync(conf) : []).toEqual([]);
    expect(await driver.list()).toEqual([]);
  });

  test('lifecycle with limits in the config tree and in real cgroups, interface files, volumes, exec, stats', async () => {
    const envId = id('life');
    const name = `rsp-${envId}`;
    const data = join(work, 'data');
    mkdirSync(data);
    writeFileSync(join(data, 'hello.txt'), 'hi from host\n');
    const created = await driver.create(spec(envId, {
      limits: { cpuWeight: 50, cpuQuota: 0.5, memoryBytes: 32 * 1024 * 1024, pids: 40 },
      volumes: [{ name: 'data', kind: 'data', hostPath: data, mountPath: '/srv/data', readOnly: true }],
      iface: { hostname: 'guest-1', dns: ['10.0.3.1'], config: { MOTTO: 'share it' }, ...(existsSync('/sys/class/net/lxcbr0/bridge') ? { network: { mode: 'bridge' as const, ipv4: '10.0.3.88/24' } } : {}) },
    }));
    expect(created).toMatchObject({ id: envId, handle: name, state: 'created', hostname: 'guest-1' });
    expect(created.limits).toEqual({ cpuWeight: 50, cpuQuota: 0.5, memoryBytes: 32 * 1024 * 1024, pids: 40 });
    const conf = join(work, 'etc-vservers', name);
    expect(readFileSync(join(conf, 'uts', 'nodename'), 'utf8')).toBe('guest-1\n');
    expect(readFileSync(join(conf, 'sched', 'fill-rate'), 'utf8')).toBe('50\n');
    expect(readFileSync(join(conf, 'rlimits', 'nproc'), 'utf8')).toBe('40\n');
    expect(readFileSync(join(conf, 'cgroup', 'memory.limit_in_bytes'), 'utf8')).toBe(`${32 * 1024 * 1024}\n`);
    expect(readFileSync(join(conf, 'fstab'), 'utf8')).toBe(`${data}\t/srv/data\tnone\tbind,ro\t0 0\n`);
    await expectCategory(driver.create(spec(envId)), 'CONFLICT');
    const stopped = spawnSync(join(EMULATOR, 'vserver'), [name, 'status'], { encoding: 'utf8', env: { ...process.env, ...emulatedVserverOptions(work).toolEnv } });
    expect([stopped.status, stopped.stdout.trim()]).toEqual([3, `Vserver '${name}' is stopped`]); // as util-vserver's

    await driver.start(envId);
    await driver.start(envId); // no-op when running
    expect(tool(name, 'status').trim()).toMatch(new RegExp(`^Vserver '${name}' is running at context '\\d+'$`));
    const running = await driver.inspect(envId);
    expect(running.state).toBe('running');
    expect((await driver.list()).map((e) => e.id)).toEqual([envId]);

    const sh = (script: string) => driver.exec(envId, ['/bin/sh', '-c', script]);
    expect((await sh('hostname')).stdout.trim()).toBe('guest-1');
    expect((await sh('cat /etc/resolv.conf')).stdout).toBe('nameserver 10.0.3.1\n');
    expect((await sh('echo "$MOTTO"')).stdout.trim()).toBe('share it');
    expect((await sh('tr "\\0" "\\n" < /proc/1/environ | grep MOTTO')).stdout.trim()).toBe('MOTTO=share it');
    expect((await sh('cat /srv/data/hello.txt')).stdout).toBe('hi from host\n');
    expect((await sh('touch /srv/data/x 2>/dev/null && echo writable || echo read-only')).stdout.trim()).toBe('read-only');
    expect((await sh('echo $$; cat /proc/1/cmdline | tr "\\0" " "')).stdout).toMatch(/rsp-init/);
    expect(await sh('echo err >&2; exit 4')).toEqual({ exitCode: 4, stdout: '', stderr: 'err\n' });
    expect((await driver.exec(envId, ['cat'], { stdin: 'in' })).stdout).toBe('in');
    expect((await sh('env | grep -c VSERVER_ || true')).stdout.trim()).toBe('0'); // the host's environment stays out

    // The limits are real: the guest's cgroups carry them.
    const cg = (ctl: string, file: string) => readFileSync(join('/sys/fs/cgroup', ctl, name, file), 'utf8').trim();
    expect(cg('memory', 'memory.limit_in_bytes')).toBe(String(32 * 1024 * 1024));
    expect(cg('pids', 'pids.max')).toBe('40');
    expect(cg('cpu', 'cpu.cfs_quota_us')).toBe('50000');
    expect(cg('cpu', 'cpu.shares')).toBe('512');
    if (running.addresses.length) {
      expect(running.addresses).toEqual(['10.0.3.88']);
      expect((await sh('ip -4 addr show eth0')).stdout).toContain('10.0.3.88/24');
      await sh('ping -c 2 -W 1 10.0.3.1 >/dev/null 2>&1');
    }

    await sh('i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done');
    const stats = await driver.stats(envId);
    expect(stats.cpuSeconds).toBeGreaterThan(0);
    expect(stats.memoryBytes).toBeGreaterThan(0);
    expect(stats.memoryLimitBytes).toBe(32 * 1024 * 1024);
    expect(stats.pids).toBeGreaterThanOrEqual(1);
    if (running.addresses.length) expect(stats.networkTxBytes).toBeGreaterThan(0);
    expect((await driver.stats(envId)).cpuSeconds).toBeGreaterThanOrEqual(stats.cpuSeconds);

    await driver.stop(envId, { graceSeconds: 5 });
    expect((await driver.inspect(envId)).state).toBe('stopped');
    expect(existsSync(join('/sys/fs/cgroup', 'memory', name))).toBe(false);
    await driver.stop(envId);
    await expectCategory(driver.exec(envId, ['true']), 'CONFLICT');
    expect((await driver.stats(envId)).cpuSeconds).toBe(0);
    await driver.destroy(envId);
    await driver.destroy(envId);
    await expectCategory(driver.inspect(envId), 'NOT_FOUND');
    expect(existsSync(conf)).toBe(false);
    expect(existsSync(join(work, 'vservers', name))).toBe(false);
    expect(readdirSync(data)).toEqual(['hello.txt']);
  });

  test('a guest killed behind RSP\'s back shows as stopped; list skips guests that are not RSP\'s', async () => {
    const envId = id('dies');
    await driver.create(spec(envId, { command: ['/bin/sleep', '300'] }));
    await driver.start(envId);
    const pid = Number(readFileSync(join(work, 'run', `rsp-${envId}.pid`), 'utf8'));
    process.kill(pid, 'SIGKILL');
    await until(`guest init ${pid} to exit`, () => processExited(pid), 5_000, 20);
    expect((await driver.inspect(envId)).state).toBe('stopped');
    tool('foreign', 'build', '-m', 'skeleton');
    expect((await driver.list()).map((e) => e.id)).toEqual([envId]);
    await driver.destroy('foreign');
    expect(existsSync(join(work, 'etc-vservers', 'foreign'))).toBe(true);
    await driver.destroy(envId);
  });

  test('export → import round trip; image import/export', async () => {
    const a = id('src');
    const b = id('dst');
    const image = await driver.importImage(createReadStream(tarball), { name: 'busybox', format: 'rootfs-tar' });
    await driver.create(spec(a, { image: { ref: image.ref, digest: image.digest } }));
    await driver.start(a);
    await driver.exec(a, ['/bin/sh', '-c', 'echo kept > /root/state']);
    await driver.stop(a);
    const copy = await driver.importEnvironment(await driver.exportEnvironment(a), spec(b, { iface: { hostname: 'the-copy' } }));
    expect(copy).toMatchObject({ id: b, state: 'created', hostname: 'the-copy' });
    await driver.start(b);
    expect((await driver.exec(b, ['cat', '/root/state'])).stdout).toBe('kept\n');
    expect((await driver.exec(b, ['hostname'])).stdout.trim()).toBe('the-copy');
    await driver.destroy(b);
    await driver.destroy(a);
    let size = 0;
    for await (const c of await driver.exportImage({ ref: image.ref })) size += (c as Buffer).length;
    expect(size).toBe(image.sizeBytes);
  });

  test('disk limits go to dlimits/ when offered (util-vserver enforces them; the emulation only records them)', async () => {
    const withDisk = createVserverDriver(emulatedVserverOptions(work, { diskLimits: true }));
    const envId = id('dl');
    const info = await withDisk.create(spec(envId, { limits: { diskBytes: 512 * 1024 * 1024 } }));
    expect(info.limits).toEqual({ diskBytes: 512 * 1024 * 1024 });
    expect(readFileSync(join(work, 'etc-vservers', `rsp-${envId}`, 'dlimits', 'rsp', 'space_total'), 'utf8')).toBe(`${512 * 1024}\n`);
    await withDisk.destroy(envId);
  });
});
