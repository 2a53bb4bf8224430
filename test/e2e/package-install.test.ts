import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { request as httpsRequest } from 'node:https';
import { promisify } from 'node:util';
import { createRootfsTar } from '../../drivers/fake';
import { AGENT_PROTOCOL_VERSION } from '../../gateway/agent/protocol';
import { ROOT, RspProcess, rspEnv, spawnCommand } from '../helpers/cli';
import { describeWithEngine } from '../helpers/engines';
import { createLab, type NetnsLab } from '../helpers/netns';
import { walkthroughSteps, type ReadmeStep } from '../helpers/readme';
import { until } from '../helpers/until';

const run = promisify(execFile);

/** What the installed package's processes run with: PGlite in the test's folder, the fake driver, no Redis, the test's Node first on PATH. */
const ENV = {
  RSP_DRIVERS: 'fake',
  DATABASE_URL: '',
  REDIS_URL: undefined,
  LOG_LEVEL: 'info',
  LOG_FORMAT: undefined,
  RSP_SITE_NAME: '',
  RSP_LOCAL_HOST: '',
  RSP_BOOTSTRAP: '',
  PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
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
  const { stdout } = await run('npm', args, { cwd, env: { ...process.env, PATH: ENV.PATH }, maxBuffer: 64 * 1024 * 1024 });
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
  let installed: string;
  let rsp: string;
  const running: RspProcess[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rsp-package-'));
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
    // The next release, for the walkthrough's upgrade: the same files a patch version up, with one migration more.
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
    prefix = join(dir, 'prefix');
    await npm(['install', '-g', '--prefix', prefix, tarball, '--prefer-offline', '--no-audit', '--no-fund'], dir);
    installed = join(prefix, 'lib', 'node_modules', '@rsp-coop', 'rsp');
    rsp = join(prefix, 'bin', 'rsp');
  }, 600_000);
  afterAll(async () => {
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

    const { stdout: joinOut } = await run(rsp, ['--url', url, '--token', adminToken, '--json', 'agent', 'token', 'create', 'packaged', '--ttl', '600'], { cwd: work, env: { ...process.env, PATH: ENV.PATH } });
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
    for (const out of [agentEnd.stdout, agentEnd.stderr, gatewayEnd.stderr]) expect(out).not.toMatch(/\x1b\[/);
    expect(agentEnd.stdout.split('\n').filter((l) => l.includes('connected to the gateway')).map((l) => JSON.parse(l) as { msg: string })[0]!.msg).toBe('connected to the gateway');
  }, 600_000);

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
          // The next release over the first, in place; without its install scripts (the libvirt binding's native build, 1–2 minutes here; the walkthrough drives the fake driver).
          if (next && on === 1) await npm(['install', '-g', '--prefix', prefix, newTarball, '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], dir);
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
});
