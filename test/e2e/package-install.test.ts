import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { request as httpsRequest } from 'node:https';
import { promisify } from 'node:util';
import { createRootfsTar } from '../../drivers/fake';
import { AGENT_PROTOCOL_VERSION } from '../../gateway/agent/protocol';
import { ROOT, RspProcess, rspEnv, spawnCommand } from '../helpers/cli';
import { createTestDatabase, type TestDatabase } from '../helpers/databases';
import { describeWithEngine, REDIS_URL } from '../helpers/engines';
import { createLab, type NetnsLab } from '../helpers/netns';
import { walkthroughSteps, type ReadmeStep } from '../helpers/readme';
import { until } from '../helpers/until';

const run = promisify(execFile);

/**
 * What the installed package's processes run with: PGlite in the test's folder, the fake driver, no Redis, the test's
 * Node first on PATH, and Node's compile cache in the test's folder (set by `beforeAll`): the file starts some forty
 * `rsp` processes from the same installs, each loading hundreds of modules of the package.
 */
const ENV: Record<string, string | undefined> & { PATH: string } = {
  RSP_DRIVERS: 'fake',
  DATABASE_URL: '',
  REDIS_URL: undefined,
  LOG_LEVEL: 'info',
  LOG_FORMAT: undefined,
  RSP_SITE_NAME: '',
  RSP_LOCAL_HOST: '',
  RSP_BOOTSTRAP: '',
  PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
  NODE_COMPILE_CACHE: undefined,
};

/** The repository's package version: the release the test packs first. */
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** `version` with its patch number one up (a prerelease tag dropped). */
function nextPatch(version: string): string {
  const [major, minor, patch] = version.split(/[.-]/).map(Number);
  return `${major}.${minor}.${patch! + 1}`;
}

/**
 * The one migration the test's next release adds to its copy of dist/ (not to the repository): a
 * comment on a table, so that the upgrade has a pending migration to show and apply.
 */
const NEXT_MIGRATION = {
  timestamp: '1764007199999',
  source: `"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
class NextRelease1764007199999 {
    name = 'NextRelease1764007199999';
    async up(q) { await q.query(\`COMMENT ON TABLE "agent_connection" IS 'one connection of a host agent to a gateway'\`); }
    async down(q) { await q.query(\`COMMENT ON TABLE "agent_connection" IS NULL\`); }
}
exports.NextRelease1764007199999 = NextRelease1764007199999;
`,
};

/** Runs npm with `args` in `cwd` (npm from PATH, run by the test's Node). */
async function npm(args: string[], cwd: string): Promise<string> {
  const { stdout } = await run('npm', args, { cwd, env: { ...process.env, PATH: ENV.PATH, NODE_COMPILE_CACHE: ENV.NODE_COMPILE_CACHE }, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

/**
 * The package as a user gets it: `npm pack` of the built tree (dist/ and dist/web were built by
 * the global setup, so prepack's build is skipped; its npm-shrinkwrap.json is written as prepack
 * does, into a copy of the packed files), installed with `npm install -g` into an empty prefix
 * once for the whole file, then `rsp serve`, a client command and `rsp agent` run from that
 * install only; and the README's install walkthrough (TLS, a second machine) from the same install.
 */
describe('the packed package, installed with npm install -g', () => {
  let dir: string;
  let files: string[];
  let tarball: string;
  /** The next release's tarball (`newVersion`), packed from the same files. */
  let newTarball: string;
  let newVersion: string;
  let prefix: string;
  /** A copy of the first release's install (hard links), still there after `prefix` is upgraded. */
  let firstPrefix: string;
  /** The install scripts run in the background on `firstPrefix`: whether they succeeded, and their output. */
  let scripts: Promise<{ ok: boolean; output: string }>;
  let installed: string;
  let rsp: string;
  const running: RspProcess[] = [];
  let upgrade: Promise<string> | undefined;
  /**
   * The next release installed over the first, in place, once (the walkthrough's upgrade, then the
   * replicas' new release); without its install scripts, as the first install (the tests drive the
   * fake driver; the scripts are run, and checked, on the copy).
   */
  const upgradeInPlace = () => (upgrade ??= npm(['install', '-g', '--prefix', prefix, newTarball, '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], dir));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rsp-package-'));
    ENV.NODE_COMPILE_CACHE = join(dir, 'compile-cache');
    const stage = join(dir, 'stage');
    const listed = JSON.parse(await npm(['pack', '--dry-run', '--json', '--ignore-scripts'], ROOT)) as Array<{ files: Array<{ path: string }> }>;
    files = listed[0]!.files.map((f) => f.path);
    for (const f of files) {
      mkdirSync(dirname(join(stage, f)), { recursive: true });
      copyFileSync(join(ROOT, f), join(stage, f));
    }
    await run(process.execPath, [join(ROOT, 'scripts', 'shrinkwrap.js'), '--out', stage]);
    await npm(['pack', '--ignore-scripts', '--pack-destination', dir], stage);
    tarball = join(dir, readdirSync(dir).find((f) => f.endsWith('.tgz'))!);
    prefix = join(dir, 'prefix');
    installed = join(prefix, 'lib', 'node_modules', '@rsp-coop', 'rsp');
    rsp = join(prefix, 'bin', 'rsp');
    // The install while the next release is packed. Its install scripts (the native builds: minutes on a busy machine) run
    // later, in the background, on a copy (`scripts` below), while the tests use this install.
    const install = npm(['install', '-g', '--prefix', prefix, tarball, '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], dir);
    // The next release, for the upgrades: the same files a patch version up, with one migration more.
    newVersion = nextPatch(VERSION);
    for (const file of ['package.json', 'npm-shrinkwrap.json']) {
      const manifest = JSON.parse(readFileSync(join(stage, file), 'utf8')) as { version: string; packages?: Record<string, { version?: string }> };
      manifest.version = newVersion;
      if (manifest.packages?.['']) manifest.packages[''].version = newVersion;
      writeFileSync(join(stage, file), JSON.stringify(manifest, null, 2));
    }
    writeFileSync(join(stage, 'dist', 'gateway', 'persistence', 'migrations', `${NEXT_MIGRATION.timestamp}-next-release.js`), NEXT_MIGRATION.source);
    mkdirSync(join(dir, 'next'));
    await npm(['pack', '--ignore-scripts', '--pack-destination', join(dir, 'next')], stage);
    newTarball = join(dir, 'next', readdirSync(join(dir, 'next')).find((f) => f.endsWith('.tgz'))!);
    await install;
    // A second machine's install of the first release, kept when the walkthrough upgrades this one in place: hard links
    // (npm replaces a package's files when it upgrades it, it does not write into them; the versions checked below show it).
    firstPrefix = join(dir, 'prefix-first');
    await run('cp', ['-al', prefix, firstPrefix]);
    // The packages' install scripts, as `npm install -g` runs them (`npm rebuild` runs the same ones), on that copy; at
    // the lowest priority, so that the tests' gateways get the CPU first. Checked by the last test.
    scripts = run('nice', ['-n', '19', 'npm', 'rebuild', '-g', '--prefix', firstPrefix, '--foreground-scripts'], { cwd: dir, env: { ...process.env, PATH: ENV.PATH }, maxBuffer: 64 * 1024 * 1024 }).then(
      ({ stdout, stderr }) => ({ ok: true, output: `${stdout}\n${stderr}` }),
      (e: Error & { stdout?: string; stderr?: string }) => ({ ok: false, output: `${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}` }),
    );
  }, 600_000);
  afterAll(async () => {
    await scripts;
    for (const p of running) {
      if (p.child.exitCode === null && p.child.signalCode === null) {
        p.child.kill('SIGKILL');
        await p.exited;
      }
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('packs without sources or dev files, installs into an empty prefix, serves, and an agent from it connects', async () => {
    expect(files).toEqual(expect.arrayContaining(['dist/gateway/cli/rsp.js', 'dist/web/index.html', 'schema.graphql', 'deploy/systemd/rsp-gateway.service', 'deploy/systemd/rsp-agent.service', 'scripts/build-libvirt-binding.js']));
    expect(files.filter((f) => /^(test|gateway|schema|drivers|web|dist\/bench|dist\/test|node_modules)\//.test(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts')))).toEqual([]);
    expect(existsSync(rsp)).toBe(true);
    for (const dev of ['typescript', 'jest', 'vite', '@graphql-codegen/cli']) expect(existsSync(join(installed, 'node_modules', dev))).toBe(false);

    const work = join(dir, 'work');
    mkdirSync(work);
    const gateway = spawnCommand(rsp, ['serve', '--port', '0', '--data-dir', join(dir, 'gateway')], ENV, work);
    running.push(gateway);
    const url = (await gateway.waitFor(/GraphQL endpoint:\s+(http:\/\/\S+)\/graphql/, 120_000))[1]!;
    const adminToken = (await gateway.waitFor(/shown ONCE[^\n]*\n\s+(rsp_\S+)/))[1]!;
    const answer = (await (await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ gateway { version database } }' }) })).json()) as { data: { gateway: { version: string; database: string } } };
    expect(answer.data.gateway.version).toBe(VERSION);
    const dashboard = await fetch(`${url}/`, { headers: { accept: 'text/html' } });
    expect(dashboard.status).toBe(200);

    const { stdout: joinOut } = await run(rsp, ['--url', url, '--token', adminToken, '--json', 'agent', 'token', 'create', 'packaged', '--ttl', '600'], { cwd: work, env: { ...process.env, PATH: ENV.PATH, NODE_COMPILE_CACHE: ENV.NODE_COMPILE_CACHE } });
    const joinToken = (JSON.parse(joinOut) as { token: string }).token;
    const agent = spawnCommand(rsp, ['agent', '--gateway', url, '--token', joinToken, '--drivers', 'fake', '--data-dir', join(dir, 'agent')], ENV, work);
    running.push(agent);
    await agent.waitFor(/connected to the gateway/, 60_000);

    // Not a terminal: JSON log lines, no colours (what the journal gets under systemd).
    agent.child.kill('SIGTERM');
    gateway.child.kill('SIGTERM');
    const [agentEnd, gatewayEnd] = await Promise.all([agent.exited, gateway.exited]);
    expect(agentEnd.code).toBe(0);
    expect(gatewayEnd.code).toBe(0);
    for (const out of [agentEnd.stdout, agentEnd.stderr, gatewayEnd.stdout, gatewayEnd.stderr]) expect(out).not.toMatch(/\x1b\[/);
    expect(agentEnd.stdout.split('\n').filter((l) => l.includes('connected to the gateway')).map((l) => JSON.parse(l) as { msg: string })[0]!.msg).toBe('connected to the gateway');
  }, 600_000);

  /**
   * The README's `npx --package ./rsp-coop-rsp-<version>.tgz rsp serve`: npx installs the tarball
   * into its own cache and runs the gateway from there, nothing installed globally. npx's folder is
   * the test's (an npm cache folder whose package store is a link to the ordinary one, so nothing is
   * downloaded again and nothing is left behind); without install scripts (checked on their own by
   * the last test; the native builds take minutes). It serves the data directory the first test's
   * gateway left (a fresh one's migrations, the same code, are that test's).
   */
  test('npx runs rsp serve from the tarball', async () => {
    const { stdout: cacheDir } = await run('npm', ['config', 'get', 'cache'], { env: { ...process.env, PATH: ENV.PATH } });
    const cache = join(dir, 'npx-cache');
    mkdirSync(cache);
    symlinkSync(join(cacheDir.trim(), '_cacache'), join(cache, '_cacache'));
    const npxEnv = { ...ENV, npm_config_cache: cache, npm_config_ignore_scripts: 'true', npm_config_prefer_offline: 'true', npm_config_yes: 'true', npm_config_audit: 'false', npm_config_fund: 'false' };
    const gateway = spawnCommand('npx', ['--package', `./${basename(tarball)}`, 'rsp', 'serve', '--port', '0', '--data-dir', join(dir, 'gateway')], npxEnv, dir);
    running.push(gateway);
    expect((await gateway.waitFor(/RSP (\S+) — site/, 300_000))[1]).toBe(VERSION);
    const url = (await gateway.waitFor(/GraphQL endpoint:\s+(http:\/\/\S+)\/graphql/, 120_000))[1]!;
    const answer = (await (await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ gateway { version } }' }) })).json()) as { data: { gateway: { version: string } } };
    expect(answer.data.gateway.version).toBe(VERSION);
    // It ran from npx's folder, not from the global install.
    expect(readdirSync(join(cache, '_npx')).length).toBe(1);
    expect(existsSync(join(cache, '_npx', readdirSync(join(cache, '_npx'))[0]!, 'node_modules', '@rsp-coop', 'rsp', 'dist', 'gateway', 'cli', 'rsp.js'))).toBe(true);
    // Stopped as a service manager would stop the gateway npx started: SIGTERM to its process (its log gives the pid).
    const pid = Number(/"pid":(\d+)/.exec(gateway.output().stdout)![1]);
    process.kill(pid, 'SIGTERM');
    expect((await gateway.exited).code).toBe(0);
  }, 600_000);

  /**
   * The systemd units as the package ships them, checked by systemd itself (`systemd-analyze
   * verify`: every key known and parsed, the commands executable), and the gateway's sandboxing by
   * `systemd-analyze security` (exposure 4.0 or less, systemd's "OK"); a copy with a misspelt key
   * shows the check can fail. systemd need not run (it is not PID 1 here): only its tool is used.
   */
  test('the shipped systemd units pass systemd-analyze verify, and the gateway unit its security check', async () => {
    const units = ['rsp-gateway.service', 'rsp-agent.service'].map((u) => join(installed, 'deploy', 'systemd', u));
    const analyze = async (args: string[]) => {
      try {
        const { stdout, stderr } = await run('systemd-analyze', args, { cwd: dir });
        return { code: 0, stdout, stderr };
      } catch (e) {
        const failed = e as { code: number | string; stdout?: string; stderr?: string };
        return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
      }
    };
    if ((await analyze(['--version'])).code === 'ENOENT') {
      if (process.env.CI === 'true') throw new Error('CI=true and systemd-analyze is missing (apt-get install systemd)');
      process.stdout.write('skipped the systemd units check: systemd-analyze not found (apt-get install systemd)\n');
      return;
    }
    for (const unit of units) expect(await analyze(['verify', unit])).toEqual({ code: 0, stdout: '', stderr: '' });
    const security = await analyze(['security', '--offline=yes', '--threshold=40', units[0]!]);
    expect(security.stdout).toMatch(/Overall exposure level for rsp-gateway\.service: \d\.\d OK/);
    expect(security.code).toBe(0);
    const broken = join(dir, 'units', 'rsp-gateway.service');
    mkdirSync(dirname(broken), { recursive: true });
    writeFileSync(broken, readFileSync(units[0]!, 'utf8').replace('ProtectHome=yes', 'ProtectHom=yes'));
    expect((await analyze(['verify', broken])).stderr).toMatch(/Unknown key 'ProtectHom' in section \[Service\]/);
  });

  /**
   * The README's "From the package to two machines over TLS, step by step", line by line, from
   * the install above: machine 1 is this namespace, machine 2 a network namespace on a private
   * bridge (the same filesystem, so its `npm install -g` is the one already made). What the lines
   * get beyond the README: a free port instead of 4000, a folder of the test per machine, the
   * fake driver instead of Docker (and a fake root filesystem as rootfs.tar).
   */
  describeWithEngine('netns', "the README's install walkthrough: TLS, an agent on a second machine", () => {
    let lab: NetnsLab;
    beforeAll(async () => {
      lab = await createLab(['box2']);
    }, 120_000);
    afterAll(async () => {
      await lab?.teardown();
    });

    test('installed package, gateway over HTTPS, agent in a namespace over WSS, an environment on it', async () => {
      const steps = walkthroughSteps('From the package to two machines over TLS');
      const machine = [join(dir, 'machine1'), join(dir, 'machine2')];
      for (const m of machine) mkdirSync(m);
      writeFileSync(join(machine[0]!, 'rootfs.tar'), createRootfsTar({ '/etc/os-release': 'ID=busybox\n' }));
      const ids: Record<string, string> = { 'new-version': newVersion };
      let port = '';
      let gateway!: RspProcess;
      let agent!: RspProcess;
      const cliEnv: Record<string, string | undefined> = { ...ENV, RSP_CLI_CONFIG: join(dir, 'rsp-config.json') };
      const cli = async (args: string[]) => {
        try {
          return await run(rsp, args, { cwd: machine[0], env: rspEnv(cliEnv) });
        } catch (e) {
          const failed = e as Error & { stdout?: string; stderr?: string };
          throw new Error(`rsp ${args.join(' ')}: ${failed.message}\nstdout: ${failed.stdout}\nstderr: ${failed.stderr}`);
        }
      };
      /** Takes the next README line, checks how it starts and on which machine, and hands its words (placeholders filled) to `use`. */
      const step = async (on: number, expected: string[], use: (words: string[], line: ReadmeStep) => Promise<void>) => {
        const line = steps.shift();
        expect(line?.words.slice(0, expected.length)).toEqual(expected);
        expect(line!.machine).toBe(on);
        const words = line!.words.map((w) =>
          w === 'docker'
            ? 'fake'
            : w
                .replace(':4000', `:${port}`)
                .replace('<machine-1-address>', lab.rootAddress)
                .replace('/var/lib/rsp-agent', join(machine[1]!, 'agent'))
                .replace('$PWD', machine[on - 1]!)
                .replace(/<([a-z0-9-]+)>/g, (m, name: string) => ids[name] ?? m),
        );
        await use(words, line!);
      };
      /** The install of the first release (made by the fixture), or of the next one (made here, into the same prefix: both machines share it). */
      const installStep = (on: number, next = false) =>
        step(on, ['sudo', 'npm', 'install', '-g'], async (words) => {
          expect(words).toEqual(['sudo', 'npm', 'install', '-g', `./${basename(next ? newTarball : tarball)}`]);
          if (next && on === 1) await upgradeInPlace();
          expect(existsSync(rsp)).toBe(true);
        });
      /** `rsp agent …` on machine 2, in its namespace, until it is connected. */
      const startAgent = async (args: string[]) => {
        agent = spawnCommand('ip', ['netns', 'exec', lab.nodes.box2!.ns, rsp, ...args], { ...ENV, LOG_FORMAT: 'json' }, machine[1]);
        running.push(agent);
        await agent.waitFor(/connected to the gateway/, 60_000);
      };
      /** The host's agent connection as the API gives it, once its agent is connected. */
      const agentConnection = () =>
        until('the host UP with its agent connected', async () => {
          const shown = JSON.parse((await cli(['--json', 'host', 'show', ids['host-id']!])).stdout) as { state: string; agentConnection: { state: string; version: string; protocol: number } };
          return shown.state === 'UP' && shown.agentConnection.state === 'CONNECTED' ? shown.agentConnection : undefined;
        }, 120_000);
      /** The version the gateway serves (`gateway { version }` over HTTPS, trusting cert.pem). */
      const servedVersion = () =>
        new Promise<string>((resolve, reject) => {
          const req = httpsRequest(`https://${lab.rootAddress}:${port}/graphql`, { method: 'POST', ca: readFileSync(join(machine[0]!, 'cert.pem')), headers: { 'content-type': 'application/json' } }, (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => (text += chunk));
            res.on('end', () => resolve((JSON.parse(text) as { data: { gateway: { version: string } } }).data.gateway.version));
          });
          req.on('error', reject);
          req.end(JSON.stringify({ query: '{ gateway { version } }' }));
        });

      await installStep(1);
      await step(1, ['openssl', 'req', '-x509'], async ([file, ...args]) => {
        await run(file!, args, { cwd: machine[0] });
      });
      await step(1, ['rsp', 'serve', '--host', '0.0.0.0', '--tls-cert'], async ([, ...args]) => {
        gateway = spawnCommand(rsp, [...args, '--port', '0'], ENV, machine[0]);
        running.push(gateway);
        port = (await gateway.waitFor(/GraphQL endpoint:\s+https:\/\/[^\s/]+:(\d+)\/graphql/, 120_000))[1]!;
        ids['site-admin-token'] = (await gateway.waitFor(/shown ONCE[^\n]*\n\s+(rsp_\S+)/))[1]!;
      });
      await step(1, ['export'], async ([, assignment]) => {
        const [name, value] = assignment!.split('=');
        expect(name).toBe('RSP_CA_FILE');
        cliEnv[name!] = value;
      });
      await step(1, ['rsp', 'login', '--url'], async ([, ...args]) => {
        expect(args[2]).toBe(`https://${lab.rootAddress}:${port}`);
        await cli(args);
      });
      await step(1, ['rsp', 'group', 'create'], async ([, ...args]) => {
        ids['group-id'] = /Created group alpha \((\S+)\)/.exec((await cli(args)).stdout)![1]!;
      });
      await step(1, ['rsp', 'site', 'create'], async ([, ...args]) => {
        ids['site-id'] = /Created site far \((\S+)\)/.exec((await cli(args)).stdout)![1]!;
      });
      await step(1, ['rsp', 'agent', 'token', 'create', 'box2-agent'], async ([, ...args]) => {
        ids['join-token'] = /\n(rspj_\S+)\n$/.exec((await cli(args)).stdout)![1]!;
      });
      await installStep(2);
      await step(2, ['rsp', 'agent', '--gateway'], async ([, ...args]) => {
        // "a copy of machine 1's cert.pem"
        copyFileSync(join(machine[0]!, 'cert.pem'), join(machine[1]!, 'cert.pem'));
        await startAgent(args);
      });
      await step(1, ['rsp', 'host', 'create', 'box2'], async ([, ...args]) => {
        ids['host-id'] = /Created host box2 \((\S+)\)/.exec((await cli(args)).stdout)![1]!;
      });
      await step(1, ['rsp', 'image', 'import'], async ([, ...args]) => {
        ids['image-id'] = /Imported busybox:1 \(fake\) as (\S+),/.exec((await cli(args)).stdout)![1]!;
      });
      await step(1, ['rsp', 'env', 'create', 'web'], async ([, ...args]) => {
        const created = await cli(args);
        expect(created.stdout).toMatch(/state:\s+SUCCEEDED/);
        ids['env-id'] = /Environment (\S+)/.exec(created.stderr)![1]!;
      });
      await step(1, ['rsp', 'env', 'start'], async ([, ...args]) => expect((await cli(args)).stdout).toMatch(/state:\s+SUCCEEDED/));
      await step(1, ['rsp', 'env', 'exec'], async ([, ...args]) => expect((await cli(args)).stdout).toBe('web\n'));
      // It ran on machine 2: the environment's host is the one its agent serves.
      const host = JSON.parse((await cli(['--json', 'env', 'show', ids['env-id']!])).stdout) as { hostId: string };
      expect(host.hostId).toBe(ids['host-id']);

      // The upgrade to the next release (a patch version up, one migration more): a backup while the gateway runs, the gateway stopped, the new package, its status, a restart on the same port.
      await step(1, ['rsp', 'admin', 'backup', '--online'], async ([, ...args]) => {
        expect((await cli(args)).stdout).toMatch(/^Backed up \d+ row\(s\)/);
        expect(existsSync(join(machine[0]!, 'before-upgrade.rspbackup'))).toBe(true);
      });
      gateway.child.kill('SIGTERM');
      expect((await gateway.exited).code).toBe(0);
      await installStep(1, true);
      await step(1, ['rsp', '--version'], async ([, ...args]) => expect((await cli(args)).stdout).toBe(`${newVersion}\n`));
      await step(1, ['rsp', 'migrate', '--status'], async ([, ...args]) => expect((await cli(args)).stdout).toMatch(/\d+ applied, 1 pending\n[\s\S]*NextRelease1764007199999\s+pending/));
      await step(1, ['rsp', 'serve', '--host', '0.0.0.0', '--tls-cert'], async ([, ...args]) => {
        gateway = spawnCommand(rsp, [...args, '--port', port], ENV, machine[0]);
        running.push(gateway);
        expect((await gateway.waitFor(/RSP (\S+) — site/, 120_000))[1]).toBe(newVersion);
        await gateway.waitFor(/GraphQL endpoint:\s+https:\/\//, 120_000);
        expect(await servedVersion()).toBe(newVersion);
      });
      // The agent on machine 2 dialled again by itself: still the first release, on the protocol both speak.
      await until('the agent connected again', () => (agent.output().stdout.match(/connected to the gateway/g) ?? []).length >= 2, 120_000);
      expect(await agentConnection()).toEqual({ state: 'CONNECTED', version: VERSION, protocol: AGENT_PROTOCOL_VERSION, connectedAt: expect.any(String), lastHeartbeatAt: expect.any(String), agentId: 'box2-agent' });
      await step(1, ['rsp', 'host', 'show'], async ([, ...args]) => expect((await cli(args)).stdout).toMatch(new RegExp(`agent version:\\s+${VERSION}\\nagent protocol:\\s+${AGENT_PROTOCOL_VERSION}\\n`)));
      await step(1, ['rsp', 'env', 'exec'], async ([, ...args]) => expect((await cli(args)).stdout).toBe('web\n'));
      // Then the agent: the new package (already on machine 2's disk, the shared prefix), the agent stopped and started again with the same line.
      await installStep(2, true);
      await step(2, ['rsp', 'agent', '--gateway'], async ([, ...args]) => {
        agent.child.kill('SIGTERM');
        expect((await agent.exited).code).toBe(0);
        await startAgent(args);
      });
      await step(1, ['rsp', 'host', 'show'], async ([, ...args]) => {
        await until('the new agent version recorded', async () => (await agentConnection()).version === newVersion, 60_000);
        expect((await cli(args)).stdout).toMatch(new RegExp(`agent version:\\s+${newVersion}\\n`));
      });
      expect(steps).toEqual([]);
    }, 600_000);
  });

  /**
   * A rolling upgrade of two gateway replicas on one PostgreSQL (and Redis), from the installed
   * releases (the first one's copy, and the install the walkthrough upgraded): A and B run the first release; A stopped and started from the next one migrates the
   * database (its one migration more) while B, the first release, keeps running on it: both serve
   * reads and writes, and calls between them (an environment on one's in-process agent created
   * through the other) cross the versions. A first-release gateway started now is refused (the
   * database has a migration it does not know); B is then upgraded like A, nothing left to migrate.
   */
  describeWithEngine('postgres', 'a rolling upgrade of two gateway replicas on PostgreSQL, from the installed releases', () => {
    describeWithEngine('redis', 'with Redis', () => {
      let db: TestDatabase;
      /** The first release (the copy of its install) and the next one (the install upgraded in place). */
      let firstRsp: string;
      let nextRsp: string;
      const replicaRun = `${process.pid}-${randomBytes(3).toString('hex')}`;
      beforeAll(async () => {
        db = await createTestDatabase('postgres');
        firstRsp = join(firstPrefix, 'bin', 'rsp');
        await upgradeInPlace();
        nextRsp = rsp;
      }, 300_000);
      afterAll(async () => {
        await db?.drop();
      });

      test('A upgraded first migrates the database; B, a release behind, keeps serving beside it; an old gateway cannot start on it; then B upgraded', async () => {
        const replicaEnv = (name: string) => ({
          ...ENV,
          DATABASE_URL: db.databaseUrl,
          REDIS_URL,
          RSP_REDIS_PREFIX: `rsp-rolling-${replicaRun}:`,
          RSP_DATA_DIR: join(db.dataDir, `replica-${name}`),
          RSP_IMAGE_DIR: join(db.dataDir, 'images'),
          RSP_LOCAL_AGENT_ID: `gw${name}-${replicaRun}`,
          RSP_METRICS_INTERVAL_MS: '0',
        });
        const serve = async (name: string, bin: string) => {
          const p = spawnCommand(bin, ['serve', '--port', '0'], replicaEnv(name), dir);
          running.push(p);
          const url = (await p.waitFor(/GraphQL endpoint:\s+(http:\/\/\S+)\/graphql/, 120_000))[1]!;
          return { p, url };
        };
        const stop = async (p: RspProcess) => {
          p.child.kill('SIGTERM');
          expect((await p.exited).code).toBe(0);
        };
        let admin = '';
        const gql = async (url: string, query: string, variables: Record<string, unknown> = {}) => {
          const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` }, body: JSON.stringify({ query, variables }) });
          const body = (await res.json()) as { data?: any; errors?: unknown[] };
          if (body.errors?.length) throw new Error(`GraphQL errors from ${url}: ${JSON.stringify(body.errors)}`);
          return body.data;
        };
        const version = async (url: string) => (await gql(url, '{ gateway { version } }')).gateway.version as string;
        const ours = ['ops', 'written-by-new', 'written-by-old'];
        /** The groups this test made, as `url` lists them. */
        const groupNames = async (url: string) => ((await gql(url, '{ groups(first: 500) { nodes { name } } }')).groups.nodes as Array<{ name: string }>).map((g) => g.name).filter((n) => ours.includes(n)).sort();
        const createGroup = async (url: string, slug: string) => (await gql(url, 'mutation ($i: CreateGroupInput!) { createGroup(input: $i) { id } }', { i: { slug, name: slug } })).createGroup.id as string;
        const migrations = async (bin: string) => JSON.parse((await run(bin, ['--json', 'migrate', '--status'], { cwd: dir, env: rspEnv(replicaEnv('status')) })).stdout) as { applied: Array<{ name: string; appliedBy?: string }>; pending: string[] };

        // Both replicas on the first release.
        let a = await serve('a', firstRsp);
        admin = (await a.p.waitFor(/shown ONCE[^\n]*\n\s+(rsp_\S+)/))[1]!;
        let b = await serve('b', firstRsp);
        expect([await version(a.url), await version(b.url)]).toEqual([VERSION, VERSION]);
        const group = await createGroup(a.url, 'ops');
        const site = (await gql(b.url, 'mutation ($g: ID!) { createSite(input: { name: "main", ownerGroupId: $g }) { id } }', { g: group })).createSite.id as string;
        // A host on each replica's in-process agent (`agent: local` is the replica that got the request).
        const hostOn = async (url: string, hostname: string) => (await gql(url, 'mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: site, ownerGroupId: group, hostname, agent: 'local' } })).createHost.id as string;
        const hostA = await hostOn(a.url, 'box-a');
        const hostB = await hostOn(b.url, 'box-b');
        const image = (await gql(a.url, 'mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: group, name: 'app', version: '1', technology: 'fake' } })).registerImage.id as string;
        const upload = await fetch(`${a.url}/images/${image}/content`, { method: 'PUT', headers: { 'content-type': 'application/x-tar', authorization: `Bearer ${admin}` }, body: new Uint8Array(createRootfsTar({ '/etc/os-release': 'ID=app\n' })) });
        expect(upload.status).toBe(200);

        // A upgraded: stopped, started from the next release; it applies the one migration more, recorded as applied by it.
        expect((await migrations(nextRsp)).pending).toEqual([`NextRelease${NEXT_MIGRATION.timestamp}`]);
        await stop(a.p);
        a = await serve('a', nextRsp);
        expect(a.p.output().stdout).toMatch(new RegExp(`"migration":"NextRelease${NEXT_MIGRATION.timestamp}"[^\\n]*"msg":"migration applied"`));
        const status = await migrations(nextRsp);
        expect(status.pending).toEqual([]);
        expect(status.applied.at(-1)).toEqual({ name: `NextRelease${NEXT_MIGRATION.timestamp}`, appliedBy: newVersion, known: true });

        // B, still the first release and still running, serves the migrated database beside A: reads and writes both ways.
        expect([await version(a.url), await version(b.url)]).toEqual([newVersion, VERSION]);
        await createGroup(b.url, 'written-by-old');
        await createGroup(a.url, 'written-by-new');
        expect(await groupNames(a.url)).toEqual(ours);
        expect(await groupNames(b.url)).toEqual(ours);
        // Calls across the versions: an environment created through B on A's in-process agent, and one through A on B's.
        const settled = (url: string, id: string) =>
          until(`operation ${id} settled`, async () => {
            const op = (await gql(url, 'query ($id: ID!) { operation(id: $id) { state error { code message } } }', { id })).operation;
            return op.state === 'SUCCEEDED' || op.state === 'FAILED' ? op : undefined;
          }, 60_000);
        const envOn = async (through: string, hostId: string, name: string) => {
          const created = (await gql(through, 'mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: group, hostId, imageId: image, name } })).createEnvironment;
          expect(await settled(through, created.operation.id)).toMatchObject({ state: 'SUCCEEDED' });
          const env = created.environment.id as string;
          expect(await settled(through, (await gql(through, 'mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: env })).startEnvironment.id)).toMatchObject({ state: 'SUCCEEDED' });
          return env;
        };
        const exec = async (url: string, env: string) => (await gql(url, 'mutation ($id: ID!, $c: [String!]!) { execEnvironment(id: $id, command: $c) { exitCode stdout } }', { id: env, c: ['cat', '/etc/os-release'] })).execEnvironment;
        const onNew = await envOn(b.url, hostA, 'on-new');
        const onOld = await envOn(a.url, hostB, 'on-old');
        for (const url of [a.url, b.url]) {
          expect(await exec(url, onNew)).toEqual({ exitCode: 0, stdout: 'ID=app\n' });
          expect(await exec(url, onOld)).toEqual({ exitCode: 0, stdout: 'ID=app\n' });
        }

        // A first-release gateway cannot start on it now (no restart of an old replica): exit 1, naming the migration and the version that applied it.
        const late = spawnCommand(firstRsp, ['serve', '--port', '0'], replicaEnv('late'), dir);
        running.push(late);
        const refused = await late.exited;
        expect(refused.code).toBe(1);
        expect(refused.stderr).toContain(`The database was migrated by RSP ${newVersion}, newer than this RSP ${VERSION}: it has migration(s) this version does not know: NextRelease${NEXT_MIGRATION.timestamp}.`);
        expect(await version(b.url)).toBe(VERSION);

        // Then B upgraded the same way: nothing left to migrate; both on the next release, every write kept.
        await stop(b.p);
        b = await serve('b', nextRsp);
        expect(b.p.output().stdout).not.toMatch(/migration applied/);
        expect([await version(a.url), await version(b.url)]).toEqual([newVersion, newVersion]);
        expect(await groupNames(b.url)).toEqual(ours);
        expect(await exec(b.url, onNew)).toEqual({ exitCode: 0, stdout: 'ID=app\n' });
        await Promise.all([stop(a.p), stop(b.p)]);
      }, 600_000);
    });
  });

  /**
   * What `npm install -g` runs after unpacking: the packages' install scripts, run (as `npm rebuild`)
   * in the background since the install, on the copy of the first release. With libvirt's headers
   * (CI: libvirt-dev) they build the libvirt driver's native binding, which loads; without them the
   * package's postinstall says why and the install still succeeds.
   */
  test("the package's install scripts succeed and build the libvirt binding, which loads", async () => {
    const built = await scripts;
    if (!built.ok) throw new Error(`npm rebuild (the install scripts) failed: ${built.output}`);
    const binding = join(firstPrefix, 'lib', 'node_modules', '@rsp-coop', 'rsp', 'node_modules', '@unraid', 'libvirt');
    if (!existsSync('/usr/include/libvirt/libvirt.h')) {
      expect(built.output).toMatch(/libvirt headers missing/);
      return;
    }
    expect(existsSync(join(binding, 'build', 'Release', 'libvirt.node'))).toBe(true);
    await run(process.execPath, ['-e', `require(${JSON.stringify(binding)})`], { cwd: dir });
  }, 600_000);

});
