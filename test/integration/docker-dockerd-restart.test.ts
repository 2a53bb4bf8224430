import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImageRef } from '../../drivers/contract';
import { createDockerDriver, type DockerDriver } from '../../drivers/docker';
import { containerName } from '../../drivers/docker/labels';
import { hostVethOf } from '../../drivers/docker/shaping';
import { shapedInterfaces } from '../../drivers/host/shaping';
import { IDLE_COMMAND, importBusyboxImage } from '../fixtures/busybox-rootfs';
import { describeWithEngine } from '../helpers/engines';

/** The tbf rate (bits per second) at the root of `dev`, or undefined without one. */
function rateOn(dev: string): number | undefined {
  const out = spawnSync('tc', ['qdisc', 'show', 'dev', dev, 'root'], { encoding: 'utf8' }).stdout;
  const m = /qdisc tbf \S+ root .*rate (\d+)([KMG]?)bit/.exec(out);
  return m ? Number(m[1]) * ({ '': 1, K: 1e3, M: 1e6, G: 1e9 } as Record<string, number>)[m[2]!]! : undefined;
}

/**
 * A real dockerd restart (not `docker restart`): a second dockerd of the test's own — its own
 * socket, data and exec roots (so its own containerd), its own default bridge, and no iptables
 * of its own — so that the engine the other suites share is not disturbed. The container is
 * given a restart policy, so that the restarted dockerd starts it again by itself, while the
 * driver's event stream is down: the cap keeper follows again and applies the cap to the new veth.
 */
describeWithEngine('docker', 'Docker caps across a real dockerd restart (a second dockerd)', () => {
  const tag = `${process.pid.toString(36)}${randomBytes(2).toString('hex')}`;
  const bridge = `rdd${tag}`.slice(0, 15);
  let dir: string;
  let dockerd: ChildProcess | undefined;
  let driver: DockerDriver;
  let image: ImageRef;
  const id = `dd${tag}-bw`;

  /** Starts the second dockerd and resolves once it answers. */
  const startDockerd = async (): Promise<void> => {
    const child = spawn('dockerd', ['--host', `unix://${dir}/docker.sock`, '--data-root', join(dir, 'data'), '--exec-root', join(dir, 'exec'), '--pidfile', join(dir, 'docker.pid'), '--bridge', bridge, '--iptables=false', '--ip-masq=false', '--storage-driver', 'overlay2'], { stdio: ['ignore', 'ignore', 'pipe'] });
    dockerd = child;
    await new Promise<void>((resolve, reject) => {
      let log = '';
      const onData = (chunk: Buffer) => {
        log += chunk.toString();
        if (log.includes('API listen on')) {
          child.stderr!.off('data', onData);
          child.stderr!.resume();
          resolve();
        }
      };
      child.stderr!.on('data', onData);
      child.once('exit', (code) => reject(new Error(`dockerd ended (${code}) before listening:\n${log.slice(-2000)}`)));
    });
  };
  /** Stops the second dockerd (SIGTERM) and resolves once it ended. */
  const stopDockerd = async (): Promise<void> => {
    const child = dockerd;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rsp-dockerd-'));
    const subnet = `10.124.${randomInt(256)}`;
    spawnSync('ip', ['link', 'add', 'name', bridge, 'type', 'bridge']);
    spawnSync('ip', ['addr', 'add', `${subnet}.1/24`, 'dev', bridge]);
    spawnSync('ip', ['link', 'set', bridge, 'up']);
    await startDockerd();
    driver = createDockerDriver({ socketPath: join(dir, 'docker.sock'), stateDir: join(dir, 'state') });
    image = await importBusyboxImage(driver);
  }, 120_000);
  afterAll(async () => {
    driver?.close();
    await driver?.destroy(id).catch(() => undefined);
    await stopDockerd();
    spawnSync('ip', ['link', 'del', bridge]);
    await rm(dir, { recursive: true, force: true });
  }, 120_000);

  test('a container dockerd starts again by itself after its own restart gets its cap again on the new veth', async () => {
    const ifb = shapedInterfaces(containerName(id)).ifb;
    const vethOf = async (): Promise<string> => (await hostVethOf((await driver.engine.getContainer((await driver.inspect(id)).handle).inspect()).State.Pid))!;
    await driver.create({ id, image, command: IDLE_COMMAND, iface: { hostname: 'bw', network: { mode: 'bridge' } }, labels: { 'rsp.group': 'g-test' }, limits: { networkBitsPerSecond: 8e6 } });
    await driver.start(id);
    const before = await vethOf();
    expect(rateOn(before)).toBe(8e6);
    // As a restart policy would: dockerd starts it again when dockerd itself starts.
    await driver.engine.getContainer((await driver.inspect(id)).handle).update({ RestartPolicy: { Name: 'always' } });

    const reapplied = new Promise<void>((resolve) => {
      const seen = (which: string) => {
        if (which !== id) return;
        driver.caps.off('reapplied', seen);
        resolve();
      };
      driver.caps.on('reapplied', seen);
    });
    await stopDockerd();
    await startDockerd();
    await reapplied;
    const after = await vethOf();
    expect(after).not.toBe(before);
    expect(rateOn(after)).toBe(8e6);
    expect(rateOn(ifb)).toBe(8e6);
    expect((await driver.inspect(id)).state).toBe('running');
  }, 180_000);
});
