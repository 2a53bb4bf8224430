import { createRootfsTar } from '../../drivers/fake';
import type { HostAgent } from '../../gateway/agent/host-agent';
import { EnvironmentLifecycle } from '../../gateway/environments';
import { EnvironmentEntity } from '../../gateway/persistence/entities';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { collect, startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld } from '../helpers/scenario';
import { until } from '../helpers/until';

/** A call of an agent (a `stop`, a `destroy`) held at its start until released: the step calling it stays in its transient status. */
interface HeldCall {
  /** Resolves once the call has been made. */
  reached: Promise<void>;
  /** Lets the held call (and any later one) through, and puts the agent's own method back. */
  release(): void;
}

function holdCall(agent: HostAgent, method: 'stopEnvironment' | 'destroyEnvironment'): HeldCall {
  const own = agent[method] as (...args: unknown[]) => Promise<unknown>;
  let entered!: () => void;
  let open!: () => void;
  const reached = new Promise<void>((resolve) => (entered = resolve));
  const opened = new Promise<void>((resolve) => (open = resolve));
  (agent as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => {
    entered();
    await opened;
    return own.apply(agent, args);
  };
  return {
    reached,
    release() {
      (agent as unknown as Record<string, unknown>)[method] = own;
      open();
    },
  };
}

/** A `stop` of an agent held at its start until released. */
function holdStop(agent: HostAgent): HeldCall {
  return holdCall(agent, 'stopEnvironment');
}

type EnvironmentEvent = { events: { kind: string; environment: { id: string; name: string; status: string; hostId: string } | null } };

/**
 * The one environment lifecycle over the fake driver and two host agents (`a`, `b`): migrate,
 * restore and failover hold MIGRATING, RESTORING and FAILING_OVER (seen in the `events` stream
 * and the environment's status while an agent call is held), and a step racing another for the
 * same environment loses with CONFLICT instead of overwriting it.
 */
describe('environment lifecycle: transient statuses of migrate, restore and failover; races end in CONFLICT', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let hostA: string;
  let hostB: string;
  let env: string;
  let group: string;
  let image: string;

  const environment = async (id: string) => (await t.ok('query ($id: ID!) { environment(id: $id) { hostId status } }', { id })).environment as { hostId: string; status: string };
  const host = async (id: string) => (await t.ok('query ($id: ID!) { host(id: $id) { state } }', { id })).host.state as string;
  const settled = async (operationId: string) => {
    const op = await t.gateway.services.operations.settled(operationId);
    return { state: op.state, error: op.errorMessage, result: op.result };
  };
  /** Follows the `events` stream until the environment named `name` reaches `status` (on `hostId`, when given); resolves with its statuses in order. */
  const watch = async (name: string, status: string, hostId?: string) => {
    const stream = collect<EnvironmentEvent>(t.ws(), 'subscription { events { kind environment { id name status hostId } } }', {}, (e) => e.events.environment?.name === name && e.events.environment.status === status && (!hostId || e.events.environment.hostId === hostId));
    await stream.ready;
    return { statuses: stream.done.then((events) => events.filter((e) => e.events.environment?.name === name).map((e) => e.events.environment!.status)) };
  };

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db, { RSP_AGENTS: 'a,b', RSP_HEARTBEAT_MS: '200', RSP_HOST_DOWN_AFTER_MS: '2000', RSP_REPLICATION_INTERVAL_MS: '0' });
    group = (await t.ok('mutation { createGroup(input: { slug: "ops", name: "Ops" }) { id } }')).createGroup.id;
    const site = (await t.ok('mutation ($g: ID!) { createSite(input: { name: "two", ownerGroupId: $g }) { id } }', { g: group })).createSite.id;
    const newHost = async (hostname: string, agent: string) => (await t.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: site, ownerGroupId: group, hostname, drivers: ['fake'], agent } })).createHost.id as string;
    hostA = await newHost('host-a', 'a');
    hostB = await newHost('host-b', 'b');
    image = (await t.ok('mutation ($g: ID!) { registerImage(input: { vendorGroupId: $g, name: "fake", version: "1", technology: "fake" }) { id } }', { g: group })).registerImage.id;
    expect((await t.upload(image, createRootfsTar({ '/etc/hostname': 'web', '/data/kept.txt': 'precious\n' }))).status).toBe(200);
    const created = (await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: group, hostId: hostA, imageId: image, name: 'web' } })).createEnvironment;
    env = created.environment.id;
    expect((await settled(created.operation.id)).state).toBe('SUCCEEDED');
    expect((await settled((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: env })).startEnvironment.id)).state).toBe('SUCCEEDED');
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test('a migration holds the environment MIGRATING until it runs on the target; a stop meanwhile is CONFLICT', async () => {
    const seen = await watch('web', 'RUNNING', hostB);
    const held = holdStop(t.gateway.agents.get('a')!);
    try {
      const migration = (await t.ok('mutation ($id: ID!, $h: ID) { migrateEnvironment(id: $id, hostId: $h) { id } }', { id: env, h: hostB })).migrateEnvironment.id;
      await held.reached;
      expect(await environment(env)).toEqual({ hostId: hostA, status: 'MIGRATING' });
      const stop = await t.gql('mutation ($id: ID!) { stopEnvironment(id: $id) { id } }', { id: env });
      expect(stop.errors?.[0]).toMatchObject({ extensions: { code: 'CONFLICT' }, message: 'Cannot stop environment web: it is MIGRATING (allowed from RUNNING)' });
      held.release();
      expect(await settled(migration)).toMatchObject({ state: 'SUCCEEDED', error: null });
    } finally {
      held.release();
    }
    expect(await seen.statuses).toEqual(['MIGRATING', 'RUNNING']);
    expect(await environment(env)).toEqual({ hostId: hostB, status: 'RUNNING' });
  });

  test('a stop in progress holds it STOPPING: a migration asked meanwhile is CONFLICT', async () => {
    const held = holdStop(t.gateway.agents.get('b')!);
    try {
      const stop = (await t.ok('mutation ($id: ID!) { stopEnvironment(id: $id) { id } }', { id: env })).stopEnvironment.id;
      await held.reached;
      const migrate = await t.gql('mutation ($id: ID!, $h: ID) { migrateEnvironment(id: $id, hostId: $h) { id } }', { id: env, h: hostA });
      expect(migrate.errors?.[0]).toMatchObject({ extensions: { code: 'CONFLICT' }, message: 'Cannot migrate environment web: it is STOPPING (allowed from CREATED, STOPPED, RUNNING)' });
      held.release();
      expect(await settled(stop)).toMatchObject({ state: 'SUCCEEDED', error: null });
    } finally {
      held.release();
    }
    expect(await environment(env)).toEqual({ hostId: hostB, status: 'STOPPED' });
    expect((await settled((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: env })).startEnvironment.id)).state).toBe('SUCCEEDED');
  });

  test('a stop and a migration asked at once, both held at the host: exactly one starts, the other is CONFLICT', async () => {
    const { hostId } = await environment(env);
    const other = hostId === hostA ? hostB : hostA;
    const held = holdStop(t.gateway.agents.get(hostId === hostA ? 'a' : 'b')!);
    try {
      const [stop, migrate] = await Promise.all([
        t.gql('mutation ($id: ID!) { stopEnvironment(id: $id) { id } }', { id: env }),
        t.gql('mutation ($id: ID!, $h: ID) { migrateEnvironment(id: $id, hostId: $h) { id } }', { id: env, h: other }),
      ]);
      const outcomes = [stop, migrate].map((r) => (r.errors ? r.errors[0]!.extensions!.code : 'STARTED'));
      expect([...outcomes].sort()).toEqual(['CONFLICT', 'STARTED']);
      await held.reached;
      held.release();
      const winner = stop.data?.stopEnvironment?.id ?? migrate.data!.migrateEnvironment.id;
      expect(await settled(winner)).toMatchObject({ state: 'SUCCEEDED', error: null });
      expect(await environment(env)).toEqual(outcomes[0] === 'STARTED' ? { hostId, status: 'STOPPED' } : { hostId: other, status: 'RUNNING' });
    } finally {
      held.release();
    }
    if ((await environment(env)).status === 'STOPPED') expect((await settled((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: env })).startEnvironment.id)).state).toBe('SUCCEEDED');
  });

  test('a step whose end loses the race (its environment written meanwhile) ends FAILED with CONFLICT; a destroy that lost releases nothing', async () => {
    const made = async (name: string) => {
      const created = (await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: group, hostId: hostA, imageId: image, name } })).createEnvironment;
      expect((await settled(created.operation.id)).state).toBe('SUCCEEDED');
      return created.environment.id as string;
    };
    const writtenMeanwhile = (id: string) => t.gateway.dataSource.query('UPDATE environment SET version = version + 1 WHERE id = $1', [id]);
    const allocations = async (id: string) => ((await t.gateway.dataSource.query('SELECT status FROM allocation WHERE "environmentId" = $1', [id])) as Array<{ status: string }>).map((a) => a.status);
    for (const [step, method, transient] of [['stopEnvironment', 'stopEnvironment', 'STOPPING'], ['destroyEnvironment', 'destroyEnvironment', 'DESTROYING']] as const) {
      const id = await made(`raced-${transient.toLowerCase()}`);
      if (step === 'stopEnvironment') expect((await settled((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id })).startEnvironment.id)).state).toBe('SUCCEEDED');
      const held = holdCall(t.gateway.agents.get('a')!, method);
      try {
        const operation = (await t.ok(`mutation ($id: ID!) { ${step}(id: $id) { id } }`, { id }))[step].id;
        await held.reached;
        await writtenMeanwhile(id);
        held.release();
        expect(await settled(operation)).toMatchObject({ state: 'FAILED', error: `Environment raced-${transient.toLowerCase()} changed meanwhile (it is ${transient} now); try again` });
      } finally {
        held.release();
      }
      expect((await environment(id)).status).toBe(transient);
      expect(await allocations(id)).toEqual(['ACTIVE']);
    }
  });

  test('two writers that read the same version: the second loses with CONFLICT and changes nothing', async () => {
    const lifecycle = new EnvironmentLifecycle(t.gateway.dataSource);
    const envs = t.gateway.dataSource.getRepository(EnvironmentEntity);
    const [first, second] = [await envs.findOneByOrFail({ id: env }), await envs.findOneByOrFail({ id: env })];
    const before = await environment(env);
    expect(await lifecycle.begin(first, 'migrate')).toBe('RUNNING');
    await expect(lifecycle.begin(second, 'stop')).rejects.toMatchObject({ category: 'CONFLICT', message: 'Environment web changed meanwhile (it is MIGRATING now); try again' });
    await lifecycle.end(first, { status: 'RUNNING' as EnvironmentEntity['status'] });
    expect(await environment(env)).toEqual(before);
  });

  test('a restore as a new environment is RESTORING until it is made', async () => {
    const replica = await t.gateway.services.replication.replicateEnvironment(env);
    const seen = await watch('web-copy', 'STOPPED');
    const restore = (await t.ok('mutation ($r: ID!, $h: ID!) { restoreReplica(replicaId: $r, hostId: $h, name: "web-copy") { id } }', { r: replica.id, h: hostB })).restoreReplica.id;
    expect(await settled(restore)).toMatchObject({ state: 'SUCCEEDED', error: null });
    expect(await seen.statuses).toEqual(['RESTORING', 'STOPPED']);
    await t.gateway.services.replication.discardReplicas([replica]);
  });

  test('failover holds FAILING_OVER; the stop it took the environment from loses with CONFLICT when its host call returns', async () => {
    const { hostId } = await environment(env);
    const [lost, other] = hostId === hostA ? ['a', hostB] : ['b', hostA];
    const replica = await t.gateway.services.replication.replicateEnvironment(env);
    const held = holdStop(t.gateway.agents.get(lost)!);
    try {
      const stop = (await t.ok('mutation ($id: ID!) { stopEnvironment(id: $id) { id } }', { id: env })).stopEnvironment.id;
      await held.reached;
      const seen = await watch('web', 'STOPPED', other);
      t.gateway.agents.disconnect(lost);
      await until(`host ${lost} DOWN`, async () => ((await host(hostId)) === 'DOWN' ? true : undefined), 20_000);
      const failover = (await t.ok('mutation ($id: ID!, $h: ID) { failoverEnvironment(id: $id, hostId: $h) { id } }', { id: env, h: other })).failoverEnvironment.id;
      expect(await settled(failover)).toMatchObject({ state: 'SUCCEEDED', error: null, result: { started: false, toHostId: other } });
      expect(await seen.statuses).toEqual(['FAILING_OVER', 'STOPPED']);
      held.release();
      const lostStop = await settled(stop);
      expect(lostStop.state).toBe('FAILED');
      expect(lostStop.error).toBe('Environment web changed meanwhile (it is STOPPED now); try again');
      expect(await environment(env)).toEqual({ hostId: other, status: 'STOPPED' });
    } finally {
      held.release();
      await t.gateway.services.replication.discardReplicas([replica]);
    }
    t.gateway.agents.reconnect(lost);
    await until(`host ${lost} UP`, async () => ((await host(hostId)) === 'UP' ? true : undefined), 20_000);
  });
});

/**
 * A gateway stopped in the middle of a migration, restore or failover leaves the new transient
 * statuses behind; reconciliation settles them from what the engine reports.
 */
describe('environment lifecycle: reconciliation settles MIGRATING, RESTORING and FAILING_OVER', () => {
  let db: TestDatabase;
  let t: TestGateway;

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db);
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test('running on the engine → RUNNING; made but stopped → STOPPED; missing → FAILED, saying it was interrupted', async () => {
    const w = await buildWorld(t);
    const image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: 'fake', version: '1', technology: 'fake' } })).registerImage.id;
    expect((await t.upload(image, createRootfsTar({ '/etc/hostname': 'x' }))).status).toBe(200);
    const make = async (name: string, start: boolean) => {
      const created = (await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: w.groupA, hostId: w.host1, imageId: image, name } })).createEnvironment;
      expect((await t.gateway.services.operations.settled(created.operation.id)).state).toBe('SUCCEEDED');
      if (start) expect((await t.gateway.services.operations.settled((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: created.environment.id })).startEnvironment.id)).state).toBe('SUCCEEDED');
      return created.environment.id as string;
    };
    const moving = await make('moving', true);
    const restoring = await make('restoring', false);
    const failing = await make('failing', false);
    await t.gateway.agents.local!.destroyEnvironment({ driver: 'fake', environmentId: failing });
    // What a gateway stopped mid-step leaves in the database.
    const interrupt = (id: string, status: string) => t.gateway.dataSource.query('UPDATE environment SET status = $2, version = version + 1 WHERE id = $1', [id, status]);
    await interrupt(moving, 'MIGRATING');
    await interrupt(restoring, 'RESTORING');
    await interrupt(failing, 'FAILING_OVER');

    const report = await t.gateway.services.environments.reconcile();
    expect(report.checked).toBe(3);
    const seen = async (id: string) => (await t.ok('query ($id: ID!) { environment(id: $id) { status drift lastError } }', { id })).environment;
    expect(await seen(moving)).toEqual({ status: 'RUNNING', drift: null, lastError: null });
    expect(await seen(restoring)).toEqual({ status: 'STOPPED', drift: null, lastError: null });
    expect(await seen(failing)).toEqual({ status: 'FAILED', drift: 'missing on the engine', lastError: 'interrupted: the gateway stopped during this step' });
  });
});
