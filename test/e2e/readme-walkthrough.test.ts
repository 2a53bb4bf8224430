import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT, RspProcess, RspResult, runRsp, spawnRsp } from '../helpers/cli';
import { describeWithEngine } from '../helpers/engines';

const run = promisify(execFile);

/** The fenced shell blocks of the README's "Getting started" section, as one text. */
function gettingStarted(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = /## Getting started[^\n]*\n([\s\S]*?)\n## /.exec(readme)?.[1] ?? '';
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]).join('');
}

/** A README line as the test runs it: the words, with `"…"` around those holding a space. */
function lineOf(words: string[]): string {
  return words.map((w) => (w.includes(' ') ? `"${w}"` : w)).join(' ');
}

/**
 * Issue 12's "done when": a newcomer follows the README's Getting started — starts the gateway with
 * the Docker driver (its first start makes the admin group, this machine as a host and a busybox
 * image), creates a token, creates and starts an environment on Docker from that image, watches it
 * in `rsp top`, then imports an image of their own. This runs exactly those commands, in order,
 * each checked to be in the README, with the ids the previous ones printed. The only difference:
 * the gateway listens on a free port (`--port 0`) in a temporary data folder.
 */
describeWithEngine('docker', 'the README walkthrough with the rsp CLI on Docker', () => {
  const readme = gettingStarted();
  let dir: string;
  let server: RspProcess;
  let url = '';
  const ids: Record<string, string> = {};

  /** Runs a README line (placeholders as in the README) as the newcomer would, in the work folder. */
  async function step(words: string[]): Promise<RspResult> {
    expect(words[0]).toBe('rsp');
    expect(readme).toContain(lineOf(words));
    const args = words.slice(1).map((w) => w.replace('http://127.0.0.1:4000', url).replace('$(hostname)', hostname()).replace(/<([a-z-]+)>/g, (m, name: string) => ids[name] ?? m));
    const res = await runRsp(args, { RSP_CLI_CONFIG: join(dir, 'rsp-config.json') }, dir);
    if (res.code !== 0) throw new Error(`${lineOf(words)} exited ${res.code}\nstdout: ${res.stdout}\nstderr: ${res.stderr}`);
    return res;
  }

  /** Runs a README shell line that is not an rsp command (the root filesystem), through sh as a reader would. */
  async function shell(line: string): Promise<void> {
    expect(readme).toContain(line);
    await run('sh', ['-c', line], { cwd: dir });
  }

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'rsp-readme-'));
  });
  afterAll(async () => {
    if (ids['env-id'] && url) await runRsp(['env', 'destroy', ids['env-id']], { RSP_CLI_CONFIG: join(dir, 'rsp-config.json') }, dir);
    if (server) {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  test('start the gateway (it sets this machine up), log in, token; environment on Docker from the busybox image, rsp top; an image of your own', async () => {
    expect(readme).toContain('npm ci && npm run build');
    expect(readme).toContain('RSP_DRIVERS=docker rsp serve');
    server = spawnRsp(['serve', '--port', '0'], { RSP_DRIVERS: 'docker', RSP_DATA_DIR: join(dir, 'data'), DATABASE_URL: '', REDIS_URL: undefined, LOG_FORMAT: 'json', LOG_LEVEL: 'warn', RSP_SITE_NAME: 'readme' }, dir);
    url = (await server.waitFor(/GraphQL endpoint:\s+(http:\/\/\S+)\/graphql/, 180_000))[1]!;
    ids['site-admin-token'] = (await server.waitFor(/shown ONCE[^\n]*\n\s+(rsp_\S+)/))[1]!;

    // What the first start set up, as it printed it: the admin group, this machine as a host, the busybox image for Docker.
    ids['group-id'] = (await server.waitFor(/group\s+admin \((\S+)\)/))[1]!;
    ids['host-id'] = (await server.waitFor(new RegExp(`host\\s+${hostname()} \\((\\S+)\\), agent local, technologies: docker`)))[1]!;
    ids['image-id'] = (await server.waitFor(/image busybox:\S+ ready: (\S+) \(docker\)/, 120_000))[1]!;

    await step(['rsp', 'login', '--url', 'http://127.0.0.1:4000', '--token', '<site-admin-token>']);
    ids['alice-token'] = /\n(rsp_\S+)\n$/.exec((await step(['rsp', 'token', 'create', 'alice', '--group', '<group-id>', '--role', 'ADMIN'])).stdout)![1]!;
    expect((await step(['rsp', 'login', '--token', '<alice-token>'])).stdout).toMatch(/as "alice" \(ADMIN of group /);

    const created = await step(['rsp', 'env', 'create', 'web', '--host', '<host-id>', '--image', '<image-id>', '--memory', '256MiB']);
    expect(created.stdout).toMatch(/state:\s+SUCCEEDED/);
    ids['env-id'] = /^environment:\s+(\S+)\nname:\s+web\n/.exec(created.stdout)![1]!;
    expect(created.stderr).toContain(`Environment ${ids['env-id']}`);
    expect((await step(['rsp', 'env', 'start', '<env-id>'])).stdout).toMatch(/state:\s+SUCCEEDED/);
    expect((await step(['rsp', 'env', 'exec', '<env-id>', '--', 'hostname'])).stdout).toBe('web\n');

    const top = (await step(['rsp', 'top', '--once'])).stdout;
    expect(top).toMatch(new RegExp(`HOSTS\\nHOST .*\\n${hostname()}\\s+\\d+\\.\\d%\\s+\\d+\\s+\\S+\\s+\\d+\\.\\d/\\d+\\.\\d GiB\\s+.*${ids['host-id']}\\n`));
    expect(top).toMatch(new RegExp(`ENVIRONMENTS\\nENVIRONMENT .*\\nweb\\s+\\d+\\.\\d%\\s+[\\d.]+ [KMG]?i?B / 256 MiB\\s+.*${ids['env-id']}\\n`));

    expect((await step(['rsp', 'env', 'destroy', '<env-id>'])).stdout).toMatch(/state:\s+SUCCEEDED/);
    delete ids['env-id'];

    await shell('mkdir -p rootfs/bin && cp /bin/busybox rootfs/bin/ && for a in sh sleep hostname; do ln -s busybox rootfs/bin/$a; done');
    await shell('tar -C rootfs -cf rootfs.tar .');
    expect((await step(['rsp', 'image', 'import', 'busybox', '1', 'docker', 'rootfs.tar'])).stdout).toMatch(/Imported busybox:1 \(docker\) as \S+,/);
  }, 600_000);
});
