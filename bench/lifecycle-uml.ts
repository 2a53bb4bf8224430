/**
 * bench:uml — create + start + stop + destroy of N User-Mode Linux guests through the whole
 * gateway (GraphQL → agent → the UML driver plugin, loaded by RSP_PLUGINS) and by hand (uml_mkcow,
 * linux.uml with the same arguments, boot to the same "ready" point, uml_mconsole halt, rm), same
 * busybox guest, same run. Prints both and the ratio. `N` (default 5) sets the count.
 *
 *   npm run build && npm run bench:uml        (user-mode-linux, uml-utilities, busybox-static)
 */
// First, as rsp's CLI does: graphql-js in production mode unless NODE_ENV is set (measured as served).
import '../gateway/server/graphql-production';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildBusyboxRootfs } from '../test/fixtures/busybox-rootfs';
import { startGatewayBench } from './gateway-lifecycle';

const run = promisify(execFile);
const PLUGIN = join(__dirname, '..', '..', 'plugins', 'uml');

/** What the hand-run guest's init does: the same boot steps as the plugin's guest init, up to "ready". */
const DIRECT_INIT = `#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t hostfs none /.host -o "$bench_host"
hostname "$(cat /.host/hostname)"
echo ready > /.host/ready
while :; do sleep 0.2; done
`;

async function main(): Promise<void> {
  const n = Number(process.env.N ?? 5);
  const work = await mkdtemp(join(tmpdir(), 'rsp-bench-uml-'));
  const tarball = await buildBusyboxRootfs();

  // The hand-run guest: an ext2 base disk made once from the same tarball (like an image import).
  const tree = join(work, 'tree');
  await mkdir(join(tree, '.host'), { recursive: true });
  await run('tar', ['-xf', tarball, '-C', tree]);
  await writeFile(join(tree, 'init.sh'), DIRECT_INIT);
  await chmod(join(tree, 'init.sh'), 0o755);
  const base = join(work, 'base.img');
  await run('mke2fs', ['-q', '-t', 'ext2', '-F', '-d', tree, base, '262144k']);
  const flags = (await readFile('/proc/cpuinfo', 'utf8')).match(/^flags\s*:(.*)$/m)?.[1] ?? '';
  let preload: string | undefined;
  if (/\b(avx512f|amx_tile)\b/.test(flags)) {
    preload = join(work, 'xstate-shim.so');
    await run('cc', ['-shared', '-fPIC', '-O2', '-o', preload, join(PLUGIN, 'native', 'xstate-shim.c'), '-ldl']);
  }

  async function byHand(i: number): Promise<void> {
    const dir = join(work, `direct-${i}`);
    const host = join(dir, 'host');
    await mkdir(host, { recursive: true });
    await writeFile(join(host, 'hostname'), `direct-${i}\n`);
    await run('uml_mkcow', ['-f', join(dir, 'cow.img'), base]);
    const log = await open(join(dir, 'console.log'), 'a');
    const args = ['mem=128M', `ubda=${join(dir, 'cow.img')},${base}`, 'root=/dev/ubda', 'rw', 'init=/init.sh', `umid=direct-${i}`, `uml_dir=${join(work, 'run')}`, 'con=null', 'ssl=null', 'con0=null,fd:1', `bench_host=${host}`];
    const child = spawn('linux.uml', args, { detached: true, stdio: ['ignore', log.fd, log.fd], env: preload ? { ...process.env, LD_PRELOAD: preload } : process.env });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    await log.close();
    while (!existsSync(join(host, 'ready'))) {
      if (child.exitCode !== null) throw new Error(`the hand-run guest died: ${await readFile(join(dir, 'console.log'), 'utf8')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const socket = join(work, 'run', `direct-${i}`, 'mconsole');
    await run('uml_mconsole', [socket, 'sysrq', 's']);
    await run('uml_mconsole', [socket, 'halt']);
    await exited;
    await rm(dir, { recursive: true, force: true });
  }

  async function time(label: string, one: (i: number) => Promise<void>): Promise<number> {
    await one(1000); // warm-up (page cache)
    const started = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await one(i);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    console.log(`${label.padEnd(34)} ${n} × create+start+stop+destroy: ${ms.toFixed(0)} ms total, ${(ms / n).toFixed(1)} ms each`);
    return ms;
  }

  const gateway = await startGatewayBench('fake', 'uml', tarball, undefined, { RSP_PLUGINS: PLUGIN });
  try {
    const { stdout } = await run('linux.uml', ['--version']);
    console.log(`UML lifecycle bench: linux.uml ${stdout.trim()}, N=${n}, load ${(await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ')}`);
    const g = await time('RSP gateway (GraphQL → UML plugin)', (i) => gateway.cycle(`bench-g${i}`));
    const d = await time('linux.uml by hand (baseline)', byHand);
    console.log(`ratio gateway / by hand: ${(g / d).toFixed(2)}×`);
  } finally {
    await gateway.close();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
