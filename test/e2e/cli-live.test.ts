import { mkdtempSync, rmSync } from 'node:fs';
import { totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRootfsTar } from '../../drivers/fake';
import { runRsp, spawnRsp } from '../helpers/cli';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, GiB, World } from '../helpers/scenario';

/** Each test runs the CLI several times, a few seconds each on a busy machine. */
const SLOW = 180_000;

/** `rsp top` and `rsp events` against an in-process gateway sampling this machine's real metrics. */
describe('rsp top and rsp events', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;
  let dir: string;
  let env: string;

  const rsp = (args: string[], token: string | null = t.adminToken) => runRsp(args, { RSP_URL: t.gateway.url, RSP_TOKEN: token ?? undefined, RSP_CLI_CONFIG: join(dir, 'config.json') });
  const follow = (args: string[], token: string | null = t.adminToken) => spawnRsp(args, { RSP_URL: t.gateway.url, RSP_TOKEN: token ?? undefined, RSP_CLI_CONFIG: join(dir, 'config.json') });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rsp-cli-live-'));
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db, { RSP_METRICS_INTERVAL_MS: '300' });
    w = await buildWorld(t);
    const image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: 'fake', version: '1', technology: 'fake' } })).registerImage.id;
    await t.upload(image, createRootfsTar({ '/etc/hostname': 'x' }));
    const created = (await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: w.groupA, hostId: w.host1, imageId: image, name: 'watched', limits: { memoryBytes: GiB } } })).createEnvironment;
    env = created.environment.id;
    await t.gateway.services.operations.settled(created.operation.id);
    await t.gateway.services.operations.settled((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: env })).startEnvironment.id);
  }, SLOW);
  afterAll(async () => {
    await t?.close();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('rsp top --once --host prints a real sample of this machine in human units', async () => {
    const res = await rsp(['top', '--once', '--host', w.host1], w.tokens.viewerA);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const lines = res.stdout.split('\n');
    expect(lines[0]).toMatch(/^rsp top — \d{4}-\d\d-\d\dT/);
    const header = lines.findIndex((l) => l.startsWith('HOST '));
    expect(lines[header]).toMatch(/^HOST\s+CPU\s+CORES\s+LOAD\s+MEMORY\s+NET RX\s+NET TX\s+DISK READ\s+DISK WRITE\s+ID$/);
    const row = lines[header + 1]!;
    expect(row).toMatch(new RegExp(`^zaphod\\s+\\d+\\.\\d%\\s+\\d+\\s+\\d+\\.\\d\\d\\s+\\d+\\.\\d/\\d+\\.\\d GiB\\s+[\\d.]+ [kMG]?bit/s\\s+[\\d.]+ [kMG]?bit/s\\s+[\\d.]+ [KMG]?i?B/s\\s+[\\d.]+ [KMG]?i?B/s\\s+${w.host1}$`));
    // The total is this machine's memory, as /proc/meminfo says.
    const [, used, total] = /(\d+\.\d)\/(\d+\.\d) GiB/.exec(row)!;
    expect(Number(total)).toBeCloseTo(totalmem() / GiB, 0);
    expect(Number(used)).toBeLessThanOrEqual(Number(total));
  }, SLOW);

  test('a running rsp top picks up an environment started after it', async () => {
    const top = spawnRsp(['top', '--json'], { RSP_URL: t.gateway.url, RSP_TOKEN: w.tokens.memberA, RSP_CLI_CONFIG: join(dir, 'config.json'), RSP_TOP_REFRESH_MS: '300' });
    try {
      await top.waitFor(/"name":"watched"/);
      expect(top.output().stdout).not.toMatch(/"name":"later"/);
      const image = (await t.ok('{ images { id name } }')).images.find((i: { name: string }) => i.name === 'fake').id;
      const created = (await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: w.groupA, hostId: w.host1, imageId: image, name: 'later' } })).createEnvironment;
      await t.gateway.services.operations.settled(created.operation.id);
      await t.gateway.services.operations.settled((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: created.environment.id })).startEnvironment.id);
      await top.waitFor(/"name":"later"/);
      await t.gateway.services.operations.settled((await t.ok('mutation ($id: ID!) { stopEnvironment(id: $id) { id } }', { id: created.environment.id })).stopEnvironment.id);
    } finally {
      top.child.kill('SIGTERM');
    }
    expect((await top.exited).code).toBe(0);
  }, SLOW);

  test('a following rsp top ends cleanly on SIGTERM while target refreshes are in flight', async () => {
    // Refreshing every 5 ms keeps a refresh in flight almost always: one that lands after the
    // signal must not open subscriptions that keep the process alive.
    const top = spawnRsp(['top', '--json'], { RSP_URL: t.gateway.url, RSP_TOKEN: w.tokens.memberA, RSP_CLI_CONFIG: join(dir, 'config.json'), RSP_TOP_REFRESH_MS: '5' });
    try {
      await top.waitFor(/"name":"watched"/);
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      top.child.kill('SIGTERM');
    }
    let hung: NodeJS.Timeout | undefined;
    const stillRunning = new Promise<'hung'>((r) => (hung = setTimeout(() => r('hung'), 60_000)));
    const result = await Promise.race([top.exited, stillRunning]);
    clearTimeout(hung);
    if (result === 'hung') {
      top.child.kill('SIGKILL');
      throw new Error('rsp top was still running 60 s after SIGTERM');
    }
    expect(result.code).toBe(0);
  }, SLOW);

  test('rsp top --once --json: one JSON line per host and running environment, with the real samples', async () => {
    const res = await rsp(['top', '--once', '--json'], w.tokens.viewerA);
    expect(res.code).toBe(0);
    const samples = res.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const hosts = samples.filter((s) => s.kind === 'host');
    // Only host1 is this machine (RSP_LOCAL_HOST); nothing samples host2, so top reports it missing.
    expect(hosts.map((s) => s.hostId)).toEqual([w.host1]);
    expect(res.stderr).toMatch(/no sample yet from host /);
    for (const h of hosts) {
      expect(Math.abs(h.memory.totalBytes - totalmem()) / totalmem()).toBeLessThan(0.01);
      expect(h.memory.usedBytes).toBeLessThanOrEqual(h.memory.totalBytes);
      expect(h.cpu.usage).toBeGreaterThanOrEqual(0);
      expect(h.cpu.usage).toBeLessThanOrEqual(1);
      expect(h.networks.some((n: { interface: string }) => n.interface === 'lo')).toBe(true);
    }
    expect(samples.filter((s) => s.kind === 'environment')).toEqual([expect.objectContaining({ kind: 'environment', name: 'watched', environmentId: env, groupId: w.groupA, memoryLimitBytes: GiB })]);
  }, SLOW);

  test('rsp top --once --env and --site', async () => {
    const res = await rsp(['top', '--once', '--env', env, '--site', w.site], w.tokens.memberA);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(new RegExp(`ENVIRONMENTS\\nENVIRONMENT\\s+CPU\\s+MEMORY\\s+NET RX\\s+NET TX\\s+PIDS\\s+HOST\\s+ID\\nwatched\\s+\\d+\\.\\d%\\s+[\\d.]+ [KMG]?i?B / 1 GiB\\s+[\\d.]+ [kMG]?bit/s\\s+[\\d.]+ [kMG]?bit/s\\s+\\S+\\s+${w.host1}\\s+${env}\\n`));
    expect(res.stdout).toMatch(new RegExp(`SITES\\nSITE\\s+HOSTS\\s+ENVS\\s+CPU\\s+MEMORY\\s+NET RX\\s+NET TX\\s+ID\\nnorth\\s+1\\s+1\\s+\\d+\\.\\d%\\s+\\d+\\.\\d/\\d+\\.\\d GiB`));
  }, SLOW);

  test("rsp top on another group's environment or an unknown host: NOT_FOUND, exit 4", async () => {
    const theirs = await rsp(['top', '--once', '--env', env], w.tokens.memberB);
    expect(theirs.code).toBe(4);
    expect(theirs.stderr).toMatch(/^rsp: .*\[NOT_FOUND\]\n$/);
    const unknown = await rsp(['top', '--once', '--host', '00000000-0000-4000-8000-000000000000']);
    expect(unknown.code).toBe(4);
  }, SLOW);

  test('rsp events --json receives the operation and environment events of a restart', async () => {
    const events = follow(['events', '--json', '--count', '3'], w.tokens.viewerA);
    await events.waitFor(/following events/);
    await new Promise((r) => setTimeout(r, 300));
    await t.gateway.services.operations.settled((await t.ok('mutation ($id: ID!) { restartEnvironment(id: $id) { id } }', { id: env })).restartEnvironment.id);
    const done = await events.exited;
    expect(done.code).toBe(0);
    const lines = done.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(3);
    expect(lines.some((e) => e.kind === 'OPERATION' && e.operation.kind === 'environment.restart' && e.operation.targetId === env)).toBe(true);
    for (const e of lines) expect(e).toMatchObject({ at: expect.any(String), groupId: w.groupA, dropped: 0 });
  }, SLOW);

  test('rsp events --kind ENVIRONMENT prints one line per environment change', async () => {
    const events = follow(['events', '--kind', 'environment', '--count', '1'], w.tokens.memberA);
    await events.waitFor(/following events/);
    await new Promise((r) => setTimeout(r, 300));
    await t.gateway.services.operations.settled((await t.ok('mutation ($id: ID!) { stopEnvironment(id: $id) { id } }', { id: env })).stopEnvironment.id);
    const done = await events.exited;
    expect(done.code).toBe(0);
    expect(done.stdout).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\S+ ENVIRONMENT +watched (STOPPING|STOPPED) on host ${w.host1} \\(environment ${env}\\)\\n$`));
    await t.gateway.services.operations.settled((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: env })).startEnvironment.id);
  }, SLOW);

  test('rsp events: a bad --kind is a usage error (2); a bad token UNAUTHENTICATED (4); no gateway UNAVAILABLE (3)', async () => {
    const kind = await rsp(['events', '--kind', 'NOPE']);
    expect(kind.code).toBe(2);
    expect(kind.stderr).toMatch(/--kind: unknown NOPE/);
    const bad = await rsp(['events', '--count', '1'], 'rsp_not-a-real-token');
    expect(bad.stderr).toMatch(/^rsp: .*\[UNAUTHENTICATED\]\n$/);
    expect(bad.code).toBe(4);
    const down = await runRsp(['events'], { RSP_URL: 'http://127.0.0.1:1', RSP_TOKEN: t.adminToken, RSP_CLI_CONFIG: join(dir, 'config.json') });
    expect(down.code).toBe(3);
    expect(down.stderr).toMatch(/cannot reach the gateway .*\[UNAVAILABLE\]/);
  }, SLOW);
});
