import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { runConformanceSuite } from '../../drivers/conformance';
import { DriverRegistry } from '../../drivers/registry';
import { loadPlugins } from '../../plugins';
import type { Driver } from '../../drivers/contract';
import { bridgeName } from '../../drivers/host/bridges';
import { BUSYBOX, buildBusyboxRootfs } from '../fixtures/busybox-rootfs';
import { describeWithEngine } from '../helpers/engines';

/** The UML plugin's package folder (built into its dist/ by the test setup), loaded as RSP_PLUGINS loads it. */
const PLUGIN_DIR = join(__dirname, '..', '..', 'plugins', 'uml');

/** Loads the plugin through the plugin loader with a state directory of its own. */
async function loadUml(stateDir: string, extra: Record<string, unknown> = {}): Promise<Driver> {
  const registry = new DriverRegistry();
  await loadPlugins([PLUGIN_DIR], registry, { options: { 'rsp-driver-uml': { stateDir, name: extra.name ?? 'uml', ...extra } } });
  return registry.get(String(extra.name ?? 'uml'));
}

/** Imports the busybox root filesystem (one image, shared by every test of the suite). */
async function busyboxImage(driver: Driver) {
  const imported = await driver.importImage!(createReadStream(await buildBusyboxRootfs()), { name: 'busybox', format: 'rootfs-tar' });
  return { ref: imported.ref, digest: imported.digest };
}

describeWithEngine('uml', 'UML driver plugin (real linux.uml guests)', () => {
  let stateDir: string;

  runConformanceSuite(
    'uml (plugin)',
    async () => {
      stateDir = await mkdtemp(join(tmpdir(), 'rsp-uml-'));
      const driver = await loadUml(stateDir);
      return { driver, image: busyboxImage, cleanup: () => rm(stateDir, { recursive: true, force: true }) };
    },
    {
      timeoutMs: 180_000,
      limits: { memoryBytes: 96 * 1024 * 1024 },
      makeFailingDriver: async () => {
        const driver = await loadUml(stateDir, { name: 'uml-failing', failAfter: 'cow' });
        return { driver, image: busyboxImage };
      },
    },
  );
});

describeWithEngine('uml', 'UML driver plugin: what the guest gets', () => {
  let stateDir: string;
  let driver: Driver;
  const id = `umlcheck-${process.pid}`;

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'rsp-uml-check-'));
    driver = await loadUml(stateDir);
  });
  afterAll(async () => {
    await driver.destroy(id);
    await rm(stateDir, { recursive: true, force: true });
  });

  test('mem=, the CPU cgroup, config, a hostfs volume, a managed network (TAP on its bridge, IPv4 and IPv6), console log and stats of a running guest; destroy leaves no process, cgroup, TAP or bridge', async () => {
    const limits = { memoryBytes: 64 * 1024 * 1024, ...(driver.capabilities().limits.includes('cpuQuota') ? { cpuQuota: 0.5, cpuWeight: 50 } : {}) };
    const data = await mkdtemp(join(tmpdir(), 'rsp-uml-volume-'));
    await writeFile(join(data, 'from-host.txt'), 'towel\n');
    const volumes = [{ name: 'data', kind: 'data' as const, hostPath: data, mountPath: '/srv/data' }];
    const subnet = `10.126.${process.pid % 250}`;
    const prefix6 = `fd7e:${(0x1000 + (process.pid % 0xe000)).toString(16)}:7`;
    const network = { mode: 'bridge' as const, network: `uml-check-${process.pid}`, ipv4: `${subnet}.7/24`, gateway: `${subnet}.1`, ipv6: `${prefix6}::7/64`, gateway6: `${prefix6}::1` };
    await driver.create({ id, image: await busyboxImage(driver), limits, volumes, iface: { hostname: 'zaphod', dns: ['192.0.2.53'], config: { MEMBER: "ford's" }, network }, labels: {} });
    await driver.start(id);
    const exec = (command: string) => driver.exec!(id, ['sh', '-c', command]);
    const memTotal = Number(/MemTotal:\s+(\d+)/.exec((await exec('cat /proc/meminfo')).stdout)![1]) * 1024;
    expect(memTotal).toBeLessThanOrEqual(64 * 1024 * 1024);
    expect(memTotal).toBeGreaterThan(32 * 1024 * 1024);
    expect((await exec('hostname; cat /etc/resolv.conf; cat /etc/rsp/config.env; echo "$MEMBER"')).stdout).toBe(`zaphod\nnameserver 192.0.2.53\nMEMBER='ford'\\''s'\nford's\n`);
    expect((await exec('cat /srv/data/from-host.txt && echo 42 > /srv/data/from-guest.txt')).exitCode).toBe(0);
    expect(await readFile(join(data, 'from-guest.txt'), 'utf8')).toBe('42\n');
    await rm(data, { recursive: true, force: true });
    // The guest's eth0 is a TAP device on the network's bridge, which carries the gateway address.
    expect((await exec('ip -4 addr show dev eth0')).stdout).toContain(`inet ${subnet}.7/24`);
    expect(await driver.exec!(id, ['ping', '-c', '2', '-W', '5', `${subnet}.1`])).toMatchObject({ exitCode: 0 });
    // IPv6: the guest loaded the UML kernel's ipv6 module and has its address; the bridge holds ::1; each answers the other.
    expect(driver.capabilities().features).toContain('ipv6');
    expect((await exec('ip -6 addr show dev eth0')).stdout).toContain(`inet6 ${prefix6}::7/64`);
    expect(await driver.exec!(id, ['ping', '-6', '-c', '2', '-W', '5', `${prefix6}::1`])).toMatchObject({ exitCode: 0 });
    expect(execFileSync(BUSYBOX, ['ping', '-6', '-c', '2', '-W', '5', `${prefix6}::7`], { encoding: 'utf8' })).toContain('2 packets received');
    expect((await driver.inspect(id)).addresses).toEqual([`${subnet}.7`, `${prefix6}::7`]);
    const tap = (await readdir(`/sys/class/net/${bridgeName(network.network)}/brif`))[0]!;
    expect(tap).toMatch(/^rspu/);
    const pid = Number(await readFile(join(stateDir, 'envs', id, 'uml.pid'), 'utf8'));
    if ('cpuQuota' in limits) {
      const cpuPath = /:cpu(?:,cpuacct)?:(.*)$/m.exec(await readFile(`/proc/${pid}/cgroup`, 'utf8'))?.[1];
      const quota = cpuPath && (await readFile(join('/sys/fs/cgroup/cpu', cpuPath, 'cpu.cfs_quota_us'), 'utf8').catch(() => undefined));
      const max = cpuPath && (await readFile(join('/sys/fs/cgroup', cpuPath, 'cpu.max'), 'utf8').catch(() => undefined));
      expect(quota?.trim() ?? max?.trim().split(' ')[0]).toBe('50000');
      expect((await driver.inspect(id)).limits).toMatchObject({ cpuQuota: 0.5, cpuWeight: 50 });
    }
    const stats = await driver.stats(id);
    expect(stats.cpuSeconds).toBeGreaterThan(0);
    expect(stats.memoryBytes).toBeGreaterThan(0);
    expect(stats.memoryLimitBytes).toBe(64 * 1024 * 1024);
    expect(stats.networkTxBytes).toBeGreaterThan(0);
    expect(stats.networkRxBytes).toBeGreaterThan(0);
    expect(await driver.logs!(id)).toContain('Linux version 6.1');
    await driver.destroy(id);
    expect(await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).not.toContain(`umid=${id}`);
    expect(existsSync(join(stateDir, 'envs', id))).toBe(false);
    expect(existsSync(`/sys/class/net/${tap}`)).toBe(false);
    expect(existsSync(`/sys/class/net/${bridgeName(network.network)}`)).toBe(false);
    const parents = [...(await readdir('/sys/fs/cgroup/cpu').catch(() => [])), ...(await readdir('/sys/fs/cgroup').catch(() => []))];
    for (const parent of parents.filter((p) => p.startsWith('rsp-uml-'))) {
      for (const root of ['/sys/fs/cgroup/cpu', '/sys/fs/cgroup']) expect(existsSync(join(root, parent, id))).toBe(false);
    }
  });
});
