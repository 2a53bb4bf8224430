import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError, inspectConfig, loadConfig, maskedValue, unknownVariables } from '../../gateway/config/config';
import { describeTarget } from '../../gateway/persistence/data-source';

describe('loadConfig', () => {
  test('defaults give an embedded database under .rsp/data on port 4000', () => {
    const config = loadConfig({});
    expect(config.port).toBe(4000);
    expect(config.databaseUrl).toBeUndefined();
    expect(config.dataDir).toBe(join(process.cwd(), '.rsp/data'));
    expect(config.plugins).toEqual([]);
    expect(config.graphiql).toBe(true);
  });

  test('the GraphQL IDE and anonymous introspection are on unless NODE_ENV=production; RSP_GRAPHIQL and RSP_INTROSPECTION win', () => {
    expect(loadConfig({ NODE_ENV: 'development' })).toMatchObject({ graphiql: true, introspection: true });
    expect(loadConfig({ NODE_ENV: 'production' })).toMatchObject({ graphiql: false, introspection: false });
    expect(loadConfig({ NODE_ENV: 'production', RSP_GRAPHIQL: 'true', RSP_INTROSPECTION: '1' })).toMatchObject({ graphiql: true, introspection: true });
    expect(loadConfig({ RSP_INTROSPECTION: 'no' }).introspection).toBe(false);
  });

  test('the abuse limits have defaults, take 0 for off and refuse negative values naming the variable', () => {
    expect(loadConfig({})).toMatchObject({ maxQueryDepth: 15, maxQueryAliases: 50, maxBatchItems: 1000, maxAnonymousSockets: 100, maxAnonymousSocketsPerAddress: 16, wsInitTimeoutMs: 3000 });
    expect(loadConfig({ RSP_RATE_QUERIES_PER_MINUTE: '0' }).rateQueriesPerMinute).toBe(0);
    expect(() => loadConfig({ RSP_MAX_QUERY_COST: '-1' })).toThrow(/RSP_MAX_QUERY_COST: must be ≥ 0/);
  });

  test('the artifact store lives under the data directory unless RSP_ARTIFACT_DIR says otherwise', () => {
    expect(loadConfig({ RSP_DATA_DIR: '/srv/rsp' }).artifactDir).toBe('/srv/rsp/artifacts');
    expect(loadConfig({ RSP_DATA_DIR: '/srv/rsp', RSP_ARTIFACT_DIR: '/backup/store' }).artifactDir).toBe('/backup/store');
  });

  test('PORT=abc fails naming the variable and the value', () => {
    expect(() => loadConfig({ PORT: 'abc' })).toThrow(ConfigError);
    try {
      loadConfig({ PORT: 'abc' });
    } catch (e) {
      expect((e as ConfigError).message).toContain('PORT: is not a number (got "abc")');
      expect((e as ConfigError).problems).toEqual([expect.objectContaining({ variable: 'PORT' })]);
    }
  });

  test('every bad variable is reported at once', () => {
    try {
      loadConfig({ PORT: '70000', DATABASE_URL: 'mysql://x', LOG_LEVEL: 'loud', REDIS_URL: 'http://x' });
      throw new Error('should have failed');
    } catch (e) {
      expect((e as ConfigError).problems.map((p) => p.variable).sort()).toEqual(['DATABASE_URL', 'LOG_LEVEL', 'PORT', 'REDIS_URL']);
    }
  });

  test('a JSON config file is read, and the environment wins over it', () => {
    const file = join(tmpdir(), `rsp-config-${process.pid}.json`);
    writeFileSync(file, JSON.stringify({ port: 5000, siteName: 'from-file', plugins: ['a', 'b'] }));
    const config = loadConfig({ RSP_CONFIG: file, RSP_SITE_NAME: 'from-env' });
    expect(config.port).toBe(5000);
    expect(config.siteName).toBe('from-env');
    expect(config.plugins).toEqual(['a', 'b']);
  });

  test("a config file's relative paths are relative to its folder; the environment's to the current directory", () => {
    const folder = mkdtempSync(join(tmpdir(), 'rsp-config-paths-'));
    try {
      const file = join(folder, 'rsp.json');
      writeFileSync(file, JSON.stringify({ dataDir: 'data', imageDir: '../images', tlsCert: 'tls/cert.pem', tlsKey: '/etc/rsp/key.pem', webDir: 'web', peerTokenKeyFile: 'secrets/peer.key', plugins: './plugins/audit,rsp-example-audit-log', agents: ['a=agents/a', 'b'] }));
      const config = loadConfig({ RSP_CONFIG: file });
      expect(config).toMatchObject({
        dataDir: join(folder, 'data'),
        artifactDir: join(folder, 'data', 'artifacts'),
        imageDir: join(tmpdir(), 'images'),
        tlsCert: join(folder, 'tls', 'cert.pem'),
        tlsKey: '/etc/rsp/key.pem',
        webDir: join(folder, 'web'),
        peerTokenKeyFile: join(folder, 'secrets', 'peer.key'),
        plugins: [join(folder, 'plugins', 'audit'), 'rsp-example-audit-log'],
        agents: [
          { id: 'a', dataDir: join(folder, 'agents', 'a') },
          { id: 'b', dataDir: join(folder, 'data', 'agents', 'b') },
        ],
      });
      // Set in the environment instead, a path is the current directory's.
      expect(loadConfig({ RSP_CONFIG: file, RSP_DATA_DIR: 'data' }).dataDir).toBe(resolve('data'));
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  test('a config file with an unknown key or bad JSON is refused with the reason', () => {
    const file = join(tmpdir(), `rsp-config-bad-${process.pid}.json`);
    writeFileSync(file, JSON.stringify({ prot: 5000 }));
    expect(() => loadConfig({ RSP_CONFIG: file })).toThrow(/unknown keys prot/);
    writeFileSync(file, '{ nope');
    expect(() => loadConfig({ RSP_CONFIG: file })).toThrow(/RSP_CONFIG: .* is not a valid config file/);
    expect(() => loadConfig({ RSP_CONFIG: '/nonexistent/rsp.json' })).toThrow(/cannot read/);
  });

  test('a config file names a setting by its key or by its variable (not both); a misspelt one is refused with the nearest', () => {
    const file = join(tmpdir(), `rsp-config-names-${process.pid}.json`);
    writeFileSync(file, JSON.stringify({ PORT: 5000, siteName: 'from-file', RSP_HEARTBEAT_MS: '500' }));
    expect(loadConfig({ RSP_CONFIG: file })).toMatchObject({ port: 5000, siteName: 'from-file', heartbeatMs: 500 });
    writeFileSync(file, JSON.stringify({ PORT: 5000, port: 5001 }));
    expect(() => loadConfig({ RSP_CONFIG: file })).toThrow(/port is set twice \(as port and as PORT\)/);
    writeFileSync(file, JSON.stringify({ prot: 5000, RSP_HEARTBEET_MS: 500, whatever: 1 }));
    expect(() => loadConfig({ RSP_CONFIG: file })).toThrow(/unknown keys prot \(did you mean port\?\), RSP_HEARTBEET_MS \(did you mean RSP_HEARTBEAT_MS\?\), whatever \(a setting is named/);
  });

  test('variables named RSP_… that RSP does not read are listed, with the nearest setting when one is close', () => {
    expect(unknownVariables({ RSP_HEARTBEET_MS: '5', RSP_HOST: 'x', RSP_URL: 'u', RSP_CA_FILE: 'c', RSP_LIBVIRT_URI: 'q', RSP_TEST_AGENT_PROTOCOL: '4', RSP_AGENT_TOKEN: 't', RSP_FROBNICATE: '1', PATH: '/bin' })).toEqual([
      { variable: 'RSP_FROBNICATE', problem: "is not a variable RSP reads: see the README's configuration table" },
      { variable: 'RSP_HEARTBEET_MS', problem: 'is not a variable RSP reads (did you mean RSP_HEARTBEAT_MS?)' },
    ]);
  });

  test('plugin options are a JSON object of objects, with a clear error otherwise', () => {
    expect(loadConfig({ RSP_PLUGIN_OPTIONS: '{"audit":{"file":"/tmp/a"}}' }).pluginOptions).toEqual({ audit: { file: '/tmp/a' } });
    expect(() => loadConfig({ RSP_PLUGIN_OPTIONS: '{nope' })).toThrow(/RSP_PLUGIN_OPTIONS: is not valid JSON/);
    expect(() => loadConfig({ RSP_PLUGIN_OPTIONS: '{"audit": 3}' })).toThrow(/RSP_PLUGIN_OPTIONS: /);
  });

  test('lists are read from comma-separated variables', () => {
    expect(loadConfig({ RSP_PLUGINS: ' ./a.js, pkg-b ,' }).plugins).toEqual(['./a.js', 'pkg-b']);
  });

  test('every problem is named at once: an unreadable config file, each bad value and the checks across settings', () => {
    const { config, problems } = inspectConfig({ RSP_CONFIG: join(tmpdir(), 'rsp-no-such-config.json'), PORT: 'abc', RSP_TLS_CERT: 'cert.pem', RSP_HEARTBEAT_MS: '5000' });
    expect(config).toBeUndefined();
    expect(problems.map((p) => p.variable)).toEqual(['RSP_CONFIG', 'PORT', 'RSP_HOST_DOWN_AFTER_MS', 'RSP_TLS_KEY']);
  });

  test('DATABASE_URL must be a URL; its password (and REDIS_URL\'s) is masked wherever a value is shown', () => {
    expect(() => loadConfig({ DATABASE_URL: 'postgres://rsp:pw@[bad' })).toThrow(/DATABASE_URL: is not a valid URL \(got "postgres:\/\/rsp:\*\*\*\*@\[bad"\)/);
    expect(maskedValue('databaseUrl', 'postgresql://rsp:p%40ss@db:5432/rsp')).toBe('postgresql://rsp:****@db:5432/rsp');
    expect(maskedValue('redisUrl', 'rediss://:pw@cache:6380')).toBe('rediss://:****@cache:6380');
    expect(maskedValue('databaseUrl', 'postgres://db/rsp')).toBe('postgres://db/rsp');
    // PostgreSQL's clients take a password in the query as well; a password with an unescaped @ is hidden whole.
    expect(maskedValue('databaseUrl', 'postgres://rsp@db/rsp?sslmode=require&password=pw&sslpassword=k%40y')).toBe('postgres://rsp@db/rsp?sslmode=require&password=****&sslpassword=****');
    expect(maskedValue('databaseUrl', 'postgres://rsp:p@ss@db/rsp?application_name=rsp')).toBe('postgres://rsp:****@db/rsp?application_name=rsp');
    expect(describeTarget({ kind: 'postgres', url: 'postgres://rsp:pw@db/rsp?password=pw2' })).toBe('PostgreSQL at postgres://rsp:****@db/rsp?password=****');
    expect(maskedValue('host', 'a:b@c')).toBe('a:b@c');
  });

  test('where each value came from: an option, the environment, the config file or the default', () => {
    const file = join(tmpdir(), `rsp-config-origins-${process.pid}.json`);
    writeFileSync(file, JSON.stringify({ logLevel: 'debug', port: 5000 }));
    const { origins } = inspectConfig({ RSP_CONFIG: file, PORT: '5001' }, { host: '0.0.0.0' });
    const source = (key: string) => origins.find((o) => o.key === key)?.source;
    expect([source('host'), source('port'), source('logLevel'), source('dataDir')]).toEqual(['option', 'env', 'file', 'default']);
  });
});
