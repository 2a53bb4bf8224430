import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runRsp } from '../helpers/cli';

const run = promisify(execFile);

/** A self-signed certificate and its key, made with openssl. */
async function makePair(dir: string, name: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost']);
  return { cert, key };
}

interface Checked {
  valid: boolean;
  file: string | null;
  settings?: Array<{ key: string; variable: string; value: unknown; source: string }>;
  problems?: Array<{ variable: string; problem: string; code?: string }>;
}

/**
 * `rsp config check`: the environment and RSP_CONFIG validated as `rsp serve` would (TLS files
 * included), each setting's value and origin with passwords masked, every problem named (exit 2),
 * and nothing started or created.
 */
describe('rsp config check', () => {
  let dir: string;
  let a: { cert: string; key: string };
  let b: { cert: string; key: string };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rsp-config-check-'));
    [a, b] = await Promise.all([makePair(dir, 'a'), makePair(dir, 'b')]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('a valid configuration: each value with its origin (env, file, default), passwords masked, exit 0, nothing created', async () => {
    const file = join(dir, 'valid.json');
    // A setting is named by its key (port) or by its variable (LOG_LEVEL).
    writeFileSync(file, JSON.stringify({ port: 4555, LOG_LEVEL: 'debug', tlsCert: a.cert, tlsKey: a.key, dataDir: join(dir, 'data') }));
    const env = { RSP_CONFIG: file, PORT: '4556', DATABASE_URL: 'postgres://rsp:db-s3cret@db.example:5432/rsp', REDIS_URL: 'redis://:redis-s3cret@cache:6379', RSP_PLUGIN_OPTIONS: JSON.stringify({ 'rsp-audit': { file: 'audit.jsonl', apiToken: 'tok-s3cret', sink: { url: 'https://u:url-s3cret@logs.example/in', password: 'pw-s3cret' } } }), LOG_LEVEL: undefined, RSP_HOST: undefined, RSP_DATA_DIR: undefined, RSP_TLS_CERT: undefined, RSP_TLS_KEY: undefined };
    const json = await runRsp(['config', 'check', '--json'], env);
    expect(json).toMatchObject({ code: 0 });
    expect(json.stdout).not.toMatch(/s3cret/);
    const checked = JSON.parse(json.stdout) as Checked;
    expect(checked).toMatchObject({ valid: true, file });
    const byKey = Object.fromEntries(checked.settings!.map((s) => [s.key, s]));
    expect(byKey.port).toEqual({ key: 'port', variable: 'PORT', value: 4556, source: 'env' });
    expect(byKey.logLevel).toMatchObject({ value: 'debug', source: 'file' });
    expect(byKey.host).toMatchObject({ value: '127.0.0.1', source: 'default' });
    expect(byKey.tlsCert).toMatchObject({ value: a.cert, source: 'file' });
    expect(byKey.databaseUrl).toMatchObject({ value: 'postgres://rsp:****@db.example:5432/rsp', source: 'env' });
    expect(byKey.redisUrl).toMatchObject({ value: 'redis://:****@cache:6379', source: 'env' });
    expect(byKey.artifactDir).toMatchObject({ value: join(dir, 'data', 'artifacts'), source: 'default' });
    expect(byKey.pluginOptions).toMatchObject({ value: { 'rsp-audit': { file: 'audit.jsonl', apiToken: '****', sink: { url: 'https://u:****@logs.example/in', password: '****' } } }, source: 'env' });

    const human = await runRsp(['config', 'check'], env);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^PORT +4556 +env$/m);
    expect(human.stdout).toMatch(new RegExp(`^LOG_LEVEL +debug +file ${file}$`, 'm'));
    expect(human.stdout).toMatch(/^DATABASE_URL +postgres:\/\/rsp:\*\*\*\*@db\.example:5432\/rsp +env$/m);
    expect(human.stdout).toMatch(/configuration valid/);
    expect(human.stdout + human.stderr).not.toMatch(/s3cret/);
    // Nothing was started or opened: no data directory, no database.
    expect(existsSync(join(dir, 'data'))).toBe(false);
  });

  test("relative paths in the config file are the file's folder's, wherever the check runs", async () => {
    const conf = join(dir, 'conf');
    mkdirSync(conf, { recursive: true });
    const file = join(conf, 'rsp.json');
    // From conf/: the certificate pair of the folder above, a data folder beside the file.
    writeFileSync(file, JSON.stringify({ tlsCert: '../a.pem', tlsKey: '../a.key', dataDir: 'data' }));
    const env = { RSP_CONFIG: file, PORT: '0', RSP_DATA_DIR: undefined, RSP_TLS_CERT: undefined, RSP_TLS_KEY: undefined, RSP_ARTIFACT_DIR: undefined };
    // Run from the repository's folder (runRsp's), not the file's.
    const checked = await runRsp(['config', 'check', '--json'], env);
    expect(checked).toMatchObject({ code: 0 });
    const byKey = Object.fromEntries((JSON.parse(checked.stdout) as Checked).settings!.map((s) => [s.key, s]));
    expect(byKey.tlsCert).toMatchObject({ value: a.cert, source: 'file' });
    expect(byKey.tlsKey).toMatchObject({ value: a.key, source: 'file' });
    expect(byKey.dataDir).toMatchObject({ value: join(conf, 'data'), source: 'file' });
    expect(byKey.artifactDir).toMatchObject({ value: join(conf, 'data', 'artifacts'), source: 'default' });
  });

  test('an invalid configuration: every problem named (values, settings together, TLS files, the file), exit 2', async () => {
    const file = join(dir, 'invalid.json');
    writeFileSync(file, JSON.stringify({ logLevel: 'loud', tlsCert: a.cert, tlsKey: b.key }));
    const env = { RSP_CONFIG: file, PORT: 'abc', DATABASE_URL: 'postgres://rsp:db-s3cret@[oops', REDIS_URL: undefined, LOG_LEVEL: undefined, RSP_TLS_CERT: undefined, RSP_TLS_KEY: undefined, RSP_HEARTBEAT_MS: '5000', RSP_HOST_DOWN_AFTER_MS: '4000' };
    const human = await runRsp(['config', 'check'], env);
    expect(human.code).toBe(2);
    expect(human.stderr).toMatch(/PORT: .*"abc"/);
    expect(human.stderr).toMatch(new RegExp(`${file} \\(logLevel\\): .*"loud"`));
    expect(human.stderr).toMatch(/DATABASE_URL: is not a valid URL/);
    expect(human.stderr).toMatch(/RSP_HOST_DOWN_AFTER_MS: must be longer than RSP_HEARTBEAT_MS/);
    expect(human.stdout + human.stderr).not.toMatch(/s3cret/);

    // The values fixed, the mismatched TLS pair is what is left.
    const tls = await runRsp(['config', 'check', '--json'], { ...env, PORT: '4000', DATABASE_URL: '', LOG_LEVEL: 'info', RSP_HOST_DOWN_AFTER_MS: undefined, RSP_HEARTBEAT_MS: undefined });
    expect(tls.code).toBe(2);
    expect(JSON.parse(tls.stdout)).toEqual({ valid: false, file, problems: [{ variable: 'RSP_TLS_KEY', problem: expect.stringMatching(/b\.key is not the key of the certificate .*a\.pem/) }] });

    // `rsp serve`'s options are taken as it takes them: over the environment and the file.
    const options = await runRsp(['config', 'check', '--json', '--port', '4557', '--tls-key', a.key], { ...env, PORT: '4000', DATABASE_URL: '', LOG_LEVEL: 'info', RSP_HOST_DOWN_AFTER_MS: undefined, RSP_HEARTBEAT_MS: undefined });
    expect(options.code).toBe(0);
    expect((JSON.parse(options.stdout) as Checked).settings).toEqual(expect.arrayContaining([{ key: 'port', variable: 'PORT', value: 4557, source: 'option' }, { key: 'tlsKey', variable: 'RSP_TLS_KEY', value: a.key, source: 'option' }]));

    // A misspelt setting, in the file or the environment: named, with the nearest setting, exit 2.
    const typos = join(dir, 'typos.json');
    writeFileSync(typos, JSON.stringify({ PROT: 4000, RSP_HOST: '0.0.0.0' }));
    const misspelt = await runRsp(['config', 'check'], { RSP_CONFIG: typos, RSP_HEARTBEET_MS: '500' });
    expect(misspelt.code).toBe(2);
    expect(misspelt.stderr).toMatch(/RSP_CONFIG: .*typos\.json is not a valid config file: unknown keys PROT \(did you mean PORT\?\)/);
    expect(misspelt.stderr).toMatch(/RSP_HEARTBEET_MS: is not a variable RSP reads \(did you mean RSP_HEARTBEAT_MS\?\)/);

    const missing = await runRsp(['config', 'check'], { RSP_CONFIG: join(dir, 'absent.json'), PORT: '-1' });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/RSP_CONFIG: cannot read .*absent\.json/);
    expect(missing.stderr).toMatch(/PORT: /);
  });

  test("a DATABASE_URL's password, in its user info or its query, shows in no line: config check, and serve, migrate and admin backup that cannot connect (exit 3)", async () => {
    // A port nothing listens on: the server refuses every connection.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const env = { RSP_CONFIG: undefined, RSP_TLS_CERT: undefined, RSP_TLS_KEY: undefined, RSP_HEALTH_PORT: undefined, PORT: '0', LOG_FORMAT: 'json', LOG_LEVEL: 'debug', RSP_DATA_DIR: join(dir, 'unreachable') };
    // Each command names the database through one path: the second form is checked on rsp serve only.
    for (const [url, shown, commands] of [
      [`postgres://rsp:db-s3cret@127.0.0.1:${port}/rsp`, `postgres://rsp:****@127.0.0.1:${port}/rsp`, [['serve'], ['migrate', '--status'], ['admin', 'backup', join(dir, 'never.rspbackup')]]],
      [`postgres://rsp@127.0.0.1:${port}/rsp?sslmode=disable&password=db-s3cret`, `postgres://rsp@127.0.0.1:${port}/rsp?sslmode=disable&password=****`, [['serve']]],
    ] as const) {
      const checked = await runRsp(['config', 'check'], { ...env, DATABASE_URL: url });
      expect(checked.code).toBe(0);
      expect(checked.stdout).toContain(shown);
      expect(checked.stdout + checked.stderr).not.toMatch(/s3cret/);
      for (const args of commands) {
        const refused = await runRsp([...args], { ...env, DATABASE_URL: url });
        expect(refused.code).toBe(3);
        expect(refused.stderr).toContain(`rsp: Cannot connect to PostgreSQL at ${shown}: connect ECONNREFUSED 127.0.0.1:${port} [UNAVAILABLE]`);
        expect(refused.stdout + refused.stderr).not.toMatch(/s3cret/);
      }
    }
  });

  test('the ports rsp serve would listen on: one in use is named with the process holding it, both on one port is a conflict, each with its code, exit 2', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    try {
      const port = (busy.address() as AddressInfo).port;
      const env = { RSP_CONFIG: undefined, RSP_HOST: '127.0.0.1', RSP_TLS_CERT: undefined, RSP_TLS_KEY: undefined, RSP_HEALTH_PORT: undefined };
      // This test's process holds the port: the check names it.
      const human = await runRsp(['config', 'check', '--port', String(port)], env);
      expect(human.code).toBe(2);
      expect(human.stderr).toContain(`PORT: 127.0.0.1:${port} is in use by process ${process.pid} (`);
      expect(human.stderr).toMatch(/choose another port \(0 picks a free one\) \[PORT_IN_USE\]$/m);

      const health = await runRsp(['config', 'check', '--json'], { ...env, PORT: '0', RSP_HEALTH_PORT: String(port) });
      expect(health.code).toBe(2);
      expect((JSON.parse(health.stdout) as Checked).problems).toEqual([{ variable: 'RSP_HEALTH_PORT', code: 'PORT_IN_USE', problem: expect.stringContaining(`127.0.0.1:${port} is in use by process ${process.pid} (`) }]);

      const same = await runRsp(['config', 'check', '--json'], { ...env, PORT: '4599', RSP_HEALTH_PORT: '4599' });
      expect((JSON.parse(same.stdout) as Checked).problems).toEqual(expect.arrayContaining([{ variable: 'RSP_HEALTH_PORT', code: 'PORT_CONFLICT', problem: expect.stringMatching(/^is PORT \(4599\)/) }]));

      const away = await runRsp(['config', 'check', '--json'], { ...env, PORT: '0', RSP_HOST: '192.0.2.1' });
      expect((JSON.parse(away.stdout) as Checked).problems).toEqual([{ variable: 'PORT', code: 'ADDRESS_NOT_AVAILABLE', problem: expect.stringMatching(/^192\.0\.2\.1 is no address of this machine/) }]);
    } finally {
      busy.close();
    }
    // Let go, the port passes.
    expect((await runRsp(['config', 'check', '--json'], { RSP_CONFIG: undefined, RSP_TLS_CERT: undefined, RSP_TLS_KEY: undefined, PORT: '0', RSP_HEALTH_PORT: '0' })).code).toBe(0);
  });
});
