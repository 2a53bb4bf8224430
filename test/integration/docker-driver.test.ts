import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { EnvironmentSpec, ImageRef } from '../../drivers/contract';
import { createDockerDriver, type DockerDriver } from '../../drivers/docker';
import { containerName } from '../../drivers/docker/labels';
import { hostVethOf } from '../../drivers/docker/shaping';
import { UnsupportedOperationError } from '../../drivers/errors';
import { shapedInterfaces } from '../../drivers/host/shaping';
import { IDLE_COMMAND, importBusyboxImage } from '../fixtures/busybox-rootfs';
import { describeWithEngine } from '../helpers/engines';

/** The Docker driver against the real engine: lifecycle, limits, the host↔image interface, stats, export/import, bad input. */
describeWithEngine('docker', 'Docker driver on a real engine', () => {
  const run = randomBytes(3).toString('hex');
  let dir: string;
  let driver: DockerDriver;
  let image: ImageRef;
  const created = new Set<string>();

  const newId = (name: string) => {
    const id = `t${run}-${name}`;
    created.add(id);
    return id;
  };
  const spec = (id: string, extra: Partial<EnvironmentSpec> = {}): EnvironmentSpec => ({
    id,
    image,
    command: IDLE_COMMAND,
    iface: { hostname: id.slice(0, 40), network: { mode: 'none' } },
    labels: { 'rsp.group': 'g-test' },
    ...extra,
  });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rsp-docker-test-'));
    // An owner of its own, as an installation's driver has: the gateways of other suites running at
    // the same time on this engine treat containers without one as theirs (made before owners
    // existed), and their cap keepers would re-apply caps on this suite's containers as they see them.
    driver = createDockerDriver({ stateDir: join(dir, 'state'), owner: `rsp-docker-test-${randomBytes(4).toString('hex')}` });
    image = await importBusyboxImage(driver);
  });

  afterAll(async () => {
    driver?.close();
    for (const id of created) await driver.destroy(id).catch(() => undefined);
    if (image) await driver.engine.getImage(image.ref).remove().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  test('probe reports the engine, its version and host facts', async () => {
    const probe = await driver.probe();
    expect(probe.available).toBe(true);
    expect(probe.version).toMatch(/^Docker \d+/);
    expect(probe.host?.cpus).toBeGreaterThan(0);
    expect(probe.host?.memoryBytes).toBeGreaterThan(0);
  });

  test('the imported image carries the sha256 of the tarball', () => {
    expect(image.ref).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(image.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  test('create → start → stop → start → destroy, with inspect following each state', async () => {
    const id = newId('life');
    const info = await driver.create(spec(id));
    expect(info).toMatchObject({ id, state: 'created', hostname: id.slice(0, 40) });
    expect(info.labels).toMatchObject({ 'rsp.environment': id, 'rsp.group': 'g-test' });
    await driver.start(id);
    expect((await driver.inspect(id)).state).toBe('running');
    const t0 = Date.now();
    await driver.stop(id, { graceSeconds: 10 });
    expect(Date.now() - t0).toBeLessThan(5_000); // init + trap: no wait for the grace period
    expect((await driver.inspect(id)).state).toBe('stopped');
    await driver.stop(id); // stopping a stopped environment is fine
    await driver.start(id);
    expect((await driver.inspect(id)).state).toBe('running');
    await driver.destroy(id);
    await expect(driver.inspect(id)).rejects.toMatchObject({ category: 'NOT_FOUND' });
    await driver.destroy(id); // destroying a missing id is fine
  });

  test('creating an existing id is CONFLICT', async () => {
    const id = newId('dup');
    await driver.create(spec(id));
    await expect(driver.create(spec(id))).rejects.toMatchObject({ category: 'CONFLICT' });
    expect((await driver.list()).filter((e) => e.id === id)).toHaveLength(1);
  });

  test('limits reach the engine (memory, CpuShares, NanoCpus, PidsLimit) and inspect reports them', async () => {
    const id = newId('limits');
    const info = await driver.create(spec(id, { limits: { memoryBytes: 64 * 1024 * 1024, cpuWeight: 50, cpuQuota: 0.5, pids: 64 } }));
    expect(info.limits).toEqual({ memoryBytes: 64 * 1024 * 1024, cpuWeight: 50, cpuQuota: 0.5, pids: 64 });
    const raw = await driver.engine.getContainer(info.handle).inspect();
    expect(raw.HostConfig).toMatchObject({ Memory: 64 * 1024 * 1024, CpuShares: 512, NanoCpus: 500_000_000, PidsLimit: 64, Init: true });
    await driver.resize(id, { memoryBytes: 96 * 1024 * 1024 });
    expect((await driver.inspect(id)).limits.memoryBytes).toBe(96 * 1024 * 1024);
  });

  test('a limit it cannot enforce (diskBytes) is UNSUPPORTED_OPERATION and leaves nothing', async () => {
    const id = newId('unsup');
    await expect(driver.create(spec(id, { limits: { diskBytes: 1e9 } }))).rejects.toBeInstanceOf(UnsupportedOperationError);
    await expect(driver.inspect(id)).rejects.toMatchObject({ category: 'NOT_FOUND' });
  });

  test('a bandwidth cap without a veth (network mode none) is refused with the reason and leaves nothing', async () => {
    const id = newId('bwnone');
    await expect(driver.create(spec(id, { limits: { networkBitsPerSecond: 1e6 } }))).rejects.toMatchObject({
      category: 'UNSUPPORTED_OPERATION',
      message: 'driver docker does not support limit networkBitsPerSecond: network mode none gives the container no veth (only loopback): there is no traffic to cap',
    });
    await expect(driver.inspect(id)).rejects.toMatchObject({ category: 'NOT_FOUND' });
  });

  test('a bandwidth cap is a tbf on the host end of the veth and on an ifb, set at start, gone at stop, set again at the next start, changed by resize, set again when the engine restarts the container by itself, gone at destroy', async () => {
    const id = newId('bw');
    const ifb = shapedInterfaces(containerName(id)).ifb;
    /** The tbf rate (bits per second) at the root of `dev`, or undefined without one. */
    const rateOn = (dev: string): number | undefined => {
      const out = spawnSync('tc', ['qdisc', 'show', 'dev', dev, 'root'], { encoding: 'utf8' }).stdout;
      const m = /qdisc tbf \S+ root .*rate (\d+)([KMG]?)bit/.exec(out);
      return m ? Number(m[1]) * ({ '': 1, K: 1e3, M: 1e6, G: 1e9 } as Record<string, number>)[m[2]!]! : undefined;
    };
    const vethOf = async (): Promise<string> => (await hostVethOf((await driver.engine.getContainer((await driver.inspect(id)).handle).inspect()).State.Pid))!;
    const info = await driver.create(spec(id, { limits: { networkBitsPerSecond: 8e6 }, iface: { hostname: 'bw', network: { mode: 'bridge' } } }));
    expect(info.limits.networkBitsPerSecond).toBe(8e6);
    expect(existsSync(`/sys/class/net/${ifb}`)).toBe(false);
    await driver.start(id);
    const veth = await vethOf();
    expect(veth).toMatch(/^veth/);
    expect(rateOn(veth)).toBe(8e6);
    expect(rateOn(ifb)).toBe(8e6);
    expect(spawnSync('tc', ['filter', 'show', 'dev', veth, 'ingress'], { encoding: 'utf8' }).stdout).toContain(`Egress Redirect to device ${ifb}`);

    await driver.stop(id, { graceSeconds: 1 });
    expect(existsSync(`/sys/class/net/${ifb}`)).toBe(false);
    expect(existsSync(`/sys/class/net/${veth}`)).toBe(false);
    await driver.start(id);
    const again = await vethOf();
    expect(rateOn(again)).toBe(8e6);
    expect(rateOn(ifb)).toBe(8e6);

    await driver.resize(id, { networkBitsPerSecond: 4e6 });
    expect(rateOn(again)).toBe(4e6);
    expect(rateOn(ifb)).toBe(4e6);
    expect((await driver.inspect(id)).limits.networkBitsPerSecond).toBe(4e6);
    await driver.stop(id, { graceSeconds: 1 });
    await driver.start(id);
    const beforeRestart = await vethOf();
    expect(rateOn(beforeRestart)).toBe(4e6);

    // Restarted by the engine, not the driver (as a restart policy or dockerd would): the new veth gets the cap again.
    const reapplied = new Promise<void>((resolve) => {
      const seen = (which: string) => {
        if (which !== id) return;
        driver.caps.off('reapplied', seen);
        resolve();
      };
      driver.caps.on('reapplied', seen);
    });
    await driver.engine.getContainer((await driver.inspect(id)).handle).restart({ t: 1 });
    await reapplied;
    const afterRestart = await vethOf();
    expect(afterRestart).not.toBe(beforeRestart);
    expect(rateOn(afterRestart)).toBe(4e6);
    expect(rateOn(ifb)).toBe(4e6);

    await driver.destroy(id);
    expect(existsSync(`/sys/class/net/${ifb}`)).toBe(false);
  }, 60_000);

  test('the host↔image interface: hostname, DNS, config values, config.env and the data volume', async () => {
    const id = newId('iface');
    const data = join(dir, 'volumes', id, 'data');
    await mkdir(data, { recursive: true });
    await writeFile(join(data, 'from-host.txt'), 'hello from the host\n');
    await driver.create(
      spec(id, {
        iface: { hostname: 'web-1', dns: ['192.0.2.53'], network: { mode: 'bridge' }, log: { target: 'local' }, config: { GREETING: 'hello world', PORT: '8080' } },
        volumes: [{ name: 'data', kind: 'data', hostPath: data, mountPath: '/data' }],
      }),
    );
    await driver.start(id);
    const sh = (cmd: string) => driver.exec!(id, ['/bin/sh', '-c', cmd]);
    expect((await sh('hostname')).stdout.trim()).toBe('web-1');
    expect((await sh('cat /etc/resolv.conf')).stdout).toMatch(/^nameserver 192\.0\.2\.53$/m);
    expect((await sh('echo "$GREETING:$PORT"')).stdout.trim()).toBe('hello world:8080');
    expect((await sh('cat /etc/rsp/config.env')).stdout).toBe('GREETING=hello world\nPORT=8080\n');
    expect((await sh('echo x > /etc/rsp/config.env')).exitCode).not.toBe(0); // read-only
    expect((await sh('cat /data/from-host.txt')).stdout).toBe('hello from the host\n');
    expect((await sh('echo from-container > /data/from-container.txt')).exitCode).toBe(0);
    expect(await readFile(join(data, 'from-container.txt'), 'utf8')).toBe('from-container\n');
    const failing = await sh('echo oops >&2; exit 3');
    expect(failing).toEqual({ exitCode: 3, stdout: '', stderr: 'oops\n' });
    const info = await driver.inspect(id);
    expect(info.addresses.length).toBeGreaterThan(0);
  });

  test('stats are sane and never decrease', async () => {
    const id = newId('stats');
    await driver.create(spec(id, { limits: { memoryBytes: 128 * 1024 * 1024 } }));
    await driver.start(id);
    const first = await driver.stats(id);
    await driver.exec!(id, ['/bin/sh', '-c', 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; dd if=/dev/zero of=/tmp/f bs=64k count=64 2>/dev/null; sync']);
    const second = await driver.stats(id);
    for (const s of [first, second]) {
      expect(s.at).toBeInstanceOf(Date);
      expect(s.memoryBytes).toBeGreaterThan(0);
      expect(s.memoryLimitBytes).toBe(128 * 1024 * 1024);
      for (const n of [s.cpuSeconds, s.diskReadBytes, s.diskWriteBytes, s.networkRxBytes, s.networkTxBytes]) expect(Number.isFinite(n) && n >= 0).toBe(true);
    }
    expect(second.cpuSeconds).toBeGreaterThan(first.cpuSeconds);
    for (const key of ['cpuSeconds', 'diskReadBytes', 'diskWriteBytes', 'networkRxBytes', 'networkTxBytes'] as const) expect(second[key]).toBeGreaterThanOrEqual(first[key]);
  });

  test('export → import as a second environment keeps the filesystem, the data volume and the command', async () => {
    const id = newId('src');
    const data = join(dir, 'volumes', id, 'data');
    await mkdir(data, { recursive: true });
    await driver.create(spec(id, { iface: { hostname: 'source', network: { mode: 'none' }, config: { A: '1' } }, volumes: [{ name: 'data', kind: 'data', hostPath: data, mountPath: '/data' }] }));
    await driver.start(id);
    await driver.exec!(id, ['/bin/sh', '-c', 'echo rootfs-marker > /root/marker && echo data-marker > /data/marker && ln /root/marker /root/hardlink']);
    await driver.stop(id);
    const stream = await driver.exportEnvironment!(id);

    const copy = newId('copy');
    const copyData = join(dir, 'volumes', copy, 'data');
    await mkdir(copyData, { recursive: true });
    const { command: _unused, ...rest } = spec(copy, { iface: { hostname: 'copy', network: { mode: 'none' }, config: { A: '2' } }, volumes: [{ name: 'data', kind: 'data', hostPath: copyData, mountPath: '/data' }] });
    const info = await driver.importEnvironment!(stream, rest as EnvironmentSpec);
    expect(info).toMatchObject({ id: copy, state: 'created', hostname: 'copy' });
    expect(info.image.digest).toMatch(/^sha256:/);
    await driver.start(copy); // the exported command, since the spec named none
    const sh = (cmd: string) => driver.exec!(copy, ['/bin/sh', '-c', cmd]);
    expect((await sh('cat /root/marker /root/hardlink /data/marker; cat /etc/rsp/config.env')).stdout).toBe('rootfs-marker\nrootfs-marker\ndata-marker\nA=2\n');
    expect(await readFile(join(copyData, 'marker'), 'utf8')).toBe('data-marker\n');
    expect((await driver.inspect(id)).state).toBe('stopped'); // the source is untouched
    const imageId = (await driver.engine.getContainer(info.handle).inspect()).Image;
    await driver.destroy(copy);
    await expect(driver.engine.getImage(imageId).inspect()).rejects.toMatchObject({ statusCode: 404 }); // its own image went with it
  });

  test('a container killed, then removed, behind RSP\'s back: inspect says stopped, then NOT_FOUND', async () => {
    const id = newId('killed');
    const info = await driver.create(spec(id));
    await driver.start(id);
    await driver.engine.getContainer(info.handle).kill();
    expect((await driver.inspect(id)).state).toBe('stopped');
    await driver.engine.getContainer(info.handle).remove({ force: true });
    await expect(driver.inspect(id)).rejects.toMatchObject({ category: 'NOT_FOUND' });
    await expect(driver.start(id)).rejects.toMatchObject({ category: 'NOT_FOUND' });
    await expect(driver.stats(id)).rejects.toMatchObject({ category: 'NOT_FOUND' });
    await expect(driver.stop(id)).rejects.toMatchObject({ category: 'NOT_FOUND' });
    await driver.destroy(id);
  });

  test('the console: a stopped container has none (CONFLICT); one made with its standard input closed (before RSP kept it open) is UNSUPPORTED_OPERATION with the reason', async () => {
    expect(driver.capabilities().operations).toContain('console');
    const id = newId('console');
    const info = await driver.create(spec(id));
    expect((await driver.engine.getContainer(info.handle).inspect()).Config).toMatchObject({ OpenStdin: true, StdinOnce: false, Tty: false });
    await expect(driver.console(id)).rejects.toMatchObject({ category: 'CONFLICT' });
    const old = newId('oldconsole');
    const made = await driver.engine.createContainer({ name: containerName(old), Image: image.ref, Cmd: IDLE_COMMAND, Labels: { 'rsp.environment': old }, HostConfig: { NetworkMode: 'none' } });
    await made.start();
    await expect(driver.console(old)).rejects.toMatchObject({ category: 'UNSUPPORTED_OPERATION', message: expect.stringContaining('rebuild the environment') as string });
  });

  test('a failed create (image that does not exist) leaves no container and no config files', async () => {
    const id = newId('noimage');
    await expect(driver.create(spec(id, { image: { ref: 'rsp-no-such-image:never' } }))).rejects.toMatchObject({ category: 'NOT_FOUND', details: { id: 'rsp-no-such-image:never' } });
    expect(await driver.engine.listContainers({ all: true, filters: { label: [`rsp.environment=${id}`] } })).toHaveLength(0);
    expect(existsSync(join(dir, 'state', id))).toBe(false);
  });

  test('an export stream that is not an RSP export fails to import and leaves nothing behind', async () => {
    const id = newId('badimport');
    await expect(driver.importEnvironment!(Readable.from([Buffer.alloc(4096, 1)]), spec(id))).rejects.toMatchObject({ category: 'BAD_USER_INPUT' });
    const rootfs = await driver.exportImage!(image); // a plain rootfs tar: no manifest
    await expect(driver.importEnvironment!(rootfs, spec(id))).rejects.toMatchObject({ category: 'BAD_USER_INPUT' });
    expect(await driver.engine.listContainers({ all: true, filters: { label: [`rsp.environment=${id}`] } })).toHaveLength(0);
    expect(existsSync(join(dir, 'state', id))).toBe(false);
  });

  test('an image that is not a tarball fails to import with a clear error', async () => {
    await expect(driver.importImage!(Readable.from([Buffer.from('this is not a tar archive'.repeat(100))]), { name: 'garbage', format: 'rootfs-tar' })).rejects.toMatchObject({ category: 'BAD_USER_INPUT' });
  });

  test('list() and reconcile() see only labelled containers; an unlabelled one is never touched', async () => {
    const stranger = await driver.engine.createContainer({ name: `not-rsp-${run}`, Image: image.ref, Cmd: ['/bin/true'] });
    try {
      const id = newId('dangling');
      await driver.create(spec(id));
      const listed = await driver.list();
      expect(listed.map((e) => e.id)).toContain(id);
      expect(listed.map((e) => e.handle)).not.toContain(stranger.id);
      const keep = listed.map((e) => e.id).filter((x) => x !== id);
      expect(await driver.reconcile(keep)).toEqual([id]);
      await expect(driver.inspect(id)).rejects.toMatchObject({ category: 'NOT_FOUND' });
      expect((await stranger.inspect()).Id).toBe(stranger.id);
    } finally {
      await stranger.remove({ force: true });
    }
  });

  test('exportSnapshot: the container made from the snapshot image (with the environment\'s labels) is never taken for the environment, and is gone once the stream ends', async () => {
    const id = newId('snapexport');
    const volumeDir = join(dir, `vol-${id}`);
    await mkdir(volumeDir, { recursive: true });
    await writeFile(join(volumeDir, 'at-snapshot.txt'), 'held by the snapshot');
    const created = await driver.create(spec(id, { volumes: [{ name: 'data', kind: 'data', hostPath: volumeDir, mountPath: '/data' }] }));
    await driver.start(id);
    await driver.snapshot(id, 'before');
    await writeFile(join(volumeDir, 'at-snapshot.txt'), 'written after the snapshot');
    const exporting = () => driver.engine.listContainers({ all: true, filters: { label: [`rsp.export-of=${id}`] } });
    const archive = await driver.exportSnapshot(id, 'before');
    // While the export is open its container exists and carries the environment's label …
    const during = await exporting();
    expect(during).toHaveLength(1);
    expect(during[0]!.Labels['rsp.environment']).toBe(id);
    // … yet the environment is still one container: list (what reconcile and orphan detection go by) and inspect see only the real one.
    const listed = await driver.list();
    expect(listed.filter((e) => e.id === id).map((e) => e.handle)).toEqual([created.handle]);
    expect((await driver.inspect(id)).handle).toBe(created.handle);
    // (reconcile destroys only what list gives: on a shared engine it is not called here.)
    expect(listed.map((e) => e.handle)).not.toContain(during[0]!.Id);
    const target = newId('snapimport');
    const targetVolume = join(dir, `vol-${target}`);
    await driver.importEnvironment(archive, spec(target, { volumes: [{ name: 'data', kind: 'data', hostPath: targetVolume, mountPath: '/data' }] }));
    expect(await readFile(join(targetVolume, 'at-snapshot.txt'), 'utf8')).toBe('held by the snapshot');
    for (let tries = 0; (await exporting()).length && tries < 50; tries += 1) await new Promise((r) => setTimeout(r, 100));
    expect(await exporting()).toEqual([]);
    expect((await driver.inspect(id)).state).toBe('running');
    // A leftover export container (a crash mid-export) goes with the environment.
    await driver.exportSnapshot(id, 'before');
    expect(await exporting()).toHaveLength(1);
    await driver.destroy(id);
    expect(await exporting()).toEqual([]);
  }, 120_000);
});

describe('Docker driver without an engine', () => {
  const driver = createDockerDriver({ socketPath: '/nonexistent/rsp/docker.sock', timeoutMs: 3000 });

  test('probe says unavailable and why, without throwing', async () => {
    const probe = await driver.probe();
    expect(probe.available).toBe(false);
    expect(probe.reason).toMatch(/no Docker engine answers at unix:\/\/\/nonexistent\/rsp\/docker\.sock/);
  });

  test('calls fail with UNAVAILABLE', async () => {
    await expect(driver.inspect('anything')).rejects.toMatchObject({ category: 'UNAVAILABLE' });
    await expect(driver.list()).rejects.toMatchObject({ category: 'UNAVAILABLE' });
    await expect(driver.create({ id: 'x1', image: { ref: 'busybox' }, iface: { hostname: 'x1' } })).rejects.toMatchObject({ category: 'UNAVAILABLE' });
  });

  test('bad input is refused before the engine is asked', async () => {
    await expect(driver.create({ id: 'Bad_Id', image: { ref: 'busybox' }, iface: { hostname: 'x' } })).rejects.toMatchObject({ category: 'BAD_USER_INPUT' });
    await expect(driver.create({ id: 'ok', image: { ref: 'busybox' }, iface: { hostname: 'x', config: { 'NOT-A-NAME': '1' } } })).rejects.toMatchObject({ category: 'BAD_USER_INPUT' });
  });
});
