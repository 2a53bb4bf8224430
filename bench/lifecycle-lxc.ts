/**
 * bench:lxc — create + start + stop + destroy of N containers, through the LXC driver and
 * through the `lxc-*` tools directly (execFile, same root filesystem, same config), and through the
 * whole gateway (GraphQL → agent → driver), in one run. Prints each and the ratios to direct.
 * `N` (default 5) sets the count.
 *
 *   npm run build && npm run bench:lxc        (root, lxc installed)
 */
// First, as rsp's CLI does: graphql-js in production mode unless NODE_ENV is set (measured as served).
import '../gateway/server/graphql-production';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createLxcDriver } from '../drivers/lxc';
import { RSP_INIT_SCRIPT } from '../drivers/host/rootfs';
import { buildBusyboxRootfs } from '../test/fixtures/busybox-rootfs';
import { startGatewayBench } from './gateway-lifecycle';

const run = promisify(execFile);

async function main(): Promise<void> {
  const n = Number(process.env.N ?? 5);
  const work = mkdtempSync(join(tmpdir(), 'rsp-bench-lxc-'));
  const tarball = await buildBusyboxRootfs({ 'sbin/rsp-init': { text: RSP_INIT_SCRIPT, mode: 0o755 } });
  const driverPath = join(work, 'driver');
  const directPath = join(work, 'direct');
  mkdirSync(directPath);
  const driver = createLxcDriver({ lxcPath: driverPath, imageDir: join(work, 'images') });
  const probe = await driver.probe();
  if (!probe.available) throw new Error(`LXC is not usable here: ${probe.reason}`);

  async function throughDriver(i: number): Promise<void> {
    const id = `bench-${i}`;
    await driver.create({ id, image: { ref: tarball }, iface: { hostname: id } });
    await driver.start(id);
    await driver.stop(id, { graceSeconds: 5 });
    await driver.destroy(id);
  }

  async function direct(i: number): Promise<void> {
    const name = `direct-${i}`;
    const conf = join(work, `${name}.conf`);
    writeFileSync(conf, [
      `lxc.uts.name = ${name}`,
      `lxc.rootfs.path = dir:${join(directPath, name, 'rootfs')}`,
      'lxc.mount.auto = proc:mixed sys:ro',
      'lxc.init.cmd = /sbin/rsp-init',
      'lxc.signal.halt = SIGTERM',
      'lxc.net.0.type = empty',
      '',
    ].join('\n'));
    const p = ['-P', directPath, '-n', name];
    mkdirSync(join(directPath, name, 'rootfs'), { recursive: true });
    await run('tar', ['-x', '--numeric-owner', '-f', tarball, '-C', join(directPath, name, 'rootfs')]);
    await run('lxc-create', [...p, '-t', 'none', '-f', conf]);
    await run('lxc-start', p);
    await run('lxc-stop', [...p, '-t', '5']);
    await run('lxc-destroy', p);
  }

  async function time(label: string, one: (i: number) => Promise<void>): Promise<number> {
    await one(1000); // warm-up (page cache, lxc libraries)
    const started = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await one(i);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    console.log(`${label.padEnd(28)} ${n} × create+start+stop+destroy: ${ms.toFixed(0)} ms total, ${(ms / n).toFixed(1)} ms each`);
    return ms;
  }

  const gateway = await startGatewayBench('lxc', 'lxc', tarball);
  try {
    console.log(`LXC lifecycle bench: ${probe.version}, N=${n}`);
    const g = await time('RSP gateway (GraphQL)', (i) => gateway.cycle(`bench-g${i}`));
    const d = await time('RSP LXC driver', throughDriver);
    const c = await time('lxc-* CLI directly (baseline)', direct);
    console.log(`ratio gateway / direct: ${(g / c).toFixed(2)}×`);
    console.log(`ratio driver / direct: ${(d / c).toFixed(2)}×`);
  } finally {
    await gateway.close();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
