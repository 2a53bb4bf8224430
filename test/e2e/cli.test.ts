import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { spawnRsp } from '../helpers/cli';
import { createTestDatabase } from '../helpers/databases';
import { migrations } from '../../gateway/persistence/migrations';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');
const RSP = join(ROOT, 'dist', 'gateway', 'cli', 'rsp.js');

/** Runs the built `rsp` CLI; resolves with its exit code and output whatever the code. */
async function rsp(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [RSP, ...args], { env: { ...process.env, LOG_FORMAT: 'json', LOG_LEVEL: 'warn', ...env }, cwd: ROOT });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe('rsp CLI', () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'rsp-cli-'));
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  test('rsp version prints the package version', async () => {
    const { code, stdout } = await rsp(['version']);
    expect(code).toBe(0);
    expect(stdout.trim()).toBe(require('../../package.json').version);
    // Every command takes --json, this one too.
    const json = await rsp(['--json', 'version']);
    expect(JSON.parse(json.stdout)).toEqual({ version: require('../../package.json').version });
  });

  test.each([
    [['frobnicate'], 'rsp'],
    [['frobnicate', '--help'], 'rsp'],
    [['--help', 'frobnicate'], 'rsp'],
    [['help', 'frobnicate'], 'rsp'],
    [['--json', '--url', 'http://127.0.0.1:1', 'frobnicate'], 'rsp'],
    [['image', 'frobnicate', '--help'], 'rsp image'],
    [['agent', 'frobnicate', '--help'], 'rsp agent'],
    [['agent', 'token', 'frobnicate'], 'rsp agent token'],
  ])('rsp %j: unknown command, exit code 2, no help printed', async (args, parent) => {
    const { code, stdout, stderr } = await rsp(args);
    expect(code).toBe(2);
    expect(stderr).toBe(`error: unknown command 'frobnicate' (see '${parent} --help')\n`);
    expect(stdout).toBe('');
  });

  test.each([[['--help']], [['help']], [['help', 'image']], [['image', '--help']], [['agent', '--help']], [['--url', 'http://127.0.0.1:1', 'image', 'list', '--help']]])('rsp %j prints help, exit code 0', async (args) => {
    const { code, stdout } = await rsp(args);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Usage: rsp/);
  });

  test('rsp login --help shows how to give the gateway and the token (rsp\'s own options, which a command\'s help does not list)', async () => {
    const { code, stdout } = await rsp(['login', '--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/\n  rsp login --url http:\/\/127\.0\.0\.1:4000 --token rsp_…\n  rsp login --token rsp_… +later, for the same gateway: its URL is remembered\n/);
  });

  test('an unknown option is still reported as such (exit code 2)', async () => {
    const { code, stderr } = await rsp(['--bogus', 'frobnicate']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/unknown option '--bogus'/);
  });

  test('a bad PORT fails with a message naming the variable, no stack trace, exit code 2', async () => {
    const { code, stderr } = await rsp(['serve'], { PORT: 'abc', RSP_DATA_DIR: dataDir });
    expect(code).toBe(2);
    expect(stderr).toMatch(/Invalid configuration:\n\s+PORT: .*"abc"/);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  test.each([
    ['serve --port abc', ['serve', '--port', 'abc'], {}, /^rsp: Invalid configuration:\n\s+--port: .*"abc"/],
    ['config check with RSP_DRIVERS misspelt', ['config', 'check'], { RSP_DRIVERS: 'docker,dokcer' }, /^rsp: invalid configuration:\n\s+RSP_DRIVERS: unknown driver "dokcer" \(built in: docker, lxc, libvirt, vserver, fake; others come as plugins, RSP_PLUGINS\)/],
    ['serve with RSP_DRIVERS misspelt', ['serve'], { RSP_DRIVERS: 'dokcer' }, /^rsp: Invalid configuration:\n\s+RSP_DRIVERS: unknown driver "dokcer"/],
    ['agent --gateway that is no URL', ['agent', '--gateway', 'gateway.example.org', '--token', 'rspj_x'], {}, /^rsp: --gateway must be an http\(s\):\/\/ or ws\(s\):\/\/ URL, got gateway.example.org \[BAD_USER_INPUT\]\n$/],
    ['agent --drivers misspelt', ['agent', '--gateway', 'http://127.0.0.1:1', '--token', 'rspj_x', '--drivers', 'dokcer'], {}, /^rsp: --drivers: unknown driver "dokcer" \(built in: docker, lxc, libvirt, vserver, fake; others come as --plugins\) \[BAD_USAGE\]\n$/],
    ['federate --port abc', ['federate', '--port', 'abc'], {}, /^rsp: --port: "abc" is not a port number \(0-65535; 0 picks a free one\) \[BAD_USAGE\]\n$/],
    ['federate without its configuration', ['federate', '--config', 'no-such-federation.json', '--port', '0'], {}, /^rsp: no federation configuration at no-such-federation.json: make it with "rsp federation group-add <name>" and "rsp federation join <site> …" \(or name it with --config\) \[BAD_USAGE\]\n$/],
    ['federation join before group-add', ['federation', 'join', 'a', '--site-url', 'http://127.0.0.1:1/graphql', '--group', 'alliance', '--site-token', 'rsp_x', '--config', 'no-such-federation.json'], {}, /^rsp: No federation group alliance: add it first \(rsp federation group-add alliance\) \[BAD_USER_INPUT\]\n$/],
  ])('%s: a usage error naming what is wrong, exit code 2, no stack trace', async (_name, args, env, message) => {
    const { code, stderr } = await rsp(args, { RSP_DATA_DIR: dataDir, DATABASE_URL: '', ...env });
    expect(stderr).toMatch(message);
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(code).toBe(2);
  });

  test('rsp serve with a data directory it cannot make says so on one line, with the setting to change, exit code 2', async () => {
    const file = join(dataDir, 'a-file');
    writeFileSync(file, 'not a directory');
    const { code, stdout, stderr } = await rsp(['serve', '--port', '0', '--data-dir', join(file, 'data')], { DATABASE_URL: '', RSP_DRIVERS: 'fake' });
    expect({ code, stdout, stderr }).toEqual({
      code: 2,
      stdout: '',
      stderr: `rsp: Cannot make the embedded database's directory ${join(file, 'data', 'db')}: a part of its path is a file, not a directory (ENOTDIR); give a directory this user may write with RSP_DATA_DIR or --data-dir [BAD_USER_INPUT]\n`,
    });
  });

  test('rsp serve with a data directory under /proc (where no directory can be made) says so on one line, exit code 2, instead of hanging', async () => {
    const { code, stdout, stderr } = await rsp(['serve', '--port', '0', '--data-dir', '/proc/1/rsp'], { DATABASE_URL: '', RSP_DRIVERS: 'fake' });
    expect({ code, stdout, stderr }).toEqual({
      code: 2,
      stdout: '',
      stderr: "rsp: Cannot make the embedded database's directory /proc/1/rsp/db: its parent cannot hold directories (a system filesystem such as /proc or /sys) (ENOENT); give a directory this user may write with RSP_DATA_DIR or --data-dir [BAD_USER_INPUT]\n",
    });
  });

  test('on PostgreSQL too, rsp serve with a data directory under /proc says so on one line, exit code 2, instead of hanging', async () => {
    const db = await createTestDatabase('postgres');
    try {
      const { code, stdout, stderr } = await rsp(['serve', '--port', '0', '--data-dir', '/proc/1/rsp'], { DATABASE_URL: db.databaseUrl!, RSP_DRIVERS: 'fake' });
      expect({ code, stdout, stderr }).toEqual({
        code: 2,
        stdout: '',
        stderr: "rsp: Cannot make the gateway's data directory /proc/1/rsp: its parent cannot hold directories (a system filesystem such as /proc or /sys) (ENOENT); give a directory this user may write with RSP_DATA_DIR or --data-dir [BAD_USER_INPUT]\n",
      });
    } finally {
      await db.drop();
    }
  });

  test('rsp agent with a data directory under /proc says so on one line, exit code 2, instead of spinning', async () => {
    const { code, stdout, stderr } = await rsp(['agent', '--gateway', 'http://127.0.0.1:9', '--data-dir', '/proc/1/rsp-agent', '--drivers', 'docker', '--token', 'rspj_x']);
    expect({ code, stdout, stderr }).toEqual({
      code: 2,
      stdout: '',
      stderr: "rsp: Cannot make the agent's data directory /proc/1/rsp-agent: its parent cannot hold directories (a system filesystem such as /proc or /sys) (ENOENT); give a directory this user may write with --data-dir [BAD_USER_INPUT]\n",
    });
  });

  test('rsp serve on a port in use says so before it opens the database (a first start would lose its token), exit code 2', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    try {
      const port = (busy.address() as AddressInfo).port;
      const fresh = join(dataDir, 'busy-port');
      const { code, stdout, stderr } = await rsp(['serve', '--port', String(port), '--data-dir', fresh], { DATABASE_URL: '', RSP_DRIVERS: 'fake' });
      expect({ code, stdout, stderr }).toEqual({ code: 2, stdout: '', stderr: expect.stringMatching(new RegExp(`^rsp: Invalid configuration:\\n       PORT: 127\\.0\\.0\\.1:${port} is in use by process ${process.pid} \\(.*\\): stop it, or choose another port \\(0 picks a free one\\) \\[PORT_IN_USE\\]\\n$`)) });
      expect(existsSync(join(fresh, 'db'))).toBe(false);
    } finally {
      busy.close();
    }
  });

  test('a gateway that cannot be reached: the system code and what to check, exit code 3', async () => {
    // A port nothing listens on.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const freePort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const refused = await rsp(['--url', `http://127.0.0.1:${freePort}`, '--token', 'rsp_x', 'group', 'list']);
    expect({ code: refused.code, stderr: refused.stderr }).toEqual({ code: 3, stderr: `rsp: cannot reach the gateway at http://127.0.0.1:${freePort}: ECONNREFUSED (nothing listens there: is rsp serve running, on this address and port?) [UNAVAILABLE]\n` });
    // https:// to a gateway serving plain HTTP.
    const plain = createHttpServer((_req, res) => res.end('{}'));
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    try {
      const port = (plain.address() as AddressInfo).port;
      const tls = await rsp(['--url', `https://127.0.0.1:${port}`, '--token', 'rsp_x', 'group', 'list']);
      expect({ code: tls.code, stderr: tls.stderr }).toEqual({ code: 3, stderr: `rsp: cannot reach the gateway at https://127.0.0.1:${port}: ERR_SSL_WRONG_VERSION_NUMBER (the gateway there answers plain HTTP: use http://, or serve TLS with rsp serve --tls-cert F --tls-key F) [UNAVAILABLE]\n` });
    } finally {
      plain.close();
    }
  });

  test("a gateway's error message is printed escaped: no escape sequence reaches the terminal, no newline forges a line", async () => {
    // What a gateway (or anything answering at its URL) may send: a message quoting a name another group wrote.
    const message = 'Group "x\x1b]0;pwned\x07\x1b[2J\u202e" was not found\nrsp: done, all fine';
    const server = createHttpServer((_req, res) => res.setHeader('content-type', 'application/json').end(JSON.stringify({ errors: [{ message, extensions: { code: 'NOT_FOUND\x1b[31m' } }] })));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const { code, stdout, stderr } = await rsp(['--url', `http://127.0.0.1:${port}`, '--token', 'rsp_x', 'group', 'list']);
      expect(stdout).toBe('');
      expect(stderr).toBe('rsp: Group "x\\x1b]0;pwned\\x07\\x1b[2J\\u202e" was not found\\nrsp: done, all fine [NOT_FOUND\\x1b[31m]\n');
      expect(code).not.toBe(0);
    } finally {
      server.close();
    }
  });

  test.each([
    ['a port fetch blocks (bad port)', 'http://127.0.0.1:1', /^rsp: cannot reach the gateway at http:\/\/127\.0\.0\.1:1: bad port \(fetch never connects to port 1, a blocked port as in browsers: use the gateway's port, the one rsp serve printed; 4000 unless PORT or --port changed it\) \[UNAVAILABLE\]\n$/],
    ['a host name no DNS knows', 'http://no-such-gateway.invalid:4000', /^rsp: cannot reach the gateway at http:\/\/no-such-gateway\.invalid:4000: (ENOTFOUND \(no such host name: check the spelling, or give its address\)|EAI_AGAIN \(the host name could not be resolved now \(DNS\)\)) \[UNAVAILABLE\]\n$/],
  ])('%s: one line naming the URL and what to check, exit code 3', async (_name, url, message) => {
    const { code, stdout, stderr } = await rsp(['--url', url, '--token', 'rsp_x', 'group', 'list']);
    expect({ code, stdout }).toEqual({ code: 3, stdout: '' });
    expect(stderr).toMatch(message);
  });

  test('a URL where something else answers (a web page, a 404, JSON of another kind, no HTTP, a proxy\'s 502): one line naming the URL and what to check, exit code 3', async () => {
    const answers: Array<[number, string, string]> = [
      [200, 'text/html', '<!doctype html>\n<html><body>Welcome to nginx!</body></html>'],
      [404, 'text/plain', 'Cannot POST /graphql\n'],
      [404, 'application/json', '{"error":"not found"}'],
      [502, 'text/html', '<html>\n<h1>502 Bad Gateway</h1></html>'],
    ];
    const servers = answers.map(([status, type, body]) => createHttpServer((_req, res) => res.writeHead(status, { 'content-type': type }).end(body)));
    const notHttp = createServer((socket) => socket.end('SSH-2.0-OpenSSH_9.2\r\n'));
    for (const server of [...servers, notHttp]) await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const urls = [...servers, notHttp].map((server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
      const results = await Promise.all(urls.map((url) => rsp(['--url', url, '--token', 'rsp_x', 'group', 'list'])));
      const check = `check the URL \\(--url, RSP_URL or the one rsp login saved\\): the gateway's base URL, as rsp serve printed it, e\\.g\\. http://127\\.0\\.0\\.1:4000 \\[UNAVAILABLE\\]\\n$`;
      const expected = [
        new RegExp(`^rsp: ${urls[0]} does not answer as an RSP gateway: POST /graphql got HTTP 200 \\(text/html\\); ${check}`),
        new RegExp(`^rsp: ${urls[1]} does not answer as an RSP gateway: POST /graphql got HTTP 404 \\(text/plain\\); ${check}`),
        new RegExp(`^rsp: ${urls[2]} does not answer as an RSP gateway: POST /graphql got HTTP 404 \\(application/json\\); ${check}`),
        new RegExp(`^rsp: ${urls[3]} answered POST /graphql with HTTP 502 \\(text/html\\), not GraphQL: a proxy in front of a gateway that is down or starting\\? Check rsp serve runs behind it \\[UNAVAILABLE\\]\\n$`),
        new RegExp(`^rsp: cannot reach the gateway at ${urls[4]}: HPE_INVALID_CONSTANT \\(what answers there does not speak HTTP: check the address and port, as rsp serve printed them\\) \\[UNAVAILABLE\\]\\n$`),
      ];
      results.forEach((result, i) => {
        expect(result.code).toBe(3);
        expect(result.stderr).toMatch(expected[i]!);
      });
    } finally {
      for (const server of [...servers, notHttp]) server.close();
    }
  });

  test.each([
    [['env', 'create', 'web', '--hots', 'h', '--image', 'i'], "error: unknown option '--hots'; did you mean '--host'? (see 'rsp env create --help')\n"],
    [['env', 'create', 'web', '--host', 'h', '--imgae', 'i'], "error: unknown option '--imgae'; did you mean '--image'? (see 'rsp env create --help')\n"],
    [['group', 'list', '--jsn'], "error: unknown option '--jsn'; did you mean '--json'? (see 'rsp group list --help')\n"],
    [['env', 'create', 'web', '-x'], "error: unknown option '-x' (see 'rsp env create --help')\n"],
  ])('rsp %j: the unknown option first (not the required one it misspells), with what it may be, exit code 2', async (args, message) => {
    expect(await rsp(['--url', 'http://127.0.0.1:1', ...args])).toEqual({ code: 2, stdout: '', stderr: message });
  });

  test('rsp\'s own options after the command and option values that begin with - are not unknown; a missing required option is still said', async () => {
    const known = await rsp(['env', 'logs', 'e1', '--tail', '-5', '--url', 'http://127.0.0.1:1', '--token', 'rsp_x', '--json']);
    expect(known).toEqual({ code: 3, stdout: '', stderr: expect.stringMatching(/^rsp: cannot reach the gateway at http:\/\/127\.0\.0\.1:1: bad port /) });
    const missing = await rsp(['env', 'create', 'web', '--image', 'i']);
    expect(missing).toEqual({ code: 2, stdout: '', stderr: "error: required option '--host <id>' not specified\n(see 'rsp env create --help')\n" });
  });

  test('rsp federate on a port in use says so, without a stack trace, and exits 2', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    try {
      const port = (busy.address() as AddressInfo).port;
      const file = join(dataDir, 'federation.json');
      writeFileSync(file, '{"sites":[],"groups":[]}\n');
      const { code, stdout, stderr } = await rsp(['federate', '--config', file, '--port', String(port)]);
      expect({ code, stdout, stderr }).toEqual({ code: 2, stdout: '', stderr: `rsp: cannot listen on 127.0.0.1:${port}: the port is in use (another process listens there; --port picks another) [EADDRINUSE]\n` });
    } finally {
      busy.close();
    }
  });

  test('rsp federate says at its start which sites answer and take their groups\' tokens, and serves anyway', async () => {
    const site = (answer: object) => createHttpServer((_req, res) => res.setHeader('content-type', 'application/json').end(JSON.stringify(answer)));
    const up = site({ data: { viewer: { groupId: 'g-up' } } });
    const revoked = site({ errors: [{ message: 'The token is unknown, revoked or expired', extensions: { code: 'UNAUTHENTICATED' } }] });
    const closed = createServer();
    const servers = [up, revoked, closed];
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))));
    const url = (s: { address(): unknown }) => `http://127.0.0.1:${(s.address() as AddressInfo).port}/graphql`;
    const sites = { up: url(up), revoked: url(revoked), down: url(closed), lonely: 'http://127.0.0.1:1/graphql' };
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const file = join(dataDir, 'federation-check.json');
    writeFileSync(file, JSON.stringify({ sites: Object.entries(sites).map(([name, u]) => ({ name, url: u })), groups: [{ name: 'alliance', keySha256: 'a'.repeat(64), links: { up: 'rsp_up', revoked: 'rsp_revoked', down: 'rsp_down' } }] }));
    const federation = spawnRsp(['federate', '--config', file, '--port', '0'], {});
    try {
      await federation.waitFor(/site lonely: .*\n/);
      expect(federation.output().stdout.split('\n').filter((l) => l.startsWith('  site '))).toEqual([
        '  site up: answers, and takes the token of alliance',
        `  site revoked: refuses the token (UNAUTHENTICATED: The token is unknown, revoked or expired) for group alliance: ask the site's admin for a new token (rsp token create … --group <local group>), then rsp federation join revoked --group alliance --site-url ${sites.revoked} --site-token … again`,
        `  site down: cannot be reached (ECONNREFUSED) at ${sites.down}; its part of every answer is UNAVAILABLE until it answers`,
        '  site lonely: no group is linked to it (rsp federation join lonely --group <group> --site-url http://127.0.0.1:1/graphql --site-token …)',
      ]);
      expect(federation.child.exitCode).toBeNull();
    } finally {
      federation.child.kill('SIGTERM');
      await federation.exited;
      up.close();
      revoked.close();
    }
  });

  test('rsp agent that cannot connect says so (not that it lost a gateway it never had), with the reason, and keeps dialling', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const agent = spawnRsp(['agent', '--gateway', `http://127.0.0.1:${port}`, '--token', 'rspj_x', '--drivers', 'fake', '--data-dir', join(dataDir, 'agent-nowhere')], { LOG_FORMAT: 'json', LOG_LEVEL: 'info' });
    try {
      await agent.waitFor(/"msg":"could not connect to the gateway; dialling again"/);
      expect(agent.output().stdout).toMatch(/"reason":"connect ECONNREFUSED 127\.0\.0\.1:\d+".*"msg":"could not connect to the gateway; dialling again"/);
      expect(agent.output().stdout).not.toMatch(/lost the gateway/);
    } finally {
      agent.child.kill('SIGTERM');
      await agent.exited;
    }
  });

  test('a local command refusing its input (BAD_USER_INPUT) exits 2, as --help documents', async () => {
    const help = await rsp(['--help']);
    expect(help.stdout).toMatch(/^\s+2\s+bad usage .*BAD_USER_INPUT/m);
    // Not a backup: refused before any database is opened.
    const file = join(dataDir, 'not-a-backup.json');
    writeFileSync(file, '{"format":"something-else"}\n');
    const { code, stderr } = await rsp(['admin', 'restore', file], { RSP_DATA_DIR: dataDir, DATABASE_URL: '' });
    expect(stderr).toMatch(/Not an RSP backup \(no rsp-backup header\) \[BAD_USER_INPUT\]/);
    expect(code).toBe(2);
  });

  test('rsp migrate applies the migrations to the embedded database in one summary line (each logged with --verbose), then reports it up to date', async () => {
    const names = migrations.map((m) => new m().name);
    // At the info level, as an operator's default: still one line, no log line per migration.
    const first = await rsp(['migrate'], { RSP_DATA_DIR: dataDir, DATABASE_URL: '', LOG_LEVEL: 'info' });
    expect(first).toEqual({ code: 0, stdout: `Applied ${names.length} migrations to PGlite at ${join(dataDir, 'db')} (latest ${names.at(-1)}; rsp migrate --status lists them all)\n`, stderr: '' });
    const second = await rsp(['migrate'], { RSP_DATA_DIR: dataDir, DATABASE_URL: '' });
    expect(second.stdout).toMatch(/is up to date/);
    const verbose = await rsp(['migrate', '--verbose'], { RSP_DATA_DIR: join(dataDir, 'verbose'), DATABASE_URL: '', LOG_LEVEL: 'info' });
    // The log is written asynchronously: its lines and the summary may come in either order.
    const lines = verbose.stdout.trim().split('\n');
    expect(lines.filter((l) => !l.startsWith('{'))).toEqual([`Applied ${names.length} migrations to PGlite at ${join(dataDir, 'verbose', 'db')}: ${names.join(', ')}`]);
    expect(lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).map((l) => [l.msg, l.migration])).toEqual(names.map((n) => ['migration applied', n]));
  });

  test('a database that does not answer is a clear UNAVAILABLE error with exit code 3', async () => {
    const { code, stderr } = await rsp(['migrate'], { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' });
    expect(code).toBe(3);
    expect(stderr).toMatch(/Cannot connect to PostgreSQL at postgres:\/\/nobody@127.0.0.1:1\/none.*\[UNAVAILABLE\]/);
  });

  test('rsp serve prints the GraphQL URL, answers, and stops cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, [RSP, 'serve', '--port', '0', '--data-dir', dataDir], { env: { ...process.env, LOG_FORMAT: 'json', LOG_LEVEL: 'warn', DATABASE_URL: '' }, cwd: ROOT });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const url = await new Promise<string>((resolve, reject) => {
      // A first start migrates a new data directory: on a loaded machine that alone took 148 s once.
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`no URL printed: ${out}`));
      }, 170_000);
      child.stdout.on('data', () => {
        const m = /GraphQL endpoint:\s+(\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
    });
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{__typename}"}' });
    expect(await res.json()).toEqual({ data: { __typename: 'Query' } });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 240_000);
});
