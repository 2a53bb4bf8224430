import { readFile } from 'node:fs/promises';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { describeWithEngine } from '../helpers/engines';
import { collect, startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, World } from '../helpers/scenario';
import { buildBusyboxRootfs } from '../fixtures/busybox-rootfs';

const MiB = 2 ** 20;

interface EnvSample {
  environmentId: string;
  cpuSeconds: number;
  memoryBytes: number;
  memoryLimitBytes: number | null;
  networkRxBytes: number;
  networkTxBytes: number;
  diskReadBytes: number;
  pids: number | null;
}

/** Done-when of issue 10: a real graphql-ws client receives real host metrics and real metrics of a running Docker container. */
describeWithEngine('docker', 'live metrics of a Docker container through graphql-ws', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;
  let env: string;

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db, { RSP_DRIVERS: 'docker', RSP_METRICS_INTERVAL_MS: '1000' });
    w = await buildWorld(t);
    const image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: 'busybox', version: '1', technology: 'docker' } })).registerImage.id;
    expect((await t.upload(image, await readFile(await buildBusyboxRootfs()))).status).toBe(200);
    const created = (await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: w.groupA, hostId: w.host1, imageId: image, name: 'metered', network: 'bridge', limits: { memoryBytes: 64 * MiB, pids: 64 } } })).createEnvironment;
    env = created.environment.id;
    expect((await t.gateway.services.operations.settled(created.operation.id)).state).toBe('SUCCEEDED');
    expect((await t.gateway.services.operations.settled((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: env })).startEnvironment.id)).state).toBe('SUCCEEDED');
  }, 120_000);

  afterAll(async () => {
    const res = await t?.gql('mutation ($id: ID!) { destroyEnvironment(id: $id) { id } }', { id: env });
    if (res?.data) await t.gateway.services.operations.settled(res.data.destroyEnvironment.id);
    await t?.close();
    await db?.drop();
  }, 120_000);

  test('host and container samples arrive over graphql-ws and are sane', async () => {
    const client = t.ws({ authorization: `Bearer ${w.tokens.viewerA}` });
    let hostSeen = 0;
    const host = collect<{ hostMetrics: { memory: { totalBytes: number; usedBytes: number }; cpu: { usage: number; cores: number[] }; networks: Array<{ interface: string; rxBytes: number }>; disks: Array<{ readBytes: number; writeBytes: number }> } }>(
      client,
      'subscription ($h: ID!) { hostMetrics(hostId: $h) { memory { totalBytes usedBytes } cpu { usage cores } networks { interface rxBytes } disks { readBytes writeBytes } } }',
      { h: w.host1 },
      () => (hostSeen += 1) >= 3,
      30_000,
    );
    const samples: EnvSample[] = [];
    const container = collect<{ environmentMetrics: EnvSample }>(
      client,
      'subscription ($e: ID!) { environmentMetrics(environmentId: $e) { environmentId cpuSeconds memoryBytes memoryLimitBytes networkRxBytes networkTxBytes diskReadBytes pids } }',
      { e: env },
      (e) => samples.push(e.environmentMetrics) >= 4,
      60_000,
    );
    await container.ready;
    // Work inside the container while it is sampled, so CPU time visibly grows.
    await t.ok('mutation ($id: ID!) { execEnvironment(id: $id, command: ["sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"]) { exitCode } }', { id: env });
    await Promise.all([host.done, container.done]);

    for (const e of host.events) {
      const m = e.hostMetrics;
      expect(m.memory.totalBytes).toBeGreaterThan(0);
      expect(m.memory.usedBytes).toBeLessThanOrEqual(m.memory.totalBytes);
      expect(m.cpu.usage).toBeGreaterThanOrEqual(0);
      expect(m.cpu.usage).toBeLessThanOrEqual(1);
    }
    for (let i = 1; i < host.events.length; i++) {
      const [prev, cur] = [host.events[i - 1]!.hostMetrics, host.events[i]!.hostMetrics];
      const lo = (m: typeof cur) => m.networks.find((n) => n.interface === 'lo')!.rxBytes;
      expect(lo(cur)).toBeGreaterThanOrEqual(lo(prev));
    }

    for (const s of samples) {
      expect(s.environmentId).toBe(env);
      expect(s.memoryBytes).toBeGreaterThan(0);
      expect(s.memoryLimitBytes).toBe(64 * MiB);
      expect(s.memoryBytes).toBeLessThanOrEqual(s.memoryLimitBytes!);
      expect(s.pids).toBeGreaterThanOrEqual(1);
    }
    for (let i = 1; i < samples.length; i++) {
      expect(samples[i]!.cpuSeconds).toBeGreaterThanOrEqual(samples[i - 1]!.cpuSeconds);
      expect(samples[i]!.networkRxBytes).toBeGreaterThanOrEqual(samples[i - 1]!.networkRxBytes);
      expect(samples[i]!.diskReadBytes).toBeGreaterThanOrEqual(samples[i - 1]!.diskReadBytes);
    }
    expect(samples[samples.length - 1]!.cpuSeconds).toBeGreaterThan(samples[0]!.cpuSeconds);
  });
});
