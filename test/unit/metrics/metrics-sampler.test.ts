import pino from 'pino';
import type { DataSource } from 'typeorm';
import { AgentLink } from '../../../gateway/agent/agent-link';
import type { HostAgent } from '../../../gateway/agent/host-agent';
import type { HostSampleData } from '../../../gateway/agent/protocol';
import { UnavailableError } from '../../../gateway/errors';
import { measuresHost, MetricsSampler, type SamplerDeps } from '../../../gateway/metrics/metrics-sampler';
import type { HostSample } from '../../../gateway/metrics/samples';
import { EnvironmentEntity, EnvironmentStatus, HostEntity, HostState } from '../../../gateway/persistence/entities';

/** A machine sample whose memory total names the machine, so a test can tell whose it is. */
function machine(totalBytes: number): HostSampleData {
  return { at: Date.now(), cpu: { usage: 0.25, cores: [0.25] }, load: { one: 1, five: 1, fifteen: 1 }, memory: { totalBytes, usedBytes: 1, availableBytes: totalBytes - 1 }, swap: { totalBytes: 0, usedBytes: 0 }, disks: [], filesystems: [], networks: [] };
}

/** A fake host agent answering only what the sampler asks; `hostSample` and `volumesBytes` are the test's. */
function fakeAgent(id: string, calls: Partial<Pick<HostAgent, 'hostSample' | 'volumesBytes'>>): HostAgent & { sampled: number } {
  const agent = {
    id,
    sampled: 0,
    hostSample: (...args: Parameters<HostAgent['hostSample']>) => {
      agent.sampled++;
      return calls.hostSample!(...args);
    },
    volumesBytes: calls.volumesBytes,
    cancel: async () => ({ cancelled: 0 }),
  };
  return agent as unknown as HostAgent & { sampled: number };
}

function host(id: string, agent: string, hostname = id): HostEntity {
  return Object.assign(new HostEntity(), { id, hostname, agent, siteId: 'site-1', state: HostState.UP });
}

/** The sampler over hosts and environments in memory, with what it publishes and observes recorded. */
function samplerOver(hosts: HostEntity[], agents: AgentLink, envs: EnvironmentEntity[] = [], extra: Partial<SamplerDeps> = {}) {
  const published: HostSample[] = [];
  const disk: Array<{ groupId: string; hostId: string; bytes: number }> = [];
  let hostQueries = 0;
  const dataSource = {
    getRepository: (entity: unknown) => ({
      findBy: async () => {
        if (entity === HostEntity) {
          hostQueries++;
          const connected = new Set(agents.connected());
          return hosts.filter((h) => connected.has(h.agent));
        }
        return entity === EnvironmentEntity ? envs : [];
      },
    }),
  } as unknown as DataSource;
  const deps: SamplerDeps = {
    dataSource,
    agents,
    pubSub: { publish: (_topic: string, _id: string, s: HostSample) => void published.push(s) } as unknown as SamplerDeps['pubSub'],
    history: { record: () => undefined, flush: async () => undefined, enforceRetention: async () => undefined } as unknown as SamplerDeps['history'],
    alerts: { evaluate: async () => undefined } as unknown as SamplerDeps['alerts'],
    usage: { flush: async () => undefined, observe: () => undefined, forget: () => undefined, observeDisk: (groupId: string, hostId: string, _site: string, bytes: number) => void disk.push({ groupId, hostId, bytes }) } as unknown as SamplerDeps['usage'],
    prometheus: { collectSeconds: { set: () => undefined }, observeHost: () => undefined, observeEnvironment: () => undefined, forgetEnvironment: () => undefined } as unknown as SamplerDeps['prometheus'],
    logger: pino({ level: 'silent' }),
    source: 'gw-test',
    localHost: 'gateway-box',
    hostSampleTimeoutMs: 100,
    ...extra,
  };
  return { sampler: new MetricsSampler(deps), published, disk, hostQueries: () => hostQueries };
}

describe('the metrics sampler asks every connected agent for its own machine', () => {
  test("each host gets its own agent's sample, marked with the agent; one host query per tick", async () => {
    const agents = new AgentLink();
    agents.add(fakeAgent('a1', { hostSample: async () => machine(1000) }), 'remote');
    agents.add(fakeAgent('a2', { hostSample: async () => machine(2000) }), 'remote');
    const { sampler, published, hostQueries } = samplerOver([host('h1', 'a1'), host('h2', 'a2')], agents);
    const samples = await sampler.tick();
    expect(samples.map((s) => [s.hostId, s.agent, s.memory.totalBytes, s.source]).sort()).toEqual([
      ['h1', 'a1', 1000, 'gw-test'],
      ['h2', 'a2', 2000, 'gw-test'],
    ]);
    expect(published.map((s) => s.hostId).sort()).toEqual(['h1', 'h2']);
    expect(hostQueries()).toBe(1);
  });

  test('a slow agent yields no sample at its deadline, delays nobody, and is not asked again while its call is pending', async () => {
    const agents = new AgentLink();
    let answerSlow: (s: HostSampleData) => void = () => undefined;
    const slow = fakeAgent('slow', { hostSample: () => new Promise<HostSampleData>((resolve) => (answerSlow = resolve)) });
    agents.add(slow, 'remote');
    agents.add(fakeAgent('fast', { hostSample: async () => machine(3000) }), 'remote');
    const { sampler } = samplerOver([host('h-slow', 'slow'), host('h-fast', 'fast')], agents, [], { hostSampleTimeoutMs: 50 });
    expect((await sampler.tick()).map((s) => s.hostId)).toEqual(['h-fast']);
    expect((await sampler.tick()).map((s) => s.hostId)).toEqual(['h-fast']);
    expect(slow.sampled).toBe(1);
    answerSlow(machine(9));
    await new Promise((r) => setImmediate(r));
    const third = await sampler.tick();
    expect(slow.sampled).toBe(2);
    expect(third.map((s) => s.hostId)).toContain('h-fast');
  });

  test("a host whose agent is not connected, or fails, gets no sample (never the gateway's own numbers)", async () => {
    const agents = new AgentLink();
    agents.add(fakeAgent('broken', { hostSample: async () => Promise.reject(new UnavailableError('engine room on fire')) }), 'remote');
    agents.add(fakeAgent('a1', { hostSample: async () => machine(1000) }), 'remote');
    const { sampler } = samplerOver([host('h-gone', 'gone'), host('h-broken', 'broken'), host('h1', 'a1')], agents);
    expect((await sampler.tick()).map((s) => s.hostId)).toEqual(['h1']);
  });

  test("in-process agents measure the gateway's machine: only the host record that is it gets their samples; a remote agent's go to all its hosts", async () => {
    const agents = new AgentLink();
    agents.add(fakeAgent('local', { hostSample: async () => machine(4000) }));
    agents.add(fakeAgent('extra', { hostSample: async () => machine(4000) }));
    agents.add(fakeAgent('remote', { hostSample: async () => machine(5000) }), 'remote');
    const { sampler } = samplerOver([host('h-gw', 'local', 'gateway-box'), host('h-sim', 'local', 'simulated'), host('h-extra', 'extra', 'marvin'), host('h-r1', 'remote', 'whatever'), host('h-r2', 'remote', 'other-name')], agents);
    expect((await sampler.tick()).map((s) => [s.hostId, s.agent]).sort()).toEqual([
      ['h-gw', 'local'],
      ['h-r1', 'remote'],
      ['h-r2', 'remote'],
    ]);
    expect(measuresHost('in-process', { id: 'x', hostname: 'simulated' }, 'gateway-box')).toBe(false);
    expect(measuresHost('remote', { id: 'x', hostname: 'simulated' }, 'gateway-box')).toBe(true);
  });

  test("disk: each agent measures its own hosts' volumes in one call; an agent that fails keeps its hosts' previous measure", async () => {
    const agents = new AgentLink();
    const asked: Array<[string, string[]]> = [];
    let failing = false;
    const volumes = (id: string, bytes: number) => async ({ environmentIds }: { environmentIds: string[] }) => {
      asked.push([id, [...environmentIds].sort()]);
      if (failing && id === 'a2') throw new UnavailableError('gone');
      return Object.fromEntries(environmentIds.map((e) => [e, bytes]));
    };
    agents.add(fakeAgent('a1', { hostSample: async () => machine(1), volumesBytes: volumes('a1', 10) }));
    agents.add(fakeAgent('a2', { hostSample: async () => machine(1), volumesBytes: volumes('a2', 100) }));
    const env = (id: string, hostId: string, groupId: string) => Object.assign(new EnvironmentEntity(), { id, hostId, groupId, status: EnvironmentStatus.STOPPED });
    const envs = [env('e1', 'h1', 'g1'), env('e2', 'h1', 'g1'), env('e3', 'h2', 'g1'), env('e4', 'h2', 'g2')];
    const { sampler, disk } = samplerOver([host('h1', 'a1'), host('h2', 'a2')], agents, envs);
    await sampler.measureDisk();
    expect(asked.sort()).toEqual([
      ['a1', ['e1', 'e2']],
      ['a2', ['e3', 'e4']],
    ]);
    expect(disk.sort((a, b) => `${a.groupId}${a.hostId}`.localeCompare(`${b.groupId}${b.hostId}`))).toEqual([
      { groupId: 'g1', hostId: 'h1', bytes: 20 },
      { groupId: 'g1', hostId: 'h2', bytes: 100 },
      { groupId: 'g2', hostId: 'h2', bytes: 100 },
    ]);
    disk.length = 0;
    failing = true;
    await sampler.measureDisk();
    expect(disk).toEqual([{ groupId: 'g1', hostId: 'h1', bytes: 20 }]);
  });
});
