import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { RspProcess, RspResult, runRsp, spawnRsp } from '../helpers/cli';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { describeWithEngine } from '../helpers/engines';
import { createLab, NetnsLab } from '../helpers/netns';
import { readmeSection, ReadmeStep, walkthroughSteps } from '../helpers/readme';
import { until } from '../helpers/until';
import { freePort } from '../helpers/free-port';

const sh = promisify(execFile);

/** Heartbeats and the DOWN threshold of this file's gateway: short, so a cut link is seen within seconds. */
const HEARTBEAT_MS = '200';
const DOWN_AFTER_MS = '1500';

/**
 * Issue 19, across machines: the gateway (`rsp serve`, root namespace) and agents (`rsp agent`,
 * each in its own network namespace with its own data directory) as separate OS processes on a
 * private bridge, Docker as the real engine. First the README's two-machine walkthrough, line by
 * line; then a second agent: replicate and migrate between them, cut one off (failover, no double
 * run once the link is back), kill -9 an agent mid-create, kill -9 the gateway under load.
 * What the walkthrough's lines get beyond the README: a free port instead of 4000, a temporary
 * data folder and PostgreSQL database, short heartbeats, and `fake` as the gateway's own driver
 * (machine 1 runs no environment; its Docker is machine 2's).
 */
describeWithEngine('netns', 'agents in network namespaces (rsp serve + rsp agent processes)', () => {
  describeWithEngine('docker', 'on Docker', () => {
    const docker = new Docker();
    let lab: NetnsLab;
    let db: TestDatabase;
    let dir: string;
    let port: number;
    let gateway: RspProcess;
    let adminToken = '';
    const agents: Record<string, { process: RspProcess; dataDir: string; args: string[] }> = {};
    const ids: Record<string, string> = {};
    const envIds = new Set<string>();

    const gatewayEnv = () => ({ DATABASE_URL: db.databaseUrl, RSP_DATA_DIR: join(dir, 'gateway'), RSP_DRIVERS: 'fake', RSP_BOOTSTRAP: 'off', RSP_SITE_NAME: 'netns', RSP_HEARTBEAT_MS: HEARTBEAT_MS, RSP_HOST_DOWN_AFTER_MS: DOWN_AFTER_MS, RSP_REPLICATION_INTERVAL_MS: '0', LOG_FORMAT: 'json', LOG_LEVEL: 'warn' });
    const startGateway = async (args: string[]) => {
      gateway = spawnRsp([...args, '--port', String(port)], gatewayEnv(), dir);
      await gateway.waitFor(/GraphQL endpoint:\s+http:\/\/\S+\/graphql/, 60_000);
      return gateway;
    };
    /** The CLI on machine 1 (the root namespace), logged in through the README's `rsp login`. */
    const cli = (args: string[]) => runRsp(args, { RSP_CLI_CONFIG: join(dir, 'rsp-config.json') }, dir);
    const ok = async (args: string[]): Promise<RspResult> => {
      const r = await cli(args);
      if (r.code !== 0) throw new Error(`rsp ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
      return r;
    };
    const gql = async <T = any>(query: string, variables: Record<string, unknown> = {}): Promise<T> => {
      const res = await fetch(`http://127.0.0.1:${port}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` }, body: JSON.stringify({ query, variables }) });
      const body = (await res.json()) as { data?: T; errors?: unknown[] };
      if (body.errors?.length) throw new Error(`${query}: ${JSON.stringify(body.errors)}`);
      return body.data!;
    };
    const startAgent = (node: string, args: string[], dataDir: string) => {
      const process = spawnRsp(args, { LOG_FORMAT: 'json', LOG_LEVEL: 'info' }, dir, lab.nodes[node]!.exec);
      agents[node] = { process, dataDir, args };
      return process;
    };
    const hostState = async (id: string) => (await gql('query ($id: ID!) { host(id: $id) { state } }', { id })).host.state as string;
    const waitHost = (id: string, state: string, timeoutMs = 30_000) => until(`host ${id} ${state}`, async () => (await hostState(id)) === state, timeoutMs);
    const environment = async (id: string) => (await gql('query ($id: ID!) { environment(id: $id) { id hostId status } }', { id })).environment as { id: string; hostId: string; status: string };
    const operation = async (id: string) => {
      const op = (await gql('query ($id: ID!) { operation(id: $id) { id state error { code message } } }', { id })).operation as { id: string; state: string; error: { code: string; message: string } | null };
      return { id: op.id, state: op.state, errorCode: op.error?.code ?? null, errorMessage: op.error?.message ?? null };
    };
    const settled = (id: string, timeoutMs = 60_000) => until(`operation ${id} ended`, async () => {
      const op = await operation(id);
      return ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(op.state) ? op : undefined;
    }, timeoutMs);
    /** The Docker containers of an environment, by name (any agent's instance), with whether each runs. */
    const containersOf = async (envId: string) =>
      (await docker.listContainers({ all: true, filters: { label: [`rsp.environment=${envId}`] } })).map((c) => ({ name: c.Names[0]!.slice(1), running: c.State === 'running' }));

    beforeAll(async () => {
      lab = await createLab(['a', 'b']);
      db = await createTestDatabase('postgres');
      dir = mkdtempSync(join(tmpdir(), 'rsp-netns-'));
      port = await freePort('0.0.0.0');
      // The busybox root filesystem of Getting started (its own lines, run as a reader would).
      const gettingStarted = readmeSection('Getting started');
      for (const line of ['mkdir -p rootfs/bin && cp /bin/busybox rootfs/bin/ && for a in sh sleep hostname; do ln -s busybox rootfs/bin/$a; done', 'tar -C rootfs -cf rootfs.tar .']) {
        expect(gettingStarted).toContain(line);
        await sh('sh', ['-c', line], { cwd: dir });
      }
    }, 120_000);

    afterAll(async () => {
      for (const a of Object.values(agents)) if (a.process.child.exitCode === null && a.process.child.signalCode === null) a.process.child.kill('SIGKILL');
      if (gateway && gateway.child.exitCode === null && gateway.child.signalCode === null) gateway.child.kill('SIGKILL');
      await Promise.all([...Object.values(agents).map((a) => a.process.exited), gateway?.exited]);
      for (const id of envIds) for (const c of await containersOf(id).catch(() => [])) await docker.getContainer(c.name).remove({ force: true }).catch(() => undefined);
      // The images this file made: environments' (migrated, failed over) and the ballast image 2; busybox 1 may be shared.
      const ours = (tag: string) => [...envIds].some((id) => tag.endsWith(`:env-${id}`)) || /^rsp(-b)?:busybox-2$/.test(tag);
      for (const image of await docker.listImages().catch(() => [])) for (const tag of (image.RepoTags ?? []).filter(ours)) await docker.getImage(tag).remove().catch(() => undefined);
      await lab?.teardown();
      await db?.drop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    }, 120_000);

    test("the README's two machines: gateway on machine 1, rsp agent on machine 2 (its own namespace), an environment there", async () => {
      const steps = walkthroughSteps('Two machines, step by step');
      const run = async (expected: string[], use: (step: ReadmeStep, args: string[]) => Promise<RspResult | void>) => {
        const step = steps.shift();
        expect(step?.words.slice(0, expected.length)).toEqual(expected);
        const args = step!.words.slice(1).map((w) =>
          w
            .replace(':4000', `:${port}`)
            .replace('<machine-1-address>', lab.rootAddress)
            .replace('/var/lib/rsp-agent', join(dir, 'agent-a'))
            .replace(/<([a-z0-9-]+)>/g, (m, name: string) => ids[name] ?? m),
        );
        return use(step!, args);
      };

      await run(['rsp', 'serve', '--host', '0.0.0.0'], async (step, args) => {
        expect(step.machine).toBe(1);
        adminToken = ids['site-admin-token'] = (await (await startGateway(args)).waitFor(/shown ONCE[^\n]*\n\s+(rsp_\S+)/))[1]!;
      });
      await run(['rsp', 'login'], async (_, args) => ok(args));
      await run(['rsp', 'group', 'create'], async (_, args) => {
        ids['group-id'] = /Created group alpha \((\S+)\)/.exec((await ok(args)).stdout)![1]!;
      });
      await run(['rsp', 'site', 'create'], async (_, args) => {
        ids['site-id'] = /Created site far \((\S+)\)/.exec((await ok(args)).stdout)![1]!;
      });
      await run(['rsp', 'agent', 'token', 'create', 'box2-agent'], async (_, args) => {
        ids['join-token'] = /\n(rspj_\S+)\n$/.exec((await ok(args)).stdout)![1]!;
      });
      await run(['rsp', 'agent', '--gateway'], async (step, args) => {
        expect(step.machine).toBe(2);
        await startAgent('a', args, join(dir, 'agent-a')).waitFor(/connected to the gateway/);
      });
      await run(['rsp', 'host', 'create', 'box2'], async (step, args) => {
        expect(step.machine).toBe(1);
        ids['host-id'] = /Created host box2 \((\S+)\)/.exec((await ok(args)).stdout)![1]!;
      });
      await run(['rsp', 'image', 'import'], async (_, args) => {
        ids['image-id'] = /Imported busybox:1 \(docker\) as (\S+),/.exec((await ok(args)).stdout)![1]!;
      });
      await run(['rsp', 'env', 'create', 'web'], async (_, args) => {
        const created = await ok(args);
        expect(created.stdout).toMatch(/state:\s+SUCCEEDED/);
        ids['env-id'] = /Environment (\S+)/.exec(created.stderr)![1]!;
        envIds.add(ids['env-id']);
      });
      await run(['rsp', 'env', 'start'], async (_, args) => expect((await ok(args)).stdout).toMatch(/state:\s+SUCCEEDED/));
      await run(['rsp', 'env', 'exec'], async (_, args) => expect((await ok(args)).stdout).toBe('web\n'));
      // It runs in machine 2's engine: the container of agent box2-agent.
      expect(await containersOf(ids['env-id']!)).toEqual([{ name: `rsp-${ids['env-id']}`, running: true }]);
      await run(['rsp', 'env', 'stop'], async (_, args) => expect((await ok(args)).stdout).toMatch(/state:\s+SUCCEEDED/));
      await run(['rsp', 'env', 'destroy'], async (_, args) => expect((await ok(args)).stdout).toMatch(/state:\s+SUCCEEDED/));
      expect(await containersOf(ids['env-id']!)).toEqual([]);
      expect(steps).toEqual([]);
    }, 300_000);

    test('a second agent (its own namespace and data dir): replicate from A to B, migrate A → B → A', async () => {
      ids['join-b'] = /\n(rspj_\S+)\n$/.exec((await ok(['agent', 'token', 'create', 'box3-agent'])).stdout)![1]!;
      await startAgent('b', ['agent', '--gateway', `http://${lab.rootAddress}:${port}`, '--token', ids['join-b'], '--drivers', 'docker', '--data-dir', join(dir, 'agent-b'), '--instance', 'b'], join(dir, 'agent-b')).waitFor(/connected to the gateway/);
      ids['host-b'] = /Created host box3 \((\S+)\)/.exec((await ok(['host', 'create', 'box3', '--site', ids['site-id']!, '--owner', ids['group-id']!, '--agent', 'box3-agent'])).stdout)![1]!;
      await waitHost(ids['host-b'], 'UP');

      const created = await ok(['env', 'create', 'db', '--host', ids['host-id']!, '--image', ids['image-id']!, '--group', ids['group-id']!]);
      const env = (ids['db'] = /Environment (\S+)/.exec(created.stderr)![1]!);
      envIds.add(env);
      await ok(['env', 'start', env]);
      const policy = JSON.parse((await ok(['--json', 'replicate', 'policy', 'create', env, '--schedule', 'every 60 minutes', '--target', 'HOST', '--target-id', ids['host-b'], '--auto-failover'])).stdout).id as string;
      ids['policy'] = policy;
      await ok(['replicate', 'now', policy]);
      const replicas = (await gql('query ($e: ID!) { replicas(environmentId: $e) { id storeHostId bytes } }', { e: env })).replicas as Array<{ storeHostId: string; bytes: number }>;
      expect(replicas).toEqual([expect.objectContaining({ storeHostId: ids['host-b'] })]);
      expect(replicas[0]!.bytes).toBeGreaterThan(0);

      expect((await ok(['env', 'migrate', env, '--host', ids['host-b']])).stdout).toMatch(/state:\s+SUCCEEDED/);
      expect(await environment(env)).toMatchObject({ hostId: ids['host-b'], status: 'RUNNING' });
      expect(await containersOf(env)).toEqual([{ name: `rsp-b-${env}`, running: true }]);
      expect((await ok(['env', 'exec', env, '--', 'hostname'])).stdout).toBe('db\n');

      expect((await ok(['env', 'migrate', env, '--host', ids['host-id']!])).stdout).toMatch(/state:\s+SUCCEEDED/);
      expect(await environment(env)).toMatchObject({ hostId: ids['host-id'], status: 'RUNNING' });
      expect(await containersOf(env)).toEqual([{ name: `rsp-${env}`, running: true }]);
      await ok(['replicate', 'now', policy]);
    }, 300_000);

    test("cut A's link: A self-fences, its host goes DOWN, B starts the replica; once the link is back nothing runs twice", async () => {
      const env = ids['db']!;
      await lab.cut('a');
      // Isolated, A cannot renew its lease: it stops its environment itself (self-fencing).
      const fenced = agents.a!.process.waitFor(new RegExp(`"environment":"${env}"[^\n]*self-fenced: environment stopped`), 30_000);
      await waitHost(ids['host-id']!, 'DOWN');
      await fenced;
      expect(await containersOf(env)).toEqual([{ name: `rsp-${env}`, running: false }]);
      await until('failover to B', async () => {
        const e = await environment(env);
        return e.hostId === ids['host-b'] && e.status === 'RUNNING';
      }, 60_000);
      expect((await ok(['env', 'exec', env, '--', 'hostname'])).stdout).toBe('db\n');
      expect((await containersOf(env)).filter((c) => c.running)).toEqual([{ name: `rsp-b-${env}`, running: true }]);

      await lab.restore('a');
      await waitHost(ids['host-id']!, 'UP', 90_000);
      // The split-brain guard stopped A's copy before A's host came back UP: one runs, on B.
      expect((await containersOf(env)).filter((c) => c.running)).toEqual([{ name: `rsp-b-${env}`, running: true }]);
      expect(await environment(env)).toMatchObject({ hostId: ids['host-b'], status: 'RUNNING' });
    }, 180_000);

    const createEnv = async (name: string, hostId: string, imageId: string) => {
      const r = await gql('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: ids['group-id'], hostId, imageId, name } });
      envIds.add(r.createEnvironment.environment.id);
      return { env: r.createEnvironment.environment.id as string, op: r.createEnvironment.operation.id as string };
    };

    test('kill -9 an agent mid-create: the operation ends FAILED with a clear message; back, the agent reconciles', async () => {
      // An image B has not cached (32 MiB it must fetch from the gateway), so the create lasts.
      await sh('sh', ['-c', 'mkdir -p rootfs2 && cp -a rootfs/. rootfs2/ && head -c 33554432 /dev/urandom > rootfs2/ballast && tar -C rootfs2 -cf rootfs2.tar .'], { cwd: dir });
      ids['image-2'] = /Imported busybox:2 \(docker\) as (\S+),/.exec((await ok(['image', 'import', 'busybox', '2', 'docker', 'rootfs2.tar', '--group', ids['group-id']!])).stdout)![1]!;
      const { env, op } = await createEnv('cache', ids['host-b']!, ids['image-2']);
      await until('the create running', async () => (await operation(op)).state === 'RUNNING', 30_000, 20);
      const b = agents.b!;
      b.process.child.kill('SIGKILL');
      await b.process.exited;
      const failed = await settled(op);
      expect(failed).toMatchObject({ state: 'FAILED', errorCode: 'UNAVAILABLE' });
      expect(failed.errorMessage).toMatch(/box3-agent/);
      await waitHost(ids['host-b']!, 'DOWN');

      // Back with its saved credential (the join token was spent).
      await startAgent('b', b.args, b.dataDir).waitFor(/connected to the gateway/);
      await waitHost(ids['host-b']!, 'UP');
      expect((await environment(env)).status).toMatch(/^(FAILED|DESTROYED)$/);
      expect((await containersOf(env)).filter((c) => c.running)).toEqual([]);
      // B's other environment (the failover of the cut test) still runs there.
      expect((await ok(['env', 'exec', ids['db']!, '--', 'hostname'])).stdout).toBe('db\n');
    }, 180_000);

    test('kill -9 the gateway under load: agents reconnect to the new one, no operation stays RUNNING', async () => {
      const load = await Promise.all([createEnv('load-a', ids['host-id']!, ids['image-2']!), createEnv('load-b', ids['host-b']!, ids['image-id']!)]);
      const connections = (node: string) => {
        const { stdout, stderr } = agents[node]!.process.output();
        return (stdout + stderr).split('connected to the gateway').length - 1;
      };
      const before = { a: connections('a'), b: connections('b') };
      gateway.child.kill('SIGKILL');
      await gateway.exited;
      await startGateway(['serve', '--host', '0.0.0.0']);
      await until('both agents connected to the new gateway', () => connections('a') > before.a && connections('b') > before.b, 60_000);
      await waitHost(ids['host-id']!, 'UP', 60_000);
      await waitHost(ids['host-b']!, 'UP', 60_000);
      // The killed gateway's operations ended at the restart; the new one's (resuming what agents fenced meanwhile) end too.
      const ends = await Promise.all(load.map((l) => operation(l.op)));
      for (const end of ends) {
        expect(['SUCCEEDED', 'FAILED']).toContain(end.state);
        if (end.state === 'FAILED') expect(end.errorMessage).toMatch(/gateway running this operation stopped before it ended/);
      }
      expect(ends.some((e) => e.state === 'FAILED')).toBe(true);
      const inFlight = async () => (await Promise.all(['RUNNING', 'PENDING'].map(async (s) => (await gql('query ($s: OperationState) { operations(state: $s) { totalCount } }', { s })).operations.totalCount as number))).reduce((a, b) => a + b);
      await until('no operation RUNNING or PENDING', async () => (await inFlight()) === 0, 60_000, 250);
      // Their environments do not stay CREATING: settled from the engine when their agent reconnected.
      for (const l of load) await until(`environment ${l.env} settled`, async () => ['FAILED', 'STOPPED', 'CREATED', 'RUNNING'].includes((await environment(l.env)).status), 30_000);
      // The agents serve the new gateway: B's environment answers (started again if B fenced it while the gateway was away).
      await until('db running on B again', async () => (await cli(['env', 'exec', ids['db']!, '--', 'hostname'])).stdout === 'db\n', 60_000, 250);
      expect(await environment(ids['db']!)).toMatchObject({ hostId: ids['host-b'], status: 'RUNNING' });
    }, 180_000);
  });
});
