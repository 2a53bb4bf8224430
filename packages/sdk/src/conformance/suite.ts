import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { isRspError, type ErrorCategory } from '../errors';
import type { Driver, EnvironmentSpec, ImageRef, LimitName, ResourceLimits, VolumeSpec } from '../contract';
import { OPTIONAL_CAPABILITIES, SNAPSHOT_CAPABILITIES } from '../contract';
import { requireCapability } from '../driver-errors';
import { globalTestApi, type TestApi } from './test-api';

/** A driver under test, with an image it can create environments from. */
export interface ConformanceSubject {
  driver: Driver;
  /** An image the driver already has, or how to get one into it (e.g. import a small rootfs). */
  image: ImageRef | ((driver: Driver) => Promise<ImageRef>);
  /** Runs after every environment the suite created is destroyed. */
  cleanup?: () => Promise<void>;
}

/** How the suite runs. Every field has a default. */
export interface ConformanceOptions {
  /** Per test; default 120 s (real engines are slow). */
  timeoutMs?: number;
  /** For making the driver and for the final clean-up; default 300 s. */
  setupTimeoutMs?: number;
  /** Environment ids start with it; default `rspconf`. */
  idPrefix?: string;
  /** Time between the two stats samples; default 1100 ms. */
  statsGapMs?: number;
  /** Limit values the limit tests ask for (only advertised ones are used). */
  limits?: ResourceLimits;
  /** Directory under which volume directories are made; default the system temp directory. */
  volumeRoot?: string;
  /**
   * A driver of the same kind made to fail part-way through `create` (fault injection). When
   * given, the suite checks that a failed create leaves nothing behind.
   */
  makeFailingDriver?: () => Promise<ConformanceSubject>;
  /**
   * A driver of the same kind on the same engine, made for another installation or agent (another
   * `owner`, see `PluginContext.owner`). When given, the suite checks that neither lists, finds,
   * or removes what the other made: two installations share an engine safely.
   */
  makeNeighbour?: () => Promise<ConformanceSubject>;
  /** Where `migrate` can send an environment; the migration test runs when given and advertised. */
  migrationTarget?: (subject: ConformanceSubject) => Promise<{ uri: string; driver: Driver; cleanup?: () => Promise<void> }>;
  /** Test-runner functions; default the runner's globals (jest). */
  testApi?: TestApi;
}

const DEFAULT_LIMITS: Required<ResourceLimits> = {
  cpuWeight: 50,
  cpuQuota: 0.5,
  memoryBytes: 256 * 1024 * 1024,
  diskBytes: 1024 * 1024 * 1024,
  networkBitsPerSecond: 10_000_000,
  pids: 64,
};

const ALL_LIMITS = Object.keys(DEFAULT_LIMITS) as LimitName[];

const INVALID_IDS = ['', 'Upper', '-leading-dash', 'under_score', 'dot.ted', '../escape', 'a'.repeat(64)];

/**
 * The one conformance suite every driver passes (the fake, the real ones against their real
 * engines, and plugins'). Call it at the top level of a test file:
 *
 * ```ts
 * // a real engine: skip (or, with CI=true, fail) when it is missing, and allow it time
 * describeWithEngine('docker', 'docker driver', () => {
 *   runConformanceSuite('docker', async () => ({ driver: new DockerDriver(), image: { ref: 'alpine:3.20' } }), {
 *     timeoutMs: 180_000,
 *     makeFailingDriver: async () => ({ driver: new DockerDriver({ failAfter: 'volume' }), image: { ref: 'alpine:3.20' } }),
 *   });
 * });
 * ```
 *
 * Environment ids start with `idPrefix` and a random run tag, so runs against a shared engine
 * never collide. The image needs `hostname`, `cat`, `tee` and `sh` when the driver advertises `exec`.
 *
 * It checks the required core (lifecycle and states, idempotency, errors and their categories,
 * limits, stats, labels) and each optional capability the driver advertises; a capability not
 * advertised must be refused by `requireCapability`. Every environment it creates is destroyed in
 * `afterAll`, even when a test fails.
 */
export function runConformanceSuite(name: string, makeDriver: () => Promise<ConformanceSubject>, options: ConformanceOptions = {}): void {
  const api = options.testApi ?? globalTestApi();
  const timeout = options.timeoutMs ?? 120_000;
  const setupTimeout = options.setupTimeoutMs ?? 300_000;
  const prefix = options.idPrefix ?? 'rspconf';
  const run = `${prefix}-${randomBytes(3).toString('hex')}`;
  let counter = 0;
  let subject: ConformanceSubject;
  let driver: Driver;
  let image: ImageRef;
  const created: Array<{ driver: Driver; id: string }> = [];
  const directories: string[] = [];
  const cleanups: Array<() => Promise<void>> = [];

  const newId = (): string => `${run}-${++counter}`;
  const specFor = (id: string, extra: Partial<EnvironmentSpec> = {}): EnvironmentSpec => ({
    id,
    image,
    iface: { hostname: id, config: { RSP_CONFORMANCE: '1' } },
    labels: { 'rsp.conformance': 'true' },
    ...extra,
  });
  const track = (on: Driver, id: string): string => {
    created.push({ driver: on, id });
    return id;
  };
  const createEnv = async (extra: Partial<EnvironmentSpec> = {}, on: Driver = driver): Promise<EnvironmentSpec> => {
    const spec = specFor(track(on, newId()), extra);
    const info = await on.create(spec);
    assert.equal(info.id, spec.id, `create returned id ${info.id} for ${spec.id}`);
    assert.ok(['created', 'stopped'].includes(info.state), `create returned state ${info.state}, expected created or stopped`);
    return spec;
  };
  const volume = async (name: string): Promise<VolumeSpec> => {
    const hostPath = await mkdtemp(join(options.volumeRoot ?? tmpdir(), `${run}-`));
    directories.push(hostPath);
    return { name, kind: 'data', hostPath, mountPath: `/var/lib/rsp-${name}` };
  };
  const advertised = (op: (typeof OPTIONAL_CAPABILITIES)[number]): boolean => driver.capabilities().operations.includes(op);
  const advertisedLimits = (): ResourceLimits => {
    const out: ResourceLimits = {};
    for (const limit of driver.capabilities().limits) out[limit] = options.limits?.[limit] ?? DEFAULT_LIMITS[limit];
    return out;
  };

  api.describe(`driver conformance: ${name}`, () => {
    api.beforeAll(async () => {
      subject = await makeDriver();
      driver = subject.driver;
      if (subject.cleanup) cleanups.push(subject.cleanup);
      image = typeof subject.image === 'function' ? await subject.image(driver) : subject.image;
    }, setupTimeout);

    api.afterAll(async () => {
      const problems: string[] = [];
      for (const { driver: on, id } of created.reverse()) {
        await on.destroy(id).catch((e: unknown) => problems.push(`destroy ${id} on ${on.name}: ${message(e)}`));
      }
      for (const cleanup of cleanups.reverse()) await cleanup().catch((e: unknown) => problems.push(`cleanup: ${message(e)}`));
      for (const dir of directories) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      if (problems.length) throw new Error(`conformance clean-up of ${name} left things behind:\n  ${problems.join('\n  ')}`);
    }, setupTimeout);

    api.test('probe finds the engine, with a version; capabilities name only known operations and limits', async () => {
      const found = await driver.probe();
      assert.equal(found.available, true, `probe says unavailable: ${found.reason}`);
      assert.equal(typeof found.version, 'string');
      const caps = driver.capabilities();
      for (const op of caps.operations) assert.ok(OPTIONAL_CAPABILITIES.includes(op), `unknown operation ${op}`);
      for (const limit of caps.limits) assert.ok(ALL_LIMITS.includes(limit), `unknown limit ${limit}`);
      assert.equal(typeof driver.name, 'string');
      assert.equal(typeof driver.technology, 'string');
    }, timeout);

    api.test('lifecycle: create → start → stop → start → stop → destroy, each state visible in inspect and list', async () => {
      const spec = await createEnv();
      const expectState = async (states: string[]) => {
        const info = await driver.inspect(spec.id);
        assert.ok(states.includes(info.state), `inspect says ${info.state}, expected ${states.join(' or ')}`);
        const listed = (await driver.list()).find((e) => e.id === spec.id);
        assert.ok(listed, `${spec.id} is missing from list()`);
        assert.ok(states.includes(listed.state), `list says ${listed.state}, expected ${states.join(' or ')}`);
      };
      await expectState(['created', 'stopped']);
      await driver.start(spec.id);
      await expectState(['running']);
      await driver.stop(spec.id, { graceSeconds: 5 });
      await expectState(['stopped']);
      await driver.start(spec.id);
      await expectState(['running']);
      await driver.stop(spec.id, { graceSeconds: 5 });
      await expectState(['stopped']);
      await driver.destroy(spec.id);
      await rejectsWith(driver.inspect(spec.id), 'NOT_FOUND', `inspect of ${spec.id} after destroy`);
      assert.equal((await driver.list()).some((e) => e.id === spec.id), false, 'a destroyed environment is still listed');
    }, timeout);

    api.test('inspect reports the id, the image, the hostname and the RSP label', async () => {
      const spec = await createEnv();
      const info = await driver.inspect(spec.id);
      assert.equal(info.id, spec.id);
      assert.equal(info.image.ref, image.ref);
      assert.equal(typeof info.handle, 'string');
      assert.ok(Array.isArray(info.addresses));
      if (info.hostname !== undefined) assert.equal(info.hostname, spec.iface.hostname);
      assert.equal(info.labels['rsp.environment'], spec.id);
      assert.equal(info.labels['rsp.conformance'], 'true');
    }, timeout);

    api.test('stop is idempotent: stopping a created or stopped environment is not an error', async () => {
      const spec = await createEnv();
      await driver.stop(spec.id);
      await driver.start(spec.id);
      await driver.stop(spec.id, { graceSeconds: 5 });
      await driver.stop(spec.id, { graceSeconds: 5 });
      assert.equal((await driver.inspect(spec.id)).state, 'stopped');
    }, timeout);

    api.test('destroy is idempotent: a missing id, twice, and a running environment', async () => {
      await driver.destroy(`${run}-never-created`);
      const spec = await createEnv();
      await driver.start(spec.id);
      await driver.destroy(spec.id);
      await driver.destroy(spec.id);
      await rejectsWith(driver.inspect(spec.id), 'NOT_FOUND', `inspect of ${spec.id} after destroy`);
    }, timeout);

    api.test('creating an id that exists is CONFLICT, and the first environment survives', async () => {
      const spec = await createEnv();
      await rejectsWith(driver.create(spec), 'CONFLICT', `a second create of ${spec.id}`);
      assert.equal((await driver.inspect(spec.id)).id, spec.id);
    }, timeout);

    api.test('inspect, start and stats of an unknown id are NOT_FOUND', async () => {
      const id = `${run}-unknown`;
      await rejectsWith(driver.inspect(id), 'NOT_FOUND', `inspect of unknown ${id}`);
      await rejectsWith(driver.start(id), 'NOT_FOUND', `start of unknown ${id}`);
      await rejectsWith(driver.stats(id), 'NOT_FOUND', `stats of unknown ${id}`);
    }, timeout);

    api.test('invalid ids are BAD_USER_INPUT, and nothing is created', async () => {
      for (const id of INVALID_IDS) {
        await rejectsWith(driver.create(specFor(id)), 'BAD_USER_INPUT', `create("${id}")`);
        await rejectsWith(driver.inspect(id), 'BAD_USER_INPUT', `inspect("${id}")`);
      }
      const listed = await driver.list();
      for (const id of INVALID_IDS) assert.equal(listed.some((e) => e.id === id), false);
    }, timeout);

    api.test('advertised limits are applied and visible in inspect', async () => {
      const limits = advertisedLimits();
      const spec = await createEnv({ limits });
      const info = await driver.inspect(spec.id);
      for (const [limit, wanted] of Object.entries(limits) as Array<[LimitName, number]>) {
        const got = info.limits[limit];
        assert.equal(typeof got, 'number', `limit ${limit} is not reported by inspect`);
        assert.ok(Math.abs(got! - wanted) <= wanted * 0.01, `limit ${limit}: asked ${wanted}, inspect says ${got}`);
      }
    }, timeout);

    api.test('a limit the driver does not advertise is UNSUPPORTED_OPERATION, and nothing is created', async () => {
      const missing = ALL_LIMITS.find((l) => !driver.capabilities().limits.includes(l));
      if (!missing) return;
      const id = track(driver, newId());
      await rejectsWith(driver.create(specFor(id, { limits: { [missing]: options.limits?.[missing] ?? DEFAULT_LIMITS[missing] } })), 'UNSUPPORTED_OPERATION', `create with unadvertised limit ${missing}`);
      await rejectsWith(driver.inspect(id), 'NOT_FOUND', `inspect of ${id} after a refused create`);
    }, timeout);

    api.test('an interface feature the driver does not advertise (published ports, a read-only root, an IPv6 address) is UNSUPPORTED_OPERATION, and nothing is created', async () => {
      const features = driver.capabilities().features ?? [];
      for (const feature of features) assert.ok(['managedNetwork', 'publishedPorts', 'readOnlyRoot', 'ipv6'].includes(feature), `unknown interface feature ${feature}`);
      const asks: Array<[string, Partial<EnvironmentSpec['iface']>]> = [
        ['publishedPorts', { ports: [{ hostPort: 20000 + (randomBytes(2).readUInt16BE(0) % 20000), port: 80, protocol: 'tcp' }] }],
        ['readOnlyRoot', { readOnlyRoot: true }],
        ['ipv6', { network: { mode: 'bridge', network: `${run}-net6`, ipv4: '10.127.250.7/24', gateway: '10.127.250.1', ipv6: 'fd7f:5:6::7/64', gateway6: 'fd7f:5:6::1' } }],
      ];
      for (const [feature, iface] of asks) {
        if (features.includes(feature as never)) continue;
        const id = track(driver, newId());
        await rejectsWith(driver.create(specFor(id, { iface: { hostname: id, ...iface } })), 'UNSUPPORTED_OPERATION', `create asking for ${feature}`);
        await rejectsWith(driver.inspect(id), 'NOT_FOUND', `inspect of ${id} after a refused create`);
      }
    }, timeout);

    api.test('managedNetwork: the environment has exactly the address its spec names', async () => {
      if (!(driver.capabilities().features ?? []).includes('managedNetwork')) return;
      const subnet = `10.127.${randomBytes(1)[0]!}`;
      const spec = await createEnv({ iface: { hostname: 'addressed', network: { mode: 'bridge', network: `${run}-net`, ipv4: `${subnet}.7/24`, gateway: `${subnet}.1` } } });
      await driver.start(spec.id);
      // A VM takes its address by DHCP once it has booted: wait for one (reading again, up to a minute), then it must be exactly the spec's.
      let info = await driver.inspect(spec.id);
      for (const deadline = Date.now() + Math.min(timeout / 2, 60_000); !info.addresses.length && Date.now() < deadline; ) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        info = await driver.inspect(spec.id);
      }
      assert.deepEqual(info.addresses, [`${subnet}.7`], `inspect reports addresses ${JSON.stringify(info.addresses)}`);
      await driver.destroy(spec.id);
    }, timeout);

    api.test('stats have the documented shape and their counters never decrease', async () => {
      const spec = await createEnv();
      await driver.start(spec.id);
      const first = await driver.stats(spec.id);
      await new Promise((resolve) => setTimeout(resolve, options.statsGapMs ?? 1100));
      const second = await driver.stats(spec.id);
      for (const sample of [first, second]) {
        assert.ok(sample.at instanceof Date && !Number.isNaN(sample.at.getTime()), 'stats.at is not a Date');
        for (const field of ['cpuSeconds', 'memoryBytes', 'diskReadBytes', 'diskWriteBytes', 'networkRxBytes', 'networkTxBytes'] as const) {
          assert.ok(Number.isFinite(sample[field]) && sample[field] >= 0, `stats.${field} = ${sample[field]}`);
        }
        for (const field of ['memoryLimitBytes', 'pids', 'diskUsedBytes'] as const) {
          if (sample[field] !== undefined) assert.ok(Number.isFinite(sample[field]) && sample[field]! >= 0, `stats.${field} = ${sample[field]}`);
        }
      }
      assert.ok(second.at.getTime() >= first.at.getTime(), 'stats.at went back in time');
      for (const field of ['cpuSeconds', 'diskReadBytes', 'diskWriteBytes', 'networkRxBytes', 'networkTxBytes'] as const) {
        assert.ok(second[field] >= first[field], `counter ${field} decreased: ${first[field]} → ${second[field]}`);
      }
    }, timeout);

    api.test('list() returns only RSP-labelled environments, ours among them', async () => {
      const spec = await createEnv();
      const listed = await driver.list();
      assert.ok(listed.some((e) => e.id === spec.id), `${spec.id} is missing from list()`);
      for (const env of listed) assert.equal(env.labels['rsp.environment'], env.id, `list() returned ${env.id}, which is not labelled as RSP's`);
    }, timeout);

    for (const operation of OPTIONAL_CAPABILITIES) {
      api.test(`optional ${operation}: present when advertised, UNSUPPORTED_OPERATION through requireCapability when not`, async () => {
        if (advertised(operation)) {
          assert.equal(typeof driver[operation], 'function', `${operation} is advertised but not implemented`);
          assert.equal(typeof requireCapability(driver, operation), 'function');
        } else {
          assert.throws(() => requireCapability(driver, operation), (e: unknown) => isRspError(e) && e.category === 'UNSUPPORTED_OPERATION');
        }
      }, timeout);
    }

    api.test('exec: the hostname inside is the spec hostname (when exec is advertised)', async () => {
      if (!advertised('exec')) return;
      const exec = requireCapability(driver, 'exec');
      const spec = await createEnv({ iface: { hostname: `host-${counter}`, config: { RSP_CONFORMANCE: '1' } } });
      await driver.start(spec.id);
      const result = await exec(spec.id, ['hostname']);
      assert.equal(result.exitCode, 0, result.stderr);
      assert.equal(result.stdout.trim(), spec.iface.hostname);
    }, timeout);

    api.test('exportEnvironment → importEnvironment: data-volume files and root files survive (when advertised)', async () => {
      if (!advertised('exportEnvironment') || !advertised('importEnvironment')) return;
      const content = `conformance ${run} ${randomBytes(8).toString('hex')}\n`;
      const source = await createEnv({ volumes: [await volume('data')] });
      await writeFile(join(source.volumes![0]!.hostPath, 'conformance.txt'), content);
      if (advertised('exec')) {
        await driver.start(source.id);
        const wrote = await requireCapability(driver, 'exec')(source.id, ['tee', '/rsp-conformance-marker'], { stdin: content });
        assert.equal(wrote.exitCode, 0, wrote.stderr);
        await driver.stop(source.id, { graceSeconds: 5 });
      }
      const archive = await requireCapability(driver, 'exportEnvironment')(source.id);
      const target = specFor(track(driver, newId()), { volumes: [await volume('data')] });
      const imported = await requireCapability(driver, 'importEnvironment')(archive, target);
      assert.equal(imported.id, target.id);
      assert.equal(await readFile(join(target.volumes![0]!.hostPath, 'conformance.txt'), 'utf8'), content);
      if (advertised('exec')) {
        await driver.start(target.id);
        const exec = requireCapability(driver, 'exec');
        const read = await exec(target.id, ['cat', '/rsp-conformance-marker']);
        assert.equal(read.stdout, content, read.stderr);
        assert.equal((await exec(target.id, ['hostname'])).stdout.trim(), target.iface.hostname);
      }
    }, timeout);

    api.test('exportImage → importImage: the bytes round-trip with a sha256 digest (when advertised)', async () => {
      if (!advertised('exportImage')) return;
      const bytes = await collect(await requireCapability(driver, 'exportImage')(image));
      assert.ok(bytes.length > 0, 'exportImage gave an empty stream');
      if (!advertised('importImage')) return;
      const imported = await requireCapability(driver, 'importImage')(Readable.from([bytes]), { name: `${prefix}-image`, version: '1', format: 'rootfs-tar' });
      assert.equal(imported.digest, `sha256:${createHash('sha256').update(bytes).digest('hex')}`);
      assert.equal(imported.sizeBytes, bytes.length);
      const spec = await createEnv({ image: { ref: imported.ref, digest: imported.digest } });
      assert.equal((await driver.inspect(spec.id)).image.ref, imported.ref);
    }, timeout);

    api.test('snapshots: create, list, roll back (what was written since is gone), delete (when advertised)', async () => {
      if (!advertised('snapshot')) return;
      for (const op of SNAPSHOT_CAPABILITIES) assert.ok(advertised(op), `snapshot is advertised without ${op}: the four snapshot operations come together`);
      const [snapshot, listSnapshots, rollbackSnapshot, deleteSnapshot] = SNAPSHOT_CAPABILITIES.map((op) => requireCapability(driver, op)) as [
        NonNullable<Driver['snapshot']>, NonNullable<Driver['listSnapshots']>, NonNullable<Driver['rollbackSnapshot']>, NonNullable<Driver['deleteSnapshot']>,
      ];
      const spec = await createEnv();
      const exec = advertised('exec') ? requireCapability(driver, 'exec') : undefined;
      if (exec) await driver.start(spec.id);
      const snap = await snapshot(spec.id, 'conformance');
      assert.equal(snap.name, 'conformance');
      assert.ok(snap.createdAt instanceof Date && !Number.isNaN(snap.createdAt.getTime()), 'snapshot gave no createdAt date');
      await rejectsWith(snapshot(spec.id, 'conformance'), 'CONFLICT', 'a second snapshot of the same name');
      await rejectsWith(snapshot(spec.id, 'Bad Name'), 'BAD_USER_INPUT', 'a snapshot with an invalid name');
      await rejectsWith(snapshot(`${spec.id}-missing`, 'conformance'), 'NOT_FOUND', 'a snapshot of an unknown environment');
      const listed = await listSnapshots(spec.id);
      assert.deepEqual(listed.map((s) => s.name), ['conformance'], 'listSnapshots does not give exactly the snapshot taken');
      assert.ok(listed[0]!.createdAt instanceof Date, 'listSnapshots gave no createdAt date');
      if (exec) {
        const wrote = await exec(spec.id, ['tee', '/rsp-after-snapshot'], { stdin: 'written after the snapshot' });
        assert.equal(wrote.exitCode, 0, wrote.stderr);
      }
      await rollbackSnapshot(spec.id, 'conformance');
      if (exec) {
        assert.equal((await driver.inspect(spec.id)).state, 'running', 'a running environment is not running after its rollback');
        const read = await exec(spec.id, ['cat', '/rsp-after-snapshot']);
        assert.notEqual(read.exitCode, 0, `a file written after the snapshot is still there after the rollback: ${read.stdout}`);
      }
      await rejectsWith(rollbackSnapshot(spec.id, 'never-taken'), 'NOT_FOUND', 'a rollback to an unknown snapshot');
      assert.deepEqual((await listSnapshots(spec.id)).map((s) => s.name), ['conformance'], 'the snapshot is gone after a rollback to it');
      await deleteSnapshot(spec.id, 'conformance');
      assert.deepEqual(await listSnapshots(spec.id), [], 'the snapshot is still listed after its deletion');
      await deleteSnapshot(spec.id, 'conformance');
    }, timeout);

    api.test('exportSnapshot → importEnvironment: what the snapshot holds, not what was written since (when advertised)', async () => {
      if (!advertised('exportSnapshot')) return;
      for (const op of [...SNAPSHOT_CAPABILITIES, 'exportEnvironment', 'importEnvironment'] as const) assert.ok(advertised(op), `exportSnapshot is advertised without ${op}`);
      const exportSnapshot = requireCapability(driver, 'exportSnapshot');
      const content = `conformance ${run} ${randomBytes(8).toString('hex')}\n`;
      const source = await createEnv({ volumes: [await volume('data')] });
      await writeFile(join(source.volumes![0]!.hostPath, 'conformance.txt'), content);
      const exec = advertised('exec') ? requireCapability(driver, 'exec') : undefined;
      if (exec) {
        await driver.start(source.id);
        const wrote = await exec(source.id, ['tee', '/rsp-before-snapshot'], { stdin: content });
        assert.equal(wrote.exitCode, 0, wrote.stderr);
      }
      await requireCapability(driver, 'snapshot')(source.id, 'export');
      if (exec) {
        const wrote = await exec(source.id, ['tee', '/rsp-after-snapshot'], { stdin: 'written after the snapshot' });
        assert.equal(wrote.exitCode, 0, wrote.stderr);
      }
      await rejectsWith(exportSnapshot(source.id, 'never-taken'), 'NOT_FOUND', 'an export of an unknown snapshot');
      await rejectsWith(exportSnapshot(`${source.id}-missing`, 'export'), 'NOT_FOUND', 'an export of a snapshot of an unknown environment');
      const archive = await exportSnapshot(source.id, 'export');
      const target = specFor(track(driver, newId()), { volumes: [await volume('data')] });
      await requireCapability(driver, 'importEnvironment')(archive, target);
      assert.equal(await readFile(join(target.volumes![0]!.hostPath, 'conformance.txt'), 'utf8'), content);
      if (exec) {
        await driver.start(target.id);
        assert.equal((await exec(target.id, ['cat', '/rsp-before-snapshot'])).stdout, content, 'a file written before the snapshot is not in its export');
        const after = await exec(target.id, ['cat', '/rsp-after-snapshot']);
        assert.notEqual(after.exitCode, 0, `a file written after the snapshot is in its export: ${after.stdout}`);
      }
      await requireCapability(driver, 'deleteSnapshot')(source.id, 'export');
    }, timeout);

    api.test('logs give text (when advertised)', async () => {
      if (!advertised('logs')) return;
      const spec = await createEnv();
      await driver.start(spec.id);
      assert.equal(typeof (await requireCapability(driver, 'logs')(spec.id, { tail: 10 })), 'string');
    }, timeout);

    api.test('readLog reads from a cursor: a line written afterwards arrives once (when advertised)', async () => {
      if (!advertised('readLog')) return;
      const readLog = requireCapability(driver, 'readLog');
      const spec = await createEnv();
      await driver.start(spec.id);
      const first = await readLog(spec.id);
      assert.equal(typeof first.text, 'string');
      assert.equal(typeof first.cursor, 'string');
      assert.equal((await readLog(spec.id, { tail: 0 })).text, '', 'tail 0 gave text');
      await rejectsWith(readLog(spec.id, { cursor: 'not a cursor' }), 'BAD_USER_INPUT', 'readLog with a malformed cursor');
      await rejectsWith(readLog(spec.id, { tail: -1 }), 'BAD_USER_INPUT', 'readLog with a negative tail');
      if (!advertised('exec')) return;
      // The main process's standard output is what the log keeps (a console, the engine's log pipe).
      const marker = `rsp-log-${randomBytes(6).toString('hex')}`;
      await requireCapability(driver, 'exec')(spec.id, ['sh', '-c', `echo ${marker} > /proc/1/fd/1`]);
      let cursor = first.cursor;
      let followed = '';
      for (const deadline = Date.now() + 30_000; !followed.includes(marker) && Date.now() < deadline; ) {
        const next = await readLog(spec.id, { cursor });
        followed += next.text;
        cursor = next.cursor;
        if (!followed.includes(marker)) await new Promise((resolve) => setTimeout(resolve, 250));
      }
      assert.ok(followed.includes(marker), `${marker} never appeared in the log read from the cursor; read: ${JSON.stringify(followed.slice(-500))}`);
      assert.ok(!(await readLog(spec.id, { cursor })).text.includes(marker), 'reading again from the last cursor gave the marker a second time');
      assert.ok((await readLog(spec.id)).text.includes(marker), 'the whole log lacks the marker');
    }, timeout);

    api.test('resize changes the advertised limits, visible in inspect (when advertised)', async () => {
      if (!advertised('resize')) return;
      const spec = await createEnv({ limits: advertisedLimits() });
      const smaller: ResourceLimits = {};
      for (const [limit, value] of Object.entries(advertisedLimits()) as Array<[LimitName, number]>) {
        smaller[limit] = limit === 'cpuQuota' ? value / 2 : Math.max(1, Math.floor(value / 2));
      }
      await requireCapability(driver, 'resize')(spec.id, smaller);
      const info = await driver.inspect(spec.id);
      for (const [limit, wanted] of Object.entries(smaller) as Array<[LimitName, number]>) {
        assert.ok(Math.abs((info.limits[limit] ?? NaN) - wanted) <= wanted * 0.01, `after resize, ${limit} is ${info.limits[limit]}, asked ${wanted}`);
      }
    }, timeout);

    api.test('resize lowers the CPU weight of a running environment and gives it back, and it keeps running (when advertised with cpuWeight)', async () => {
      if (!advertised('resize') || !driver.capabilities().limits.includes('cpuWeight')) return;
      const spec = await createEnv({ limits: { cpuWeight: 100 } });
      await driver.start(spec.id);
      const resize = requireCapability(driver, 'resize');
      for (const cpuWeight of [10, 100]) {
        await resize(spec.id, { cpuWeight });
        const info = await driver.inspect(spec.id);
        assert.equal(info.limits.cpuWeight, cpuWeight, `after resize to CPU weight ${cpuWeight}, inspect says ${info.limits.cpuWeight}`);
        assert.equal(info.state, 'running', `a resize must not stop the environment (it is ${info.state})`);
      }
    }, timeout);

    api.test('migrate moves a running environment to the target (when advertised and a target is given)', async () => {
      if (!advertised('migrate') || !options.migrationTarget) return;
      const target = await options.migrationTarget(subject);
      if (target.cleanup) cleanups.push(target.cleanup);
      const spec = await createEnv();
      track(target.driver, spec.id);
      await driver.start(spec.id);
      await requireCapability(driver, 'migrate')(spec.id, target.uri);
      await rejectsWith(driver.inspect(spec.id), 'NOT_FOUND', `inspect of ${spec.id} on the source after migrate`);
      const moved = await target.driver.inspect(spec.id);
      assert.equal(moved.state, 'running');
    }, timeout);

    api.test("another installation's environments on the same engine are not listed, not found, and not removed (when a neighbour is given)", async () => {
      if (!options.makeNeighbour) return;
      const neighbour = await options.makeNeighbour();
      if (neighbour.cleanup) cleanups.push(neighbour.cleanup);
      const neighbourImage = typeof neighbour.image === 'function' ? await neighbour.image(neighbour.driver) : neighbour.image;
      const theirs = track(neighbour.driver, newId());
      await neighbour.driver.create({ ...specFor(theirs), image: neighbourImage });
      const ours = await createEnv();
      assert.equal((await driver.list()).some((e) => e.id === theirs), false, `list() shows ${theirs}, which another installation made`);
      assert.equal((await neighbour.driver.list()).some((e) => e.id === ours.id), false, `the neighbour's list() shows ${ours.id}, which this installation made`);
      await rejectsWith(driver.inspect(theirs), 'NOT_FOUND', `inspect of the neighbour's ${theirs}`);
      await rejectsWith(driver.start(theirs), 'NOT_FOUND', `start of the neighbour's ${theirs}`);
      await driver.destroy(theirs);
      assert.equal((await neighbour.driver.inspect(theirs)).id, theirs, `destroy of ${theirs} by another installation removed it`);
      await neighbour.driver.destroy(ours.id);
      assert.equal((await driver.inspect(ours.id)).id, ours.id, `the neighbour's destroy of ${ours.id} removed it`);
    }, timeout);

    api.test('a failed create leaves nothing behind (when fault injection is given)', async () => {
      if (!options.makeFailingDriver) return;
      const failing = await options.makeFailingDriver();
      if (failing.cleanup) cleanups.push(failing.cleanup);
      const failingImage = typeof failing.image === 'function' ? await failing.image(failing.driver) : failing.image;
      const id = track(failing.driver, newId());
      await assert.rejects(failing.driver.create({ ...specFor(id, { volumes: [await volume('data')] }), image: failingImage }), 'the failing driver created the environment');
      await rejectsWith(failing.driver.inspect(id), 'NOT_FOUND', `inspect of ${id} after its failed create`);
      assert.equal((await failing.driver.list()).some((e) => e.id === id), false, 'a failed create is listed');
      await failing.driver.destroy(id);
    }, timeout);
  });
}

/** Asserts that `promise` rejects with an RspError of `category`. */
async function rejectsWith(promise: Promise<unknown>, category: ErrorCategory, what = 'the call'): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(isRspError(e), `${what} rejected with ${message(e)}, not an RspError of ${category}`);
    assert.equal(e.category, category, `${what} rejected with ${e.category} (${e.message}), expected ${category}`);
    return true;
  }, `${what} succeeded, expected ${category}`);
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

function message(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}
