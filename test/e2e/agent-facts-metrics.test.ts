import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runRsp, spawnRsp, RspProcess } from '../helpers/cli';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { collect, startTestGateway, TestGateway } from '../helpers/gateway';
import { until } from '../helpers/until';

const GiB = 2 ** 30;

/** A machine's kernel files as an agent reads them with --proc-root/--sys-root: `cpus` CPUs, `memoryBytes` of memory. */
function fakeMachine(dir: string, cpus: number, memoryBytes: number): { proc: string; sys: string; setMemory(bytes: number): void } {
  const proc = join(dir, 'proc');
  const sys = join(dir, 'sys');
  mkdirSync(join(proc, 'sys', 'kernel'), { recursive: true });
  mkdirSync(join(proc, 'net'), { recursive: true });
  mkdirSync(join(sys, 'block'), { recursive: true });
  const setMemory = (bytes: number) => writeFileSync(join(proc, 'meminfo'), `MemTotal: ${bytes / 1024} kB\nMemFree: ${bytes / 2048} kB\nMemAvailable: ${bytes / 2048} kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n`);
  setMemory(memoryBytes);
  writeFileSync(join(proc, 'cpuinfo'), Array.from({ length: cpus }, (_, i) => `processor\t: ${i}\nmodel name\t: Test CPU ${cpus}\n`).join('\n'));
  writeFileSync(join(proc, 'stat'), `cpu  10 0 10 100 0 0 0 0\n${Array.from({ length: cpus }, (_, i) => `cpu${i} 1 0 1 10 0 0 0 0`).join('\n')}\n`);
  writeFileSync(join(proc, 'loadavg'), '0.50 0.40 0.30 1/100 42\n');
  writeFileSync(join(proc, 'net', 'dev'), 'Inter-|   Receive\n face |bytes packets\n  eth0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n');
  writeFileSync(join(proc, 'mounts'), '');
  writeFileSync(join(proc, 'sys', 'kernel', 'hostname'), `machine-${cpus}\n`);
  return { proc, sys, setMemory };
}

/**
 * Two `rsp agent` processes, each reading its own (fake) machine: each host's hostMetrics are its
 * own machine's, measured by its agent; when one machine's memory changes, its agent pushes the
 * changed facts and the host's inventory follows, keeping what the admin set.
 */
describe('rsp agent: metrics and facts of its own machine', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let group: string;
  let site: string;
  const agents: RspProcess[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db, { RSP_METRICS_INTERVAL_MS: '200', RSP_HEARTBEAT_MS: '200', RSP_HOST_DOWN_AFTER_MS: '5000' });
    group = (await t.ok('mutation { createGroup(input: { slug: "ops", name: "Ops" }) { id } }')).createGroup.id;
    site = (await t.ok('mutation ($g: ID!) { createSite(input: { name: "far", ownerGroupId: $g }) { id } }', { g: group })).createSite.id;
  });
  afterAll(async () => {
    for (const p of agents) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await t?.close();
    await db?.drop();
  });

  const startAgent = async (agentId: string, machine: { proc: string; sys: string }) => {
    const r = await runRsp(['--url', t.gateway.url, '--token', t.adminToken, '--json', 'agent', 'token', 'create', agentId, '--ttl', '600'], {});
    expect(r.code).toBe(0);
    const dataDir = mkdtempSync(join(tmpdir(), 'rsp-agent-'));
    const p = spawnRsp(['agent', '--gateway', t.gateway.url.replace(/^http/, 'ws'), '--token', JSON.parse(r.stdout).token, '--drivers', 'fake', '--data-dir', dataDir, '--proc-root', machine.proc, '--sys-root', machine.sys, '--facts-every', '0.3'], { LOG_LEVEL: 'info', LOG_FORMAT: 'json' });
    agents.push(p);
    await until(`agent ${agentId} in the link`, () => t.gateway.agents.get(agentId) !== undefined, 30_000);
    const created = await t.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: site, ownerGroupId: group, hostname: `${agentId}-box`, agent: agentId, inventoryFromFacts: true } });
    return { process: p, hostId: created.createHost.id as string };
  };
  const resources = async (hostId: string) => Object.fromEntries(((await t.ok('query ($h: ID) { resources(hostId: $h) { nodes { id type total reserved allocationRatio } } }', { h: hostId })).resources.nodes as Array<{ type: string; total: number; reserved: number; allocationRatio: number; id: string }>).map((r) => [r.type, r]));

  test("each host's hostMetrics are its own machine's, measured by its own agent; changed facts reach the inventory, admin values kept", async () => {
    const small = fakeMachine(mkdtempSync(join(tmpdir(), 'rsp-machine-')), 3, 4 * GiB);
    const big = fakeMachine(mkdtempSync(join(tmpdir(), 'rsp-machine-')), 6, 12 * GiB);
    const a = await startAgent('small', small);
    const b = await startAgent('big', big);

    const metricsOf = async (hostId: string) => {
      const sub = collect<{ hostMetrics: { hostId: string; agent: string; memory: { totalBytes: number }; cpu: { cores: number[] } } }>(t.ws(), 'subscription ($h: ID!) { hostMetrics(hostId: $h) { hostId agent memory { totalBytes } cpu { cores } } }', { h: hostId }, () => true, 30_000);
      return (await sub.done)[0]!.hostMetrics;
    };
    expect(await metricsOf(a.hostId)).toEqual({ hostId: a.hostId, agent: 'small', memory: { totalBytes: 4 * GiB }, cpu: { cores: [0, 0, 0] } });
    expect(await metricsOf(b.hostId)).toEqual({ hostId: b.hostId, agent: 'big', memory: { totalBytes: 12 * GiB }, cpu: { cores: [0, 0, 0, 0, 0, 0] } });

    const before = await resources(a.hostId);
    expect(before.CPU).toMatchObject({ total: 3 });
    expect(before.RAM).toMatchObject({ total: 4 * GiB });
    await t.ok('mutation ($i: UpdateInventoryInput!) { updateInventory(input: $i) { id } }', { i: { id: before.RAM!.id, reserved: GiB, allocationRatio: 1.5 } });

    small.setMemory(8 * GiB);
    await a.process.waitFor(/the host facts changed: reported to the gateway/);
    const after = await until('RAM total from the changed facts', async () => {
      const r = await resources(a.hostId);
      return r.RAM!.total === 8 * GiB ? r : undefined;
    }, 20_000);
    expect(after.RAM).toEqual({ id: before.RAM!.id, type: 'RAM', total: 8 * GiB, reserved: GiB, allocationRatio: 1.5 });
    expect((await t.ok('query ($id: ID!) { host(id: $id) { facts { memoryBytes cpus hostname } } }', { id: a.hostId })).host.facts).toEqual({ memoryBytes: 8 * GiB, cpus: 3, hostname: 'machine-3' });
    expect((await resources(b.hostId)).RAM).toMatchObject({ total: 12 * GiB, reserved: 0 });
    expect(Object.keys(await resources(a.hostId)).sort()).toEqual(Object.keys(before).sort());
  });
});
