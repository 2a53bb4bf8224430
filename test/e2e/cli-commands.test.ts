import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { createRootfsTar } from '../../drivers/fake';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, World } from '../helpers/scenario';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');
const RSP = join(ROOT, 'dist', 'gateway', 'cli', 'rsp.js');

/** A driver plugin whose driver (`disk`, technology `disk`) takes qcow2 disk images only. */
const DISK_PLUGIN = join(ROOT, 'test', 'fixtures', 'plugins', 'disk-driver.js');
/** The start of a qcow2 disk image: its magic and version 3, then header bytes. */
const QCOW2 = Buffer.concat([Buffer.from([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3]), Buffer.alloc(1024, 1)]);

/** The rsp commands against a real in-process gateway (the fake driver, and the disk plugin's), run as the built CLI. */
describe('rsp commands against a gateway', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;
  let dir: string;
  let configFile: string;

  /** Runs the built CLI with the gateway's URL and `token`; resolves whatever the exit code. */
  async function rsp(args: string[], token: string | null = t.adminToken, env: Record<string, string> = {}) {
    const base: Record<string, string> = { ...(process.env as Record<string, string>), RSP_URL: t.gateway.url, RSP_CLI_CONFIG: configFile, ...env };
    delete base.RSP_TOKEN;
    if (token) base.RSP_TOKEN = token;
    try {
      const { stdout, stderr } = await run(process.execPath, [RSP, ...args], { env: base, cwd: ROOT });
      return { code: 0, stdout, stderr };
    } catch (e) {
      const err = e as { code: number; stdout: string; stderr: string };
      return { code: err.code, stdout: err.stdout, stderr: err.stderr };
    }
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rsp-cli-cmds-'));
    configFile = join(dir, 'config', 'rsp', 'config.json');
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db, { RSP_PLUGINS: DISK_PLUGIN });
    w = await buildWorld(t);
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('rsp login checks the token and writes the config file with mode 0600; later commands use it', async () => {
    const login = await rsp(['login', '--url', t.gateway.url, '--token', w.tokens.memberA], null, { RSP_URL: '' });
    expect(login.stderr).toBe('');
    expect(login.code).toBe(0);
    expect(login.stdout).toMatch(/Logged in to http:\/\/.* as "ma"/);
    expect(statSync(configFile).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(configFile, 'utf8'))).toEqual({ url: t.gateway.url, token: w.tokens.memberA, groupId: w.groupA });
    // No URL nor token in the environment: both come from the file.
    const images = await rsp(['image', 'list', '--json'], null, { RSP_URL: '' });
    expect(images.code).toBe(0);
    expect(JSON.parse(images.stdout)).toEqual([]);
  });

  test('group create, then list as a table and as JSON, and show', async () => {
    const created = await rsp(['group', 'create', 'gamma', 'Gamma group', '--contact', 'g@example.org', '--json']);
    expect(created.code).toBe(0);
    const group = JSON.parse(created.stdout);
    expect(group).toMatchObject({ slug: 'gamma', name: 'Gamma group', contact: 'g@example.org' });

    const list = await rsp(['group', 'list']);
    expect(list.code).toBe(0);
    const lines = list.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ID\s+SLUG\s+NAME\s+HOSTS\s+NEEDS$/);
    expect(lines.some((l) => l.startsWith(group.id) && /\bgamma\s+Gamma group\b/.test(l))).toBe(true);

    const json = JSON.parse((await rsp(['group', 'list', '--json'])).stdout);
    expect(json.map((g: { slug: string }) => g.slug).sort()).toEqual(['alpha', 'beta', 'gamma']);

    const shown = await rsp(['group', 'show', group.id]);
    expect(shown.stdout).toMatch(/slug:\s+gamma/);
  });

  test('group quota set (site admins) and show: a size, then back to the installation default', async () => {
    const set = await rsp(['group', 'quota', 'set', w.groupB, '2GiB']);
    expect(set.code).toBe(0);
    expect(set.stdout).toMatch(/quota:\s+2 GiB\n/);
    expect(set.stdout).toMatch(/used:\s+0 B of 2 GiB\n/);
    const shown = JSON.parse((await rsp(['group', 'quota', 'show', '--json'], w.tokens.memberB)).stdout);
    expect(shown.storage).toEqual({ quotaBytes: 2 * 1024 ** 3, limitBytes: 2 * 1024 ** 3, usedBytes: 0, imageBytes: 0, replicaBytes: 0, reservedBytes: 0 });
    const refused = await rsp(['group', 'quota', 'set', w.groupB, '1GiB'], w.tokens.memberB);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/FORBIDDEN|site admins/);
    expect((await rsp(['group', 'quota', 'set', w.groupB, 'lots'])).code).toBe(2);
    const reset = await rsp(['group', 'quota', 'set', w.groupB, 'default']);
    expect(reset.stdout).toMatch(/quota:\s+default \(none\)\n/);
  });

  test('image import of a missing tarball registers nothing; a refused upload takes its registration back, so the same import works once fixed', async () => {
    const member = w.tokens.memberA;
    const missing = await rsp(['image', 'import', 'retry-app', '1', 'fake', join(dir, 'no-such-rootfs.tar')], member);
    expect({ code: missing.code, stderr: missing.stderr }).toEqual({ code: 2, stderr: `rsp: cannot read ${join(dir, 'no-such-rootfs.tar')}: ENOENT [BAD_USAGE]\n` });
    const empty = join(dir, 'empty.tar');
    writeFileSync(empty, '');
    const refused = await rsp(['image', 'import', 'retry-app', '1', 'fake', empty], member);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/\[BAD_USER_INPUT\]\n$/);
    expect((await rsp(['image', 'list'], member)).stdout).not.toMatch(/retry-app/);
    const tar = join(dir, 'retry-rootfs.tar');
    writeFileSync(tar, createRootfsTar({ '/etc/hostname': 'retry' }));
    const imported = await rsp(['image', 'import', 'retry-app', '1', 'fake', tar], member);
    expect(imported.code).toBe(0);
    expect(imported.stdout).toMatch(/^Imported retry-app:1 \(fake\) as \S+, /);
  });

  test("image import refuses before registering anything a file of a format no driver of the gateway takes, naming the formats they take; a compressed tar goes to the gateway", async () => {
    const member = w.tokens.memberA;
    const { drivers } = await t.ok<{ drivers: { name: string; imageFormats: string[] }[] }>('{ drivers { name imageFormats } }', {}, member);
    expect(drivers.map((d) => [d.name, d.imageFormats]).sort()).toEqual([['disk', ['qcow2']], ['fake', ['rootfs-tar']]]);
    const taken = drivers.flatMap((d) => d.imageFormats).join(', ');
    const text = join(dir, 'notes.tar');
    writeFileSync(text, 'these are notes, not a root filesystem\n'.repeat(40));
    const refused = await rsp(['image', 'import', 'notes', '1', 'fake', text], member);
    expect({ code: refused.code, stderr: refused.stderr }).toEqual({ code: 2, stderr: `rsp: ${text} is of no image format rsp knows (no tar nor qcow2 header at its start); the gateway's drivers take: ${taken} (rootfs-tar: a root filesystem tarball, e.g. made with tar -C rootfs -cf rootfs.tar .) [BAD_USAGE]\n` });
    const png = join(dir, 'cat.png');
    writeFileSync(png, Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47]), Buffer.alloc(600)]));
    expect(await rsp(['image', 'import', 'cat', '1', 'disk', png], member)).toMatchObject({ code: 2, stderr: expect.stringMatching(/^rsp: \S+cat\.png is a PNG picture; the gateway's drivers take: /) });
    expect((await rsp(['image', 'list'], member)).stdout).not.toMatch(/notes|cat/);
    const gzipped = join(dir, 'rootfs.tar.gz');
    writeFileSync(gzipped, gzipSync(createRootfsTar({ '/etc/hostname': 'gz' })));
    const imported = await rsp(['image', 'import', 'gz-app', '1', 'fake', gzipped], member);
    expect(imported.stderr).toBe('');
    expect(imported.stdout).toMatch(/^Imported gz-app:1 \(fake\) as \S+, /);
  });

  test("image import sends a qcow2 disk when a driver of the gateway takes qcow2; the gateway decides per technology, and its refusal is shown as is", async () => {
    const member = w.tokens.memberA;
    const disk = join(dir, 'disk.qcow2');
    writeFileSync(disk, QCOW2);
    const imported = await rsp(['image', 'import', 'vm', '1', 'disk', disk, '--json'], member);
    expect(imported.stderr).toBe('');
    expect(JSON.parse(imported.stdout)).toMatchObject({ name: 'vm', technology: 'disk', format: 'qcow2', sizeBytes: QCOW2.length, digest: expect.stringMatching(/^sha256:/) });
    // The fake driver takes no qcow2: the gateway refuses the upload (IMAGE_FORMAT) and the registration is taken back.
    const refused = await rsp(['image', 'import', 'vm-on-fake', '1', 'fake', disk], member);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^rsp: .*rootfs-tar.*\[BAD_USER_INPUT\]\n$/);
    expect((await rsp(['image', 'list'], member)).stdout).not.toMatch(/vm-on-fake/);
  });

  test('env create --memory with a number and no unit below 1 MiB is refused with the unit it lacks', async () => {
    const created = await rsp(['env', 'create', 'tiny', '--host', w.host1, '--image', '00000000-0000-0000-0000-000000000000', '--memory', '256'], w.tokens.memberA);
    expect({ code: created.code, stdout: created.stdout, stderr: created.stderr }).toEqual({ code: 2, stdout: '', stderr: 'rsp: --memory: 256 is 256 byte(s), less than 1 MiB: give a unit, e.g. 256MiB or 2GiB [BAD_USAGE]\n' });
  });

  test('env create takes data volumes, config values, published ports and CPU, disk and process limits; malformed ones are refused before anything is sent', async () => {
    const member = w.tokens.memberA;
    const tar = join(dir, 'vol-rootfs.tar');
    writeFileSync(tar, createRootfsTar({ '/etc/os-release': 'ID=vol\n' }));
    const image = JSON.parse((await rsp(['image', 'import', 'vol-app', '1', 'fake', tar, '--json'], member)).stdout);
    const badVolume = await rsp(['env', 'create', 'v0', '--host', w.host1, '--image', image.id, '--volume', 'data'], member);
    expect({ code: badVolume.code, stderr: badVolume.stderr }).toEqual({ code: 2, stderr: 'rsp: --volume data: expected name:/path or name:/path:ro, e.g. data:/var/lib/app [BAD_USAGE]\n' });
    const badConfig = await rsp(['env', 'create', 'v0', '--host', w.host1, '--image', image.id, '--config', 'PORT'], member);
    expect({ code: badConfig.code, stderr: badConfig.stderr }).toEqual({ code: 2, stderr: 'rsp: --config: expected KEY=VALUE, got "PORT" [BAD_USAGE]\n' });
    const badDisk = await rsp(['env', 'create', 'v0', '--host', w.host1, '--image', image.id, '--disk', 'lots'], member);
    expect({ code: badDisk.code, stderr: badDisk.stderr }).toMatchObject({ code: 2, stderr: expect.stringMatching(/^rsp: --disk: .*\[BAD_USAGE\]\n$/) });

    const created = await rsp(['env', 'create', 'vols', '--host', w.host1, '--image', image.id, '--group', w.groupA, '--volume', 'data:/var/lib/app', '--volume', 'seed:/seed:ro', '--config', 'PORT=8080', '--cpus', '0.5', '--disk', '1GiB', '--pids', '64', '--json'], member);
    expect(created.code).toBe(0);
    const envId = JSON.parse(created.stdout).targetId as string;
    const { environment } = await t.ok('query ($id: ID!) { environment(id: $id) { volumes { name kind mountPath readOnly } limits { cpuQuota diskBytes pids } iface { config ports { hostPort port protocol } } } }', { id: envId }, member);
    expect(environment).toEqual({
      volumes: [
        { name: 'data', kind: 'data', mountPath: '/var/lib/app', readOnly: false },
        { name: 'seed', kind: 'data', mountPath: '/seed', readOnly: true },
      ],
      limits: { cpuQuota: 0.5, diskBytes: 2 ** 30, pids: 64 },
      iface: { config: expect.objectContaining({ PORT: '8080' }), ports: [] },
    });
    // Several --publish values reach the gateway (the fake driver publishes none: its refusal names them).
    const published = await rsp(['env', 'create', 'ports', '--host', w.host1, '--image', image.id, '--publish', '18080:80', '5353:53/udp'], member);
    expect({ code: published.code, stderr: published.stderr }).toEqual({ code: 1, stderr: 'rsp: driver fake does not support published ports: the driver cannot publish host ports [UNSUPPORTED_OPERATION]\n' });
    expect((await rsp(['env', 'destroy', envId], member)).code).toBe(0);
  });

  test('image import, env create → start (waits) → exec hostname → stop → destroy', async () => {
    const member = w.tokens.memberA;
    const tar = join(dir, 'rootfs.tar');
    writeFileSync(tar, createRootfsTar({ '/etc/os-release': 'ID=cli\nVERSION=1\n' }));
    const imported = await rsp(['image', 'import', 'cli-app', '1', 'fake', tar, '--json'], member);
    expect(imported.stderr).toBe('');
    const image = JSON.parse(imported.stdout);
    expect(image).toMatchObject({ name: 'cli-app', version: '1', technology: 'fake', vendorGroupId: w.groupA, digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) });
    expect((await rsp(['image', 'list'], member)).stdout).toMatch(/cli-app\s+1\s+fake\s+\d/);

    const created = await rsp(['env', 'create', 'web', '--host', w.host1, '--image', image.id, '--group', w.groupA, '--hostname', 'web.cli.example', '--memory', '1GiB', '--json'], member);
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ kind: 'environment.create', state: 'SUCCEEDED', progress: 1 });
    const envId = /Environment (\S+)/.exec(created.stderr)?.[1];
    expect(envId).toBeDefined();
    expect(JSON.parse(created.stdout).targetId).toBe(envId);

    // People (and `ID=$(… | awk …)`) read the new environment's id and name on stdout, before the operation's end.
    const human = await rsp(['env', 'create', 'web2', '--host', w.host1, '--image', image.id, '--group', w.groupA], member);
    expect(human.code).toBe(0);
    const [, humanId] = /^environment:\s+(\S+)\nname:\s+web2\noperation:\s+\S+\n/.exec(human.stdout) ?? [];
    expect(humanId).toBe(/Environment (\S+)/.exec(human.stderr)?.[1]);
    expect(human.stdout).toMatch(/state:\s+SUCCEEDED/);
    expect((await rsp(['env', 'destroy', humanId!], member)).stdout).toMatch(/state:\s+SUCCEEDED/);

    const started = await rsp(['env', 'start', envId!], member);
    expect(started.code).toBe(0);
    expect(started.stdout).toMatch(/state:\s+SUCCEEDED/);
    expect(started.stderr).toMatch(/start .*100% SUCCEEDED/);
    expect(JSON.parse((await rsp(['env', 'show', envId!, '--json'], member)).stdout).status).toBe('RUNNING');

    const exec = await rsp(['env', 'exec', envId!, '--', 'hostname'], member);
    expect(exec).toMatchObject({ code: 0, stdout: 'web.cli.example\n' });

    expect((await rsp(['env', 'stop', envId!], member)).code).toBe(0);
    expect((await rsp(['env', 'list'], member)).stdout).toMatch(new RegExp(`${envId}\\s+web\\s+STOPPED`));
    const stopAgain = await rsp(['env', 'stop', envId!], member);
    expect(stopAgain.code).toBe(1);
    expect(stopAgain.stderr).toMatch(/\[CONFLICT\]/);
    // A stopped environment runs no command: the refusal says what to do.
    const execStopped = await rsp(['env', 'exec', envId!, '--', 'hostname'], member);
    expect({ code: execStopped.code, stderr: execStopped.stderr }).toEqual({ code: 1, stderr: 'rsp: Environment web is STOPPED, not RUNNING: start it first (startEnvironment; rsp env start) [CONFLICT]\n' });

    expect((await rsp(['env', 'destroy', envId!], member)).code).toBe(0);
    expect(JSON.parse((await rsp(['env', 'list', '--json'], member)).stdout)).toEqual([]);
  });

  test('a bad token or none: UNAUTHENTICATED, exit code 4, no stack, and how to give the right one', async () => {
    const res = await rsp(['group', 'list'], 'rsp_not-a-real-token');
    expect(res).toEqual({ code: 4, stdout: '', stderr: `rsp: The token is unknown, revoked or expired: check the token given (--token, RSP_TOKEN or the one rsp login saved) is one of ${t.gateway.url}'s, or make a new one (rsp token create) [UNAUTHENTICATED]\n` });
    const none = await rsp(['group', 'list'], null, { RSP_CLI_CONFIG: join(dir, 'no-config.json') });
    expect(none).toEqual({ code: 4, stdout: '', stderr: `rsp: Authentication required: send "Authorization: Bearer <token>": give a token: --token rsp_…, RSP_TOKEN, or rsp login once (rsp init or the first rsp serve printed the site admin's) [UNAUTHENTICATED]\n` });
  });

  test('a typo in a command is answered with the commands it may be; a missing argument or option with where the usage is; a name for an id with where the ids are', async () => {
    expect(await rsp(['env', 'lsit'])).toEqual({ code: 2, stdout: '', stderr: "error: unknown command 'lsit'; did you mean 'list'? (see 'rsp env --help')\n" });
    expect(await rsp(['imgae', 'list'])).toEqual({ code: 2, stdout: '', stderr: "error: unknown command 'imgae'; did you mean 'image'? (see 'rsp --help')\n" });
    expect(await rsp(['env', 'create', 'web'])).toEqual({ code: 2, stdout: '', stderr: "error: required option '--host <id>' not specified\n(see 'rsp env create --help')\n" });
    expect(await rsp(['env', 'start', 'web'])).toEqual({ code: 2, stdout: '', stderr: 'rsp: Not an id: "web" (ids are UUIDs): give the id, not the name (the list commands show them, e.g. rsp env list, rsp image list) [BAD_USER_INPUT]\n' });
    expect(await rsp(['image', 'import', 'busybox'])).toEqual({ code: 2, stdout: '', stderr: "error: missing required argument 'version'\n(see 'rsp image import --help')\n" });
  });

  test('an unknown id: NOT_FOUND, exit code 4', async () => {
    const res = await rsp(['group', 'show', '00000000-0000-4000-8000-000000000000']);
    expect(res.code).toBe(4);
    expect(res.stderr).toMatch(/^rsp: .*\[NOT_FOUND\]\n$/);
  });

  test('usage errors exit with 2; an unreachable gateway with 3', async () => {
    expect((await rsp(['group', 'frobnicate'])).code).toBe(2);
    const down = await rsp(['group', 'list'], t.adminToken, { RSP_URL: 'http://127.0.0.1:1' });
    expect(down.code).toBe(3);
    expect(down.stderr).toMatch(/cannot reach the gateway .*\[UNAVAILABLE\]/);
  });

  test('resources, hosts, sites and drivers list with human units', async () => {
    const res = await rsp(['resource', 'list', '--type', 'RAM', '--site', w.site]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/30 GiB/);
    expect((await rsp(['host', 'show', w.host1])).stdout).toMatch(/hostname:\s+zaphod[\s\S]*1 Gbit\/s/);
    // zaphod is on the gateway's own agent: its facts follow its resources.
    expect((await rsp(['host', 'show', w.host1])).stdout).toMatch(/Facts:\n[\s\S]*cpu:\s+\d+ × [\s\S]*memory:\s+[\d.]+ [KMGT]iB[\s\S]*DRIVER\s+TECHNOLOGY\s+AVAILABLE[\s\S]*\nfake\s+fake\s+yes\s+1\.0\.0/);
    expect((await rsp(['site', 'list'])).stdout).toMatch(/north\s+Lisbon/);
    expect((await rsp(['drivers'])).stdout).toMatch(/IMAGE FORMATS[\s\S]*\nfake\s+fake\s+yes\s+1\.0\.0\s+rootfs-tar\s+-/);
    expect((await rsp(['completion', 'bash'])).stdout).toMatch(/complete -F _rsp_complete rsp/);
  });
});
