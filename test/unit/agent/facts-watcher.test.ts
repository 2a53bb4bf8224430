import pino from 'pino';
import type { HostAgent } from '../../../gateway/agent/host-agent';
import { factsFingerprint, type HostFactsData } from '../../../gateway/agent/host-facts';
import { FactsWatcher } from '../../../gateway/agent/remote/facts-watcher';
import { UnavailableError } from '../../../gateway/errors';

const logger = pino({ level: 'silent' });

const FACTS: HostFactsData = {
  hostname: 'far-box',
  kernel: '6.1.0',
  arch: 'x64',
  platform: 'linux',
  cpuModel: 'Opteron',
  cpus: 4,
  memoryBytes: 8 * 2 ** 30,
  dataDir: { path: '/var/lib/rsp', sizeBytes: 1e11, freeBytes: 5e10 },
  filesystems: [{ device: '/dev/sda1', mountPoint: '/', sizeBytes: 1e11, freeBytes: 5e10 }],
  interfaces: [],
  drivers: [{ name: 'fake', technology: 'fake', available: true, version: '1.0.0', operations: [], limits: [] }],
  reportedAt: new Date(0).toISOString(),
};

describe("rsp agent's watch over its facts", () => {
  test('free space and the time of reading are no change; CPUs, memory, drivers are', () => {
    const base = factsFingerprint(FACTS);
    expect(factsFingerprint({ ...FACTS, reportedAt: new Date().toISOString(), dataDir: { ...FACTS.dataDir, freeBytes: 1 }, filesystems: [{ ...FACTS.filesystems[0]!, freeBytes: 2 }] })).toBe(base);
    expect(factsFingerprint({ ...FACTS, memoryBytes: 16 * 2 ** 30 })).not.toBe(base);
    expect(factsFingerprint({ ...FACTS, cpus: 8 })).not.toBe(base);
    expect(factsFingerprint({ ...FACTS, drivers: [{ ...FACTS.drivers[0]!, version: '2.0.0' }] })).not.toBe(base);
  });

  test('pushes only facts that differ from what the gateway last got: its own pull (through the agent) or the last push; a failed push is tried again', async () => {
    let current = FACTS;
    const pushed: HostFactsData[] = [];
    let failing = false;
    const sink = {
      reportFacts: async (facts: HostFactsData) => {
        if (failing) throw new UnavailableError('the gateway is away');
        pushed.push(facts);
        return { hosts: 1, warnings: [] };
      },
    };
    const watcher = new FactsWatcher(async () => current, sink, logger, 0);
    const agent = { id: 'a1', hostFacts: async () => current, hello: async () => ({ agentId: 'a1', protocol: 0, software: 'x' }) } as unknown as HostAgent;
    const served = watcher.observe(agent);
    expect(await served.hostFacts()).toBe(FACTS);
    expect((await served.hello()).agentId).toBe('a1');
    expect(await watcher.check()).toBe(false);
    current = { ...FACTS, dataDir: { ...FACTS.dataDir, freeBytes: 7 } };
    expect(await watcher.check()).toBe(false);
    current = { ...FACTS, memoryBytes: 16 * 2 ** 30 };
    failing = true;
    expect(await watcher.check()).toBe(false);
    failing = false;
    expect(await watcher.check()).toBe(true);
    expect(await watcher.check()).toBe(false);
    expect(pushed.map((f) => f.memoryBytes)).toEqual([16 * 2 ** 30]);
    current = { ...FACTS, cpus: 2 };
    await served.hostFacts();
    expect(await watcher.check()).toBe(false);
    expect(pushed).toHaveLength(1);
  });
});
