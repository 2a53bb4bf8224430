import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { resolveDockerConfig } from '../../drivers/docker';
import { ArtifactStore } from '../../gateway/artifacts/artifact-store';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { describeWithEngine } from '../helpers/engines';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { buildBusyboxRootfs } from '../fixtures/busybox-rootfs';
import { until } from '../helpers/until';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');
const RSP = join(ROOT, 'dist', 'gateway', 'cli', 'rsp.js');

/**
 * Two host agents in one gateway (agents `a` and `b`, each with its own data directory and Docker
 * driver instance on the one engine): an environment with data in its volume and an auto-failover
 * policy is replicated; agent `a` is cut off (its host is lost, its container keeps running on the
 * engine); the failure detector marks host A DOWN and failover starts the replica on host B with
 * the data intact; when `a` comes back, the split-brain guard removes its stale copy before host A
 * is UP; then the environment migrates back to A, data intact, downtime reported.
 */
describeWithEngine('docker', 'failover and migration between two host agents on Docker', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let engine: Docker;
  let group: string;
  let hostA: string;
  let hostB: string;
  let image: string;
  const envIds: string[] = [];

  const settle = async (operationId: string) => {
    const op = await t.gateway.services.operations.settled(operationId);
    expect({ state: op.state, error: op.errorMessage }).toEqual({ state: 'SUCCEEDED', error: null });
    return op;
  };
  const exec = async (id: string, command: string[]) => (await t.ok('mutation ($id: ID!, $c: [String!]!) { execEnvironment(id: $id, command: $c) { exitCode stdout stderr } }', { id, c: command })).execEnvironment;
  const host = async (id: string) => (await t.ok('query ($id: ID!) { host(id: $id) { state agent lastHeartbeatAt } }', { id })).host as { state: string; agent: string; lastHeartbeatAt: string | null };
  const environment = async (id: string) => (await t.ok('query ($id: ID!) { environment(id: $id) { hostId status } }', { id })).environment as { hostId: string; status: string };
  /** The engine's containers of an environment, by name (every instance's). */
  const containers = async (id: string) => (await engine.listContainers({ all: true, filters: { label: [`rsp.environment=${id}`] } })).map((c) => ({ name: c.Names[0]!.slice(1), state: c.State }));
  const create = async (name: string, hostId: string) => {
    const { createEnvironment } = await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', {
      i: { groupId: group, hostId, imageId: image, name, network: 'none', volumes: [{ name: 'data', mountPath: '/data' }] },
    });
    envIds.push(createEnvironment.environment.id);
    await settle(createEnvironment.operation.id);
    await settle((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: createEnvironment.environment.id })).startEnvironment.id);
    return createEnvironment.environment.id as string;
  };

  beforeAll(async () => {
    engine = new Docker(resolveDockerConfig().connection);
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db, { RSP_DRIVERS: 'docker', RSP_AGENTS: 'a,b', RSP_HEARTBEAT_MS: '200', RSP_HOST_DOWN_AFTER_MS: '1000' });
    group = (await t.ok('mutation { createGroup(input: { slug: "ops", name: "Ops" }) { id } }')).createGroup.id;
    const site = (await t.ok('mutation ($g: ID!) { createSite(input: { name: "two", ownerGroupId: $g }) { id } }', { g: group })).createSite.id;
    const newHost = async (hostname: string, agent: string) => (await t.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: site, ownerGroupId: group, hostname, drivers: ['docker'], agent } })).createHost.id as string;
    hostA = await newHost('host-a', 'a');
    hostB = await newHost('host-b', 'b');
    image = (await t.ok('mutation ($g: ID!) { registerImage(input: { vendorGroupId: $g, name: "busybox", version: "1", technology: "docker" }) { id } }', { g: group })).registerImage.id;
    expect((await t.upload(image, await readFile(await buildBusyboxRootfs()))).status).toBe(200);
  }, 120_000);

  afterAll(async () => {
    for (const id of envIds) {
      const res = await t.gql('mutation ($id: ID!) { destroyEnvironment(id: $id) { id } }', { id });
      if (res.data) await t.gateway.services.operations.settled(res.data.destroyEnvironment.id);
      for (const c of await containers(id)) await engine.getContainer(c.name).remove({ force: true }).catch(() => undefined);
    }
    await t?.close();
    await db?.drop();
  }, 120_000);

  test('each agent beats for its hosts and sees only its own driver instance\'s containers', async () => {
    const a = await until('heartbeats', async () => ((await host(hostA)).lastHeartbeatAt ? host(hostA) : undefined), 60_000);
    expect(a).toMatchObject({ state: 'UP', agent: 'a' });
    const before = Date.parse(a.lastHeartbeatAt!);
    await until('a later heartbeat', async () => (Date.parse((await host(hostA)).lastHeartbeatAt!) > before ? true : undefined), 60_000);

    const id = await create('probe', hostB);
    expect(await containers(id)).toEqual([{ name: `rsp-b-${id}`, state: 'running' }]);
    const agentA = t.gateway.agents.get('a')!;
    const agentB = t.gateway.agents.get('b')!;
    expect((await agentB.listEnvironments({ driver: 'docker' })).map((e) => e.id)).toContain(id);
    expect((await agentA.listEnvironments({ driver: 'docker' })).map((e) => e.id)).not.toContain(id);
    await settle((await t.ok('mutation ($id: ID!) { destroyEnvironment(id: $id) { id } }', { id })).destroyEnvironment.id);
    expect(await containers(id)).toEqual([]);
  }, 120_000);

  test('host A lost → DOWN and fenced → failover runs the replica on B with the data; A back → its stale copy removed before UP; migrate back to A', async () => {
    const id = await create('web', hostA);
    expect((await exec(id, ['sh', '-c', 'echo precious > /data/kept.txt && cat /data/kept.txt'])).stdout).toBe('precious\n');
    expect((await exec(id, ['sh', '-c', 'dd if=/dev/urandom of=/data/blob bs=1024 count=16384 2>/dev/null && echo one > /data/note.txt && sync'])).exitCode).toBe(0);
    const policy = (await t.ok('mutation ($i: CreateReplicationPolicyInput!) { createReplicationPolicy(input: $i) { id autoFailover } }', { i: { environmentId: id, targetKind: 'HOST', targetId: hostB, keep: 1, schedule: 'every 60 minutes', autoFailover: true } })).createReplicationPolicy;
    expect(policy.autoFailover).toBe(true);
    const replicate = async () => {
      const { replicaId } = (await settle((await t.ok('mutation ($id: ID!) { replicateNow(policyId: $id) { id } }', { id: policy.id })).replicateNow.id)).result as { replicaId: string };
      return (await t.ok('query ($id: ID!) { replica(id: $id) { id manifestId movedBytes storeHostId } }', { id: replicaId })).replica as { id: string; manifestId: string; movedBytes: number; storeHostId: string };
    };
    // The replica is kept in B's store (its agent's data directory), not only in A's.
    const storeDir = (agent: string) => join(db.dataDir, 'agents', agent, 'artifacts');
    const onDisk = (agent: string) => ArtifactStore.inDirectory(storeDir(agent));
    const first = await replicate();
    expect(first.storeHostId).toBe(hostB);
    expect(first.movedBytes).toBeGreaterThan(16 * 2 ** 20);
    const firstManifest = await onDisk('b').manifest(first.manifestId);
    for (const c of firstManifest.chunks) expect(await onDisk('b').backend.has('chunk', c.hash)).toBe(true);
    // A small change: the second run moves a small fraction of the first's bytes to B, and (keep 1) prunes the first from both stores.
    expect((await exec(id, ['sh', '-c', 'echo two > /data/note.txt && sync'])).exitCode).toBe(0);
    const second = await replicate();
    const fraction = second.movedBytes / first.movedBytes;
    expect(second.movedBytes).toBeGreaterThan(0);
    expect(fraction).toBeLessThan(0.1);
    process.stdout.write(`docker replication a → b: first run moved ${first.movedBytes} bytes to b, second ${second.movedBytes} (${(fraction * 100).toFixed(2)}%)\n`);
    expect(await onDisk('b').has(first.manifestId)).toBe(false);
    expect(await onDisk('a').has(first.manifestId)).toBe(false);
    expect((await onDisk('b').verify(second.manifestId)).ok).toBe(true);
    // A second environment on A without a policy: it is not failed over, and it is fenced while A is DOWN.
    const plain = await create('plain', hostA);

    const events = t.ws();
    const seen: Array<{ kind: string; host?: { id: string; state: string }; alert?: { targetId: string; metric: string; state: string } }> = [];
    const unsubscribe = events.subscribe<{ events: (typeof seen)[number] }>({ query: 'subscription { events { kind host { id state } alert { targetId metric state } } }' }, { next: (v) => v.data && seen.push(v.data.events), error: () => undefined, complete: () => undefined });
    await new Promise((r) => setTimeout(r, 300));

    t.gateway.agents.disconnect('a');
    // A's store is gone with its host: the failover reads the copy on B. (Put back before A returns: its agent still indexes it in memory.)
    await rename(storeDir('a'), `${storeDir('a')}.gone`);
    await until('host A DOWN', async () => ((await host(hostA)).state === 'DOWN' ? true : undefined), 20_000);
    const fenced = await t.gql('mutation ($id: ID!) { stopEnvironment(id: $id) { id } }', { id: plain });
    expect(fenced.errors?.[0]?.extensions?.code).toBe('UNAVAILABLE');
    expect(fenced.errors?.[0]?.message).toMatch(/DOWN \(fenced\)/);

    const failover = await until('the failover operation', async () => {
      const ops = (await t.ok('query ($id: String!) { operations(targetId: $id) { nodes { id kind } } }', { id })).operations.nodes as Array<{ id: string; kind: string }>;
      return ops.find((o) => o.kind === 'environment.failover');
    }, 60_000);
    const op = await settle(failover.id);
    expect(op.result).toMatchObject({ environmentId: id, fromHostId: hostA, toHostId: hostB, started: true, replicaId: second.id });
    expect(await environment(id)).toEqual({ hostId: hostB, status: 'RUNNING' });
    expect(await environment(plain)).toMatchObject({ hostId: hostA });
    expect((await exec(id, ['cat', '/data/kept.txt'])).stdout).toBe('precious\n');
    // Both copies run on the engine now: A's agent was cut off, not its containers.
    expect((await containers(id)).sort((x, y) => x.name.localeCompare(y.name))).toEqual([
      { name: `rsp-a-${id}`, state: 'running' },
      { name: `rsp-b-${id}`, state: 'running' },
    ]);

    await rename(`${storeDir('a')}.gone`, storeDir('a'));
    t.gateway.agents.reconnect('a');
    await until('host A UP', async () => ((await host(hostA)).state === 'UP' ? true : undefined), 20_000);
    expect(await containers(id)).toEqual([{ name: `rsp-b-${id}`, state: 'running' }]);
    expect(await containers(plain)).toEqual([{ name: `rsp-a-${plain}`, state: 'running' }]);
    expect(await environment(id)).toEqual({ hostId: hostB, status: 'RUNNING' });
    await until('the events', async () => (seen.some((e) => e.kind === 'HOST' && e.host?.state === 'UP') ? true : undefined), 5_000);
    unsubscribe();
    expect(seen.filter((e) => e.kind === 'HOST' && e.host?.id === hostA).map((e) => e.host!.state)).toEqual(['DOWN', 'UP']);
    expect(seen.filter((e) => e.kind === 'ALERT').map((e) => `${e.alert!.metric}:${e.alert!.state}`)).toEqual(expect.arrayContaining(['heartbeatSilenceSeconds:FIRING', 'failoverSeconds:FIRING', 'heartbeatSilenceSeconds:RESOLVED']));

    await exec(id, ['sh', '-c', 'echo after-failover >> /data/kept.txt']);
    const replicaIds = async () => ((await t.ok('query ($e: ID) { replicas(environmentId: $e) { id } }', { e: id })).replicas as Array<{ id: string }>).map((r) => r.id).sort();
    const replicasBefore = await replicaIds();
    const migration = (await t.ok('mutation ($id: ID!, $h: ID) { migrateEnvironment(id: $id, hostId: $h) { id } }', { id, h: hostA })).migrateEnvironment;
    const migrated = await settle(migration.id);
    expect(migrated.result).toMatchObject({ environmentId: id, fromHostId: hostB, toHostId: hostA });
    expect(migrated.result!.downtimeMs).toBeGreaterThan(0);
    expect(await environment(id)).toEqual({ hostId: hostA, status: 'RUNNING' });
    expect((await exec(id, ['cat', '/data/kept.txt'])).stdout).toBe('precious\nafter-failover\n');
    expect(await containers(id)).toEqual([{ name: `rsp-a-${id}`, state: 'running' }]);
    expect(await replicaIds()).toEqual(replicasBefore);
  }, 300_000);

  test('migrating to the host it is on is refused, and a DOWN host is no target', async () => {
    const web = envIds[1]!;
    const same = await t.gql('mutation ($id: ID!, $h: ID) { migrateEnvironment(id: $id, hostId: $h) { id } }', { id: web, h: hostA });
    expect(same.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(same.errors?.[0]?.message).toMatch(/already is on host host-a/);
    t.gateway.agents.disconnect('b');
    await until('host B DOWN', async () => ((await host(hostB)).state === 'DOWN' ? true : undefined), 20_000);
    const down = await t.gql('mutation ($id: ID!, $h: ID) { migrateEnvironment(id: $id, hostId: $h) { id } }', { id: web, h: hostB });
    expect(down.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    expect(down.errors?.[0]?.message).toMatch(/host is DOWN, not UP/);
    t.gateway.agents.reconnect('b');
    await until('host B UP', async () => ((await host(hostB)).state === 'UP' ? true : undefined), 20_000);
  }, 120_000);

  test('rsp env migrate moves it and prints the downtime', async () => {
    const web = envIds[1]!;
    const dir = await mkdtemp(join(tmpdir(), 'rsp-cli-migrate-'));
    try {
      const env = { ...(process.env as Record<string, string>), RSP_URL: t.gateway.url, RSP_TOKEN: t.adminToken, RSP_CLI_CONFIG: join(dir, 'config.json') };
      const { stderr } = await run(process.execPath, [RSP, 'env', 'migrate', web, '--host', hostB], { env, cwd: ROOT });
      expect(stderr).toMatch(new RegExp(`Now on host ${hostB}; downtime [1-9][0-9]* ms`));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    expect(await environment(web)).toEqual({ hostId: hostB, status: 'RUNNING' });
    expect((await exec(web, ['cat', '/data/kept.txt'])).stdout).toBe('precious\nafter-failover\n');
    expect(await containers(web)).toEqual([{ name: `rsp-b-${web}`, state: 'running' }]);
  }, 120_000);

  test('a migration that fails on the target puts the environment back: running on its source, data intact', async () => {
    const web = envIds[1]!;
    const startedAt = async () => (await engine.getContainer(`rsp-b-${web}`).inspect()).State.StartedAt;
    const before = await startedAt();
    // Something already holds the environment's place on host A's engine instance: the import there fails.
    const squatter = await engine.createContainer({ name: `rsp-a-${web}`, Image: (await engine.listContainers({ filters: { label: [`rsp.environment=${web}`] } }))[0]!.Image, Cmd: ['true'], Labels: { 'rsp.environment': web, 'rsp.instance': 'a' } });
    try {
      const migration = (await t.ok('mutation ($id: ID!, $h: ID) { migrateEnvironment(id: $id, hostId: $h) { id } }', { id: web, h: hostA })).migrateEnvironment;
      const op = await t.gateway.services.operations.settled(migration.id);
      expect(op.state).toBe('FAILED');
      expect(op.errorMessage).toMatch(/exists/);
    } finally {
      await squatter.remove({ force: true });
    }
    expect(await environment(web)).toEqual({ hostId: hostB, status: 'RUNNING' });
    expect(await containers(web)).toEqual([{ name: `rsp-b-${web}`, state: 'running' }]);
    expect(Date.parse(await startedAt())).toBeGreaterThan(Date.parse(before)); // it was stopped for the move, then started again
    expect((await exec(web, ['cat', '/data/kept.txt'])).stdout).toBe('precious\nafter-failover\n');
  }, 120_000);
});
