import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { FakeDriver } from '../../../drivers/fake';
import { DriverRegistry } from '../../../drivers/registry';
import { collectHostFacts, linkSpeed } from '../../../gateway/agent/host-facts';
import { InProcessAgent } from '../../../gateway/agent/in-process-agent';
import { throughLoopback } from '../../../gateway/agent/loopback-channel';
import { assertPlainData } from '../../../gateway/agent/plain-data';
import { factResources } from '../../../gateway/services/host-inventory';

describe('host facts collected by an agent', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rsp-host-facts-'));
  const registry = new DriverRegistry();
  registry.register(new FakeDriver({ name: 'fake' }));
  registry.register(new FakeDriver({ name: 'gone', unavailable: 'no engine here' }));
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test("this machine's facts: CPUs, memory, the data dir's filesystem, interfaces, kernel and each driver's probe, as plain data", async () => {
    const facts = await collectHostFacts({ dataDir: dir, drivers: await registry.probeAll() });
    assertPlainData(facts);
    expect(JSON.parse(JSON.stringify(facts))).toEqual(facts);
    expect(facts.cpus).toBeGreaterThan(0);
    expect(facts.cpuModel.length).toBeGreaterThan(0);
    expect(facts.memoryBytes).toBeGreaterThan(0);
    expect(facts.kernel.length).toBeGreaterThan(0);
    expect(facts.dataDir).toEqual({ path: dir, sizeBytes: expect.any(Number), freeBytes: expect.any(Number) });
    expect(facts.dataDir.sizeBytes).toBeGreaterThanOrEqual(facts.dataDir.freeBytes);
    expect(facts.interfaces.map((i) => i.name)).toContain('lo');
    expect(facts.interfaces.find((i) => i.name === 'lo')).toMatchObject({ internal: true, speedBitsPerSecond: null });
    expect(new Date(facts.reportedAt).toISOString()).toBe(facts.reportedAt);
    expect(facts.drivers).toEqual([
      { name: 'fake', technology: 'fake', available: true, version: '1.0.0', operations: expect.any(Array), limits: expect.any(Array) },
      { name: 'gone', technology: 'fake', available: false, reason: 'no engine here', operations: expect.any(Array), limits: expect.any(Array) },
    ]);
    expect(facts.drivers[0]!.operations).toContain('exec');
  });

  test('kernel files that are missing leave their facts empty or unknown instead of failing', async () => {
    const empty = join(dir, 'no-kernel');
    mkdirSync(empty);
    const facts = await collectHostFacts({ dataDir: dir, drivers: [], roots: { proc: join(empty, 'proc'), sys: join(empty, 'sys') } });
    expect(facts.filesystems).toEqual([]);
    expect(facts.interfaces.every((i) => i.speedBitsPerSecond === null)).toBe(true);
    expect(facts.drivers).toEqual([]);
  });

  test('link speeds: Mbit/s to bits per second; -1, garbage, unreadable, missing or a virtual link\'s are unknown', async () => {
    const sys = join(dir, 'sys');
    const link = (name: string, speed: string | null, device = true) => {
      mkdirSync(join(sys, 'class', 'net', name, ...(speed === null ? ['speed'] : [])), { recursive: true });
      if (speed !== null) writeFileSync(join(sys, 'class', 'net', name, 'speed'), speed);
      if (device) mkdirSync(join(sys, 'class', 'net', name, 'device'));
    };
    link('eth0', '1000\n');
    link('eth1', '-1\n');
    link('eth2', 'fast');
    link('eth3', null); // `speed` is a directory: reading it fails (EISDIR), as EINVAL does on a down link
    link('veth1a2b', '10000\n', false); // a container's veth: the kernel says 10000, but it is no device
    const roots = { proc: join(dir, 'proc'), sys };
    expect(await linkSpeed(roots, 'eth0')).toBe(1e9);
    expect(await linkSpeed(roots, 'eth1')).toBeNull();
    expect(await linkSpeed(roots, 'eth2')).toBeNull();
    expect(await linkSpeed(roots, 'eth3')).toBeNull();
    expect(await linkSpeed(roots, 'veth1a2b')).toBeNull();
    expect(await linkSpeed(roots, 'absent')).toBeNull();
  });

  test('the agent answers hostFacts through the JSON loopback with its own data directory and probes', async () => {
    const agent = new InProcessAgent(registry, join(dir, 'agent-data'), pino({ level: 'silent' }), 'local');
    const facts = await throughLoopback(agent).hostFacts();
    expect(facts.dataDir.path).toBe(join(dir, 'agent-data'));
    expect(facts.drivers.map((d) => [d.name, d.available])).toEqual([
      ['fake', true],
      ['gone', false],
    ]);
  });
});

describe('the resources facts describe', () => {
  const base = {
    hostname: 'h',
    kernel: '6.1',
    arch: 'x64',
    platform: 'linux',
    cpuModel: 'Opteron',
    cpus: 16,
    memoryBytes: 64 * 2 ** 30,
    dataDir: { path: '/var/lib/rsp', sizeBytes: 2e12, freeBytes: 1e12 },
    filesystems: [],
    drivers: [],
    reportedAt: new Date(0).toISOString(),
  };
  const iface = (name: string, speedBitsPerSecond: number | null, internal = false) => ({ name, mac: '', addresses: [], internal, speedBitsPerSecond });

  test('CPU in cores, RAM and DISK in bytes; NET_BANDWIDTH is the fastest external link whose speed is known', () => {
    expect(factResources({ ...base, interfaces: [iface('lo', null, true), iface('eth0', 1e9), iface('eth1', 1e10), iface('veth0', null)] })).toEqual([
      { type: 'CPU', unit: 'CORES', total: 16, description: 'Opteron' },
      { type: 'RAM', unit: 'BYTES', total: 64 * 2 ** 30, description: 'memory' },
      { type: 'DISK', unit: 'BYTES', total: 2e12, description: 'filesystem of /var/lib/rsp' },
      { type: 'NET_BANDWIDTH', unit: 'BITS_PER_SECOND', total: 1e10, description: 'link eth1' },
    ]);
  });

  test('no NET_BANDWIDTH when no link speed is known', () => {
    expect(factResources({ ...base, interfaces: [iface('lo', null, true), iface('eth0', null)] }).map((r) => r.type)).toEqual(['CPU', 'RAM', 'DISK']);
  });
});
