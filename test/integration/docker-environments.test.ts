import { readFile } from 'node:fs/promises';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { describeWithEngine } from '../helpers/engines';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, World } from '../helpers/scenario';
import { buildBusyboxRootfs } from '../fixtures/busybox-rootfs';

const MiB = 2 ** 20;

/**
 * Environments through GraphQL on a real Docker engine: the seed-002 interface, stats, a copy;
 * with `loopback`, the agent is reached through the JSON agent protocol.
 */
function dockerEnvironmentSuite(transport: 'direct' | 'loopback') {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;
  let image: string;
  const ids: string[] = [];

  async function follow(operationId: string) {
    const op = await t.gateway.services.operations.settled(operationId);
    expect({ state: op.state, error: op.errorMessage }).toEqual({ state: 'SUCCEEDED', error: null });
  }
  const exec = async (id: string, command: string[]) => (await t.ok('mutation ($id: ID!, $c: [String!]!) { execEnvironment(id: $id, command: $c) { exitCode stdout stderr } }', { id, c: command })).execEnvironment;

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db, { RSP_DRIVERS: 'docker', ...(transport === 'loopback' ? { RSP_AGENT_TRANSPORT: 'loopback' } : {}) });
    w = await buildWorld(t);
    image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: 'busybox', version: '1', technology: 'docker' } })).registerImage.id;
    const up = await t.upload(image, await readFile(await buildBusyboxRootfs()));
    expect(up.status).toBe(200);
  }, 120_000);

  afterAll(async () => {
    for (const id of ids) {
      const res = await t.gql('mutation ($id: ID!) { destroyEnvironment(id: $id) { id } }', { id });
      if (res.data) await t.gateway.services.operations.settled(res.data.destroyEnvironment.id);
    }
    await t?.close();
    await db?.drop();
  }, 120_000);

  test('create and start through GraphQL; inside, hostname, DNS, config and the data volume are as asked', async () => {
    const { createEnvironment } = await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id driver } operation { id } } }', {
      i: { groupId: w.groupA, hostId: w.host1, imageId: image, name: 'web', hostname: 'web.alpha.example', dns: ['9.9.9.9'], network: 'bridge', config: { SITE: 'alpha' }, limits: { memoryBytes: 128 * MiB, pids: 64 }, volumes: [{ name: 'data', mountPath: '/data' }] },
    });
    const id = createEnvironment.environment.id;
    ids.push(id);
    expect(createEnvironment.environment.driver).toBe('docker');
    await follow(createEnvironment.operation.id);
    await follow((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id })).startEnvironment.id);

    expect(await exec(id, ['hostname'])).toEqual({ exitCode: 0, stdout: 'web.alpha.example\n', stderr: '' });
    expect((await exec(id, ['cat', '/etc/resolv.conf'])).stdout).toMatch(/nameserver 9\.9\.9\.9/);
    expect((await exec(id, ['cat', '/etc/rsp/config.env'])).stdout).toMatch(/SITE=alpha/);
    expect((await exec(id, ['sh', '-c', 'echo $SITE'])).stdout).toBe('alpha\n');
    expect((await exec(id, ['sh', '-c', 'echo kept > /data/kept.txt && cat /data/kept.txt'])).stdout).toBe('kept\n');

    const stats = async () => (await t.ok('query ($id: ID!) { environmentStats(id: $id) { cpuSeconds memoryBytes memoryLimitBytes networkRxBytes pids } }', { id })).environmentStats;
    const first = await stats();
    expect(first.memoryLimitBytes).toBe(128 * MiB);
    expect(first.memoryBytes).toBeGreaterThan(0);
    expect(first.memoryBytes).toBeLessThanOrEqual(128 * MiB);
    await exec(id, ['sh', '-c', 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done']);
    const second = await stats();
    expect(second.cpuSeconds).toBeGreaterThan(first.cpuSeconds);
    expect(second.networkRxBytes).toBeGreaterThanOrEqual(first.networkRxBytes);
  });

  test('a copy (export → import) runs as a second environment with the data intact', async () => {
    const source = ids[0]!;
    const { copyEnvironment } = await t.ok('mutation ($id: ID!) { copyEnvironment(id: $id, name: "web-copy") { environment { id } operation { id } } }', { id: source });
    const copy = copyEnvironment.environment.id;
    ids.push(copy);
    await follow(copyEnvironment.operation.id);
    await follow((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: copy })).startEnvironment.id);
    expect((await exec(copy, ['cat', '/data/kept.txt'])).stdout).toBe('kept\n');
    expect((await exec(copy, ['hostname'])).stdout).toBe('web.alpha.example\n');
    const listed = await t.ok('{ environments { nodes { name status } } }');
    expect(listed.environments.nodes.map((n: { name: string; status: string }) => `${n.name}:${n.status}`).sort()).toEqual(['web-copy:RUNNING', 'web:RUNNING']);
  });

  test('a bandwidth cap on an environment without a network (mode none: no veth) is refused with that reason, never silently ignored', async () => {
    const { createEnvironment } = await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: w.groupA, hostId: w.host1, imageId: image, name: 'bw', network: 'none', limits: { networkBitsPerSecond: 1e6 } } });
    const op = await t.gateway.services.operations.settled(createEnvironment.operation.id);
    expect({ state: op.state, code: op.errorCode, message: op.errorMessage }).toEqual({ state: 'FAILED', code: 'UNSUPPORTED_OPERATION', message: expect.stringContaining('does not support limit networkBitsPerSecond: network mode none gives the container no veth (only loopback): there is no traffic to cap') });
    expect((await t.ok('query ($id: ID!) { environment(id: $id) { status } }', { id: createEnvironment.environment.id })).environment.status).not.toBe('CREATED');
  });
}

describeWithEngine('docker', 'docker environments through the gateway', () => dockerEnvironmentSuite('direct'));
describeWithEngine('docker', 'docker environments through the gateway, the agent reached through the JSON loopback', () => dockerEnvironmentSuite('loopback'));
