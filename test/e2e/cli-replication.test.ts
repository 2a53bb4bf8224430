import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createRootfsTar } from '../../drivers/fake';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, World } from '../helpers/scenario';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');
const RSP = join(ROOT, 'dist', 'gateway', 'cli', 'rsp.js');

/** `rsp replicate …`, `rsp replica list` and `rsp restore` against a real in-process gateway (fake driver), run as the built CLI. */
describe('rsp replication commands', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;
  let dir: string;
  let envId: string;

  async function rsp(args: string[], token: string = w.tokens.memberA) {
    const env: Record<string, string> = { ...(process.env as Record<string, string>), RSP_URL: t.gateway.url, RSP_CLI_CONFIG: join(dir, 'config.json'), RSP_TOKEN: token };
    try {
      const { stdout, stderr } = await run(process.execPath, [RSP, ...args], { env, cwd: ROOT });
      return { code: 0, stdout, stderr };
    } catch (e) {
      const err = e as { code: number; stdout: string; stderr: string };
      return { code: err.code, stdout: err.stdout, stderr: err.stderr };
    }
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rsp-cli-repl-'));
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db, { RSP_REPLICATION_INTERVAL_MS: '0' });
    w = await buildWorld(t);
    const image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: 'app', version: '1', technology: 'fake' } })).registerImage.id;
    await t.upload(image, createRootfsTar({ '/srv/data.txt': 'kept\n' }));
    const created = (await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: w.groupA, hostId: w.host1, imageId: image, name: 'app' } })).createEnvironment;
    await t.gateway.services.operations.settled(created.operation.id);
    envId = created.environment.id;
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('policy create → list → now (waits) → replica list → restore → policy delete', async () => {
    const created = await rsp(['replicate', 'policy', 'create', envId, '--schedule', '*/30 * * * *', '--name', 'half-hourly', '--keep', '2', '--encrypted', '--json']);
    expect(created.stderr).toBe('');
    const policy = JSON.parse(created.stdout);
    expect(policy).toMatchObject({ name: 'half-hourly', kind: 'EXTERNAL', keep: 2, encrypted: true, target: { kind: 'STORE', id: null }, status: { state: 'PENDING', failCount: 0 } });
    expect((await rsp(['replicate', 'policy', 'list'])).stdout).toMatch(new RegExp(`${policy.id}\\s+half-hourly\\s+EXTERNAL\\s+STORE\\s+\\*/30 \\* \\* \\* \\*\\s+PENDING`));

    const now = await rsp(['replicate', 'now', policy.id]);
    expect(now.code).toBe(0);
    expect(now.stdout).toMatch(/kind:\s+replication\.run/);
    expect(now.stdout).toMatch(/state:\s+SUCCEEDED/);
    expect((await rsp(['replicate', 'policy', 'show', policy.id])).stdout).toMatch(/state:\s+OK/);

    const replicas = JSON.parse((await rsp(['replica', 'list', '--policy', policy.id, '--json'])).stdout);
    expect(replicas).toHaveLength(1);
    expect(replicas[0]).toMatchObject({ environmentName: 'app', kind: 'EXTERNAL', encrypted: true });
    expect((await rsp(['replica', 'list', '--env', envId])).stdout).toMatch(new RegExp(`${replicas[0].id}\\s+app\\s+EXTERNAL\\s+\\d`));

    const restored = await rsp(['restore', replicas[0].id, '--host', w.host1, '--name', 'app-back']);
    expect(restored.code).toBe(0);
    expect(restored.stdout).toMatch(/state:\s+SUCCEEDED/);
    expect((await t.ok('{ environments { nodes { name status } } }')).environments.nodes).toContainEqual({ name: 'app-back', status: 'STOPPED' });

    const theirs = await rsp(['replicate', 'now', policy.id], w.tokens.memberB);
    expect(theirs.code).not.toBe(0);
    expect(theirs.stderr).toMatch(/NOT_FOUND/);

    expect((await rsp(['replicate', 'policy', 'delete', policy.id])).stdout).toMatch(/Deleted replication policy half-hourly/);
    expect(JSON.parse((await rsp(['replicate', 'policy', 'list', '--json'])).stdout)).toEqual([]);
    // The policy's replica stayed; `rsp replica delete` removes it from the store it lives in (the gateway's: a STORE target).
    expect(JSON.parse((await rsp(['replica', 'list', '--policy', policy.id, '--json'])).stdout)).toHaveLength(1);
    expect(await t.gateway.services.replication.store.has(replicas[0].manifestId)).toBe(true);
    expect((await rsp(['replica', 'delete', replicas[0].id])).stdout).toMatch(new RegExp(`Deleted replica ${replicas[0].id} of app \\(from the gateway's store\\)`));
    expect(JSON.parse((await rsp(['replica', 'list', '--policy', policy.id, '--json'])).stdout)).toEqual([]);
    expect(await t.gateway.services.replication.store.has(replicas[0].manifestId)).toBe(false);
  }, 240_000);

  test('a restore drill: --drill-schedule on create, rsp replica drill restores the newest replica into a scratch environment and records PASSED', async () => {
    const created = await rsp(['replicate', 'policy', 'create', envId, '--schedule', 'every 1 hours', '--name', 'drilled', '--drill-schedule', 'every 6 hours', '--json']);
    expect(created.stderr).toBe('');
    const policy = JSON.parse(created.stdout);
    expect(policy).toMatchObject({ drillSchedule: 'every 6 hours', lastDrill: null });
    const failed = await rsp(['replica', 'drill', policy.id]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/FAILED: the policy has no replica yet/);
    expect((await rsp(['replicate', 'now', policy.id])).code).toBe(0);
    const drilled = await rsp(['replica', 'drill', policy.id]);
    expect(drilled.code).toBe(0);
    expect(drilled.stdout).toMatch(/last drill:\s+PASSED .* started/);
    const shown = JSON.parse((await rsp(['replicate', 'policy', 'show', policy.id, '--json'])).stdout);
    expect(shown.lastDrill).toMatchObject({ state: 'PASSED', started: true, message: null });
    expect((await t.ok('{ environments { nodes { name } } }')).environments.nodes.map((e: { name: string }) => e.name)).not.toContain(shown.lastDrill.environmentName);
    expect((await rsp(['replicate', 'policy', 'delete', policy.id, '--with-replicas'])).code).toBe(0);
  }, 240_000);

  test('rsp replica gc collects a host store for its governing ADMINs and says what it freed; a MEMBER is refused', async () => {
    const collected = await rsp(['replica', 'gc', '--host', w.host1], w.tokens.adminA);
    expect({ code: collected.code, stderr: collected.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    expect(collected.stdout).toMatch(new RegExp(`Freed \\S+( \\S+)? \\(\\d+ chunks\\) from host ${w.host1}'s store`));
    const json = JSON.parse((await rsp(['replica', 'gc', '--host', w.host1, '--json'], w.tokens.adminA)).stdout);
    expect(json).toEqual({ storeHostId: w.host1, removedChunks: expect.any(Number), freedBytes: expect.any(Number) });
    const refused = await rsp(['replica', 'gc', '--host', w.host1], w.tokens.memberA);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/FORBIDDEN/);
  }, 240_000);

  test('INTERNAL policies take commands as JSON argument arrays; bad schedules and shell strings are refused with their codes', async () => {
    const tooOften = await rsp(['replicate', 'policy', 'create', envId, '--schedule', 'every 1 minutes']);
    expect(tooOften.code).not.toBe(0);
    expect(tooOften.stderr).toMatch(/minimum interval is 5 minutes.*BAD_USER_INPUT|BAD_USER_INPUT.*minimum interval is 5 minutes/s);

    const internal = await rsp(['replicate', 'policy', 'create', envId, '--internal', '--schedule', 'every 1 hours', '--backup-command', '["cat","/srv/data.txt"]', '--restore-command', '["tee","/srv/data.txt"]', '--json']);
    expect(JSON.parse(internal.stdout)).toMatchObject({ kind: 'INTERNAL' });
    const shellString = await rsp(['replicate', 'policy', 'create', envId, '--internal', '--schedule', 'every 1 hours', '--backup-command', 'cat /srv/data.txt']);
    expect(shellString.code).toBe(2);
    expect(shellString.stderr).toMatch(/--backup-command must be a JSON array of arguments/);
    expect((await rsp(['replicate', 'policy', 'delete', JSON.parse(internal.stdout).id])).code).toBe(0);
  }, 240_000);
});
