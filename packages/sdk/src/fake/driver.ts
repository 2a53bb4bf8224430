import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { BadInputError, ConflictError, NotFoundError, UnavailableError } from '../errors';
import { withDeadline } from '../call';
import type {
  InteractiveExecOptions,
  InteractiveProcess,
  CallOptions,
  Driver,
  DriverCapabilities,
  EnvironmentInfo,
  EnvironmentSpec,
  EnvironmentStats,
  ExecResult,
  HostFacts,
  ImageImportSpec,
  ImageRef,
  ImportedImage,
  LogRead,
  LogReadOptions,
  ProbeResult,
  ResourceLimits,
  SnapshotInfo,
  StopOptions,
  Technology,
} from '../contract';
import { OPTIONAL_CAPABILITIES, VOLUME_NAME_PATTERN } from '../contract';
import { assertEnvironmentId, assertFeaturesSupported, assertSnapshotName, EnvironmentExistsError, EnvironmentNotFoundError, requireCapability, SnapshotNotFoundError } from '../driver-errors';
import { Revert } from '../revert';
import { decodeArchive, encodeArchive, readAll, type ArchiveEntry } from './archive';
import { DEFAULT_HOST, fakeProbe, type FakeCapacity, type FakeCreateStep, type FakeDriverOptions } from './config';
import { runCommand } from './exec';
import { startInteractive } from './interactive';
import { FakeFilesystem } from './filesystem';
import { checkLimits } from './limits';
import { AddressPool, DEFAULT_FAKE_NETWORK, type FakeNetwork } from './network';
import { ENVIRONMENT_LABEL, interfaceFiles, toInfo, type FakeEnvironment, type FakeImage } from './state';
import { FakeCounters } from './stats';
import { readRootfsTar } from './tar';

/** How long a fake call may take by default (they are all in memory). */
const DEFAULT_TIMEOUT_MS = 30_000;

const ALL_LIMITS = ['cpuWeight', 'cpuQuota', 'memoryBytes', 'diskBytes', 'networkBitsPerSecond', 'pids'] as const;

const HOSTNAME_PATTERN = /^(?=.{1,253}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

/** What a create starts from: root files, and files to put in its volumes. */
interface Seed {
  root: Map<string, Buffer>;
  volumeFiles: Array<{ volume: string; path: string; data: Buffer }>;
}

/**
 * The in-memory driver (after libvirt's `test:///default`): a complete engine in the process,
 * with every optional capability, that the whole tool chain and the conformance suite are tested
 * against. Environments have an in-memory root filesystem seeded from their image, volumes bound
 * to real host directories, simulated usage counters and a log; limits are checked against the
 * simulated host; any create step can be made to fail to test the undo paths.
 */
export class FakeDriver implements Driver {
  readonly name: string;
  readonly technology: Technology;
  private readonly host: HostFacts;
  private readonly capacity: FakeCapacity;
  private readonly environments = new Map<string, FakeEnvironment>();
  private readonly reserved = new Set<string>();
  private readonly volumeUsers = new Map<string, Set<string>>();
  private readonly images = new Map<string, FakeImage>();
  private readonly addresses = new AddressPool();
  private readonly consoles = new Set<string>();
  private readonly network: FakeNetwork;

  constructor(private readonly options: FakeDriverOptions = {}) {
    this.name = options.name ?? 'fake';
    this.technology = options.technology ?? 'fake';
    this.host = { ...DEFAULT_HOST, ...options.host };
    this.capacity = {
      cpus: this.host.cpus,
      memoryBytes: this.host.memoryBytes,
      diskBytes: this.host.diskBytes,
      networkBitsPerSecond: 10_000_000_000,
      pids: 32_768,
      ...options.capacity,
    };
    this.network = options.network ?? DEFAULT_FAKE_NETWORK;
    if (options.uri) this.network.listen(options.uri, this);
    for (const id of options.foreign ?? []) this.addForeign(id);
  }

  /** Reports the simulated host, or the configured reason it is unavailable. */
  async probe(options?: CallOptions): Promise<ProbeResult> {
    return this.call('probe', options, async () => fakeProbe(this.options, { ...this.host }));
  }

  /** Every optional operation and limit, unless the options narrow them. */
  capabilities(): DriverCapabilities {
    return {
      operations: [...(this.options.operations ?? OPTIONAL_CAPABILITIES)],
      limits: [...(this.options.limits ?? ALL_LIMITS)],
      // It takes the address a spec names (its engine has no subnets to make); no ports, no read-only root.
      features: ['managedNetwork'],
    };
  }

  /** Creates an environment from an imported image. */
  async create(spec: EnvironmentSpec, options?: CallOptions): Promise<EnvironmentInfo> {
    return this.call(`create of ${spec?.id}`, options, async () => {
      this.checkSpec(spec);
      const image = this.images.get(spec.image.ref);
      if (!image) throw new NotFoundError('Image', spec.image.ref, { driver: this.name });
      return this.build(spec, { root: new Map(image.files), volumeFiles: [] });
    });
  }

  /** Starts it; starting a running environment does nothing. */
  async start(id: string, options?: CallOptions): Promise<void> {
    return this.call(`start of ${id}`, options, async () => {
      const env = this.find(id);
      if (this.options.failOn?.start) throw new UnavailableError(`fake failure injected in start of ${id}`, { driver: this.name, id });
      if (env.state === 'running') return;
      env.state = 'running';
      env.startedAt = new Date();
      env.counters.started(env.startedAt.getTime());
      this.log(env, 'started');
    });
  }

  /** Stops it; stopping a stopped environment does nothing. */
  async stop(id: string, options?: StopOptions): Promise<void> {
    return this.call(`stop of ${id}`, options, async () => {
      const env = this.find(id);
      if (this.options.failOn?.stop) throw new UnavailableError(`fake failure injected in stop of ${id}`, { driver: this.name, id });
      if (env.state !== 'running') return;
      this.halt(env);
    });
  }

  /** Removes it, its address and its volume attachments (never the volumes' data); a missing id is fine. */
  async destroy(id: string, options?: CallOptions): Promise<void> {
    return this.call(`destroy of ${id}`, options, async () => {
      assertEnvironmentId(id);
      const env = this.environments.get(id);
      if (!env || !env.labels[ENVIRONMENT_LABEL]) return;
      if (this.options.failOn?.destroy) throw new UnavailableError(`fake failure injected in destroy of ${id}`, { driver: this.name, id });
      if (env.state === 'running') this.halt(env);
      for (const address of env.addresses) this.addresses.release(address);
      for (const volume of env.spec.volumes ?? []) this.detachVolume(volume.hostPath, id);
      this.environments.delete(id);
    });
  }

  /** What the engine knows of one environment. */
  async inspect(id: string, options?: CallOptions): Promise<EnvironmentInfo> {
    return this.call(`inspect of ${id}`, options, async () => toInfo(this.find(id)));
  }

  /** Every environment labelled as RSP's. */
  async list(options?: CallOptions): Promise<EnvironmentInfo[]> {
    return this.call('list', options, async () =>
      [...this.environments.values()].filter((env) => env.labels[ENVIRONMENT_LABEL] === env.spec.id).map(toInfo),
    );
  }

  /** A sample of its simulated, monotonic counters. */
  async stats(id: string, options?: CallOptions): Promise<EnvironmentStats> {
    return this.call(`stats of ${id}`, options, async () => {
      const env = this.find(id);
      const usedBytes = env.fs.usedBytes();
      return { ...env.counters.sample(Date.now(), env.limits, usedBytes), diskUsedBytes: usedBytes };
    });
  }

  /** Imports a `rootfs-tar` image: keeps its bytes and files, computes its sha256. */
  async importImage(source: Readable, spec: ImageImportSpec, options?: CallOptions): Promise<ImportedImage> {
    return this.call(`import of image ${spec?.name}`, options, async (signal) => {
      if (spec.format !== 'rootfs-tar') throw new BadInputError(`image format ${String(spec.format)} is not supported (use rootfs-tar)`, { format: spec.format });
      if (!spec.name || !/^[a-zA-Z0-9][a-zA-Z0-9._/-]{0,127}$/.test(spec.name)) throw new BadInputError(`"${spec.name}" is not a valid image name`, { name: spec.name });
      const hash = createHash('sha256');
      const chunks: Buffer[] = [];
      for await (const chunk of source) {
        signal.throwIfAborted();
        const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array);
        hash.update(buffer);
        chunks.push(buffer);
      }
      const bytes = Buffer.concat(chunks);
      const files = readRootfsTar(bytes);
      const hex = hash.digest('hex');
      const ref = `${spec.name}:${spec.version ?? 'latest'}@${hex.slice(0, 12)}`;
      this.images.set(ref, { ref, name: spec.name, version: spec.version, digest: `sha256:${hex}`, bytes, files });
      return { ref, digest: `sha256:${hex}`, sizeBytes: bytes.length };
    });
  }

  /** The exact bytes an image was imported from. */
  async exportImage(image: ImageRef, options?: CallOptions): Promise<Readable> {
    return this.call(`export of image ${image?.ref}`, options, async () => {
      const found = this.images.get(image.ref);
      if (!found) throw new NotFoundError('Image', image.ref, { driver: this.name });
      return Readable.from([found.bytes]);
    });
  }

  /** Its root filesystem and the files of its volumes, as one archive stream. */
  async exportEnvironment(id: string, options?: CallOptions): Promise<Readable> {
    return this.call(`export of ${id}`, options, async () => {
      const env = this.find(id);
      return this.archive(env, env.fs.root);
    });
  }

  /** As `exportEnvironment`, with the snapshot's copy of the root filesystem (volumes are not in a snapshot: read live). */
  async exportSnapshot(id: string, name: string, options?: CallOptions): Promise<Readable> {
    return this.call(`export of snapshot ${name} of ${id}`, options, async () => {
      const env = this.find(id);
      assertSnapshotName(name);
      const snap = env.snapshots.get(name);
      if (!snap) throw new SnapshotNotFoundError(this.name, id, name);
      return this.archive(env, snap.files);
    });
  }

  /** Creates an environment from an `exportEnvironment` archive, with the identity of `spec`. */
  async importEnvironment(source: Readable, spec: EnvironmentSpec, options?: CallOptions): Promise<EnvironmentInfo> {
    return this.call(`import of ${spec?.id}`, options, async () => {
      this.checkSpec(spec);
      const { entries } = decodeArchive(await readAll(source));
      const seed: Seed = { root: new Map(), volumeFiles: [] };
      const mounted = new Set((spec.volumes ?? []).map((v) => v.name));
      for (const entry of entries) {
        const volume = /^volume:([^:]+):(.+)$/.exec(entry.name);
        const path = volume ? volume[2]! : entry.name;
        if (volume ? isAbsolute(path) || posix.normalize(path).startsWith('..') : !path.startsWith('/') || posix.normalize(path) !== path) {
          throw new BadInputError(`the archive holds a file with an unsafe path: ${JSON.stringify(entry.name)}`, { entry: entry.name });
        }
        if (!volume) {
          seed.root.set(entry.name, entry.data);
        } else if (!mounted.has(volume[1]!)) {
          throw new BadInputError(`the archive holds volume ${volume[1]} but the spec mounts no volume of that name`, { volume: volume[1] });
        } else {
          seed.volumeFiles.push({ volume: volume[1]!, path: volume[2]!, data: entry.data });
        }
      }
      return this.build(spec, seed);
    });
  }

  /** Copies its root filesystem under `name`. */
  async snapshot(id: string, name: string, options?: CallOptions): Promise<SnapshotInfo> {
    return this.call(`snapshot of ${id}`, options, async () => {
      const env = this.find(id);
      assertSnapshotName(name);
      if (env.snapshots.has(name)) throw new ConflictError(`Snapshot ${name} of ${id} already exists`, { id, name });
      const createdAt = new Date();
      env.snapshots.set(name, { createdAt, files: new Map([...env.fs.root].map(([p, d]) => [p, Buffer.from(d)])) });
      this.log(env, `snapshot ${name}`);
      return { name, createdAt };
    });
  }

  /** Its snapshots, oldest first. */
  async listSnapshots(id: string, options?: CallOptions): Promise<SnapshotInfo[]> {
    return this.call(`snapshots of ${id}`, options, async () =>
      [...this.find(id).snapshots].map(([name, s]) => ({ name, createdAt: new Date(s.createdAt) })).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime()),
    );
  }

  /** Puts the snapshot's copy of the root filesystem back (a running environment keeps running). */
  async rollbackSnapshot(id: string, name: string, options?: CallOptions): Promise<void> {
    return this.call(`rollback of ${id} to ${name}`, options, async () => {
      const env = this.find(id);
      assertSnapshotName(name);
      const snap = env.snapshots.get(name);
      if (!snap) throw new SnapshotNotFoundError(this.name, id, name);
      env.fs.root.clear();
      for (const [path, data] of snap.files) env.fs.root.set(path, Buffer.from(data));
      this.log(env, `rollback to ${name}`);
    });
  }

  /** Forgets the snapshot; a missing name is not an error. */
  async deleteSnapshot(id: string, name: string, options?: CallOptions): Promise<void> {
    return this.call(`deletion of snapshot ${name} of ${id}`, options, async () => {
      const env = this.find(id);
      assertSnapshotName(name);
      if (env.snapshots.delete(name)) this.log(env, `snapshot ${name} deleted`);
    });
  }

  /** Moves it to the fake driver listening at `destinationUri`, keeping its state; the source copy is then removed. */
  async migrate(id: string, destinationUri: string, options?: CallOptions): Promise<void> {
    return this.call(`migration of ${id} to ${destinationUri}`, options, async () => {
      const env = this.find(id);
      const destination = this.network.connect(destinationUri);
      if (destination === this) throw new BadInputError(`${destinationUri} is this driver: migrate to another one`, { destinationUri });
      const importer = requireCapability(destination, 'importEnvironment');
      const running = env.state === 'running';
      const revert = new Revert();
      try {
        await importer(await this.exportEnvironment(id), env.spec);
        revert.add(() => destination.destroy(id));
        if (running) await destination.start(id);
        await this.destroy(id);
        revert.success();
      } finally {
        await revert.run();
      }
    });
  }

  /** Runs a command (argv, no shell) of the fake's small command set in a running environment. */
  async exec(id: string, command: string[], options?: CallOptions & { stdin?: string }): Promise<ExecResult> {
    return this.call(`exec in ${id}`, options, async () => {
      const env = this.find(id);
      if (!Array.isArray(command) || !command.length || command.some((a) => typeof a !== 'string')) {
        throw new BadInputError('command must be a non-empty array of strings', { command });
      }
      if (env.state !== 'running') throw new ConflictError(`Environment ${id} is not running (it is ${env.state})`, { id, state: env.state });
      if (env.limits.pids !== undefined && env.limits.pids < 2) return { exitCode: 126, stdout: '', stderr: `${command[0]}: fork: Resource temporarily unavailable\n` };
      this.log(env, `exec ${command.join(' ')}`);
      return runCommand(command, {
        fs: env.fs,
        hostname: env.spec.iface.hostname,
        env: env.spec.iface.config ?? {},
        stdin: options?.stdin ?? '',
        onIo: (read, written) => env.counters.io(read, written),
      });
    });
  }

  /** Starts an interactive process (see `startInteractive`) in a running environment. */
  async interactiveExec(id: string, command: string[], options?: InteractiveExecOptions): Promise<InteractiveProcess> {
    return this.call(`interactive exec in ${id}`, options, async () => {
      const env = this.find(id);
      if (!Array.isArray(command) || !command.length || command.some((a) => typeof a !== 'string')) {
        throw new BadInputError('command must be a non-empty array of strings', { command });
      }
      if (env.state !== 'running') throw new ConflictError(`Environment ${id} is not running (it is ${env.state})`, { id, state: env.state });
      this.log(env, `exec -i ${command.join(' ')}`);
      return startInteractive(command, { fs: env.fs, hostname: env.spec.iface.hostname, env: env.spec.iface.config ?? {}, onIo: (read, written) => env.counters.io(read, written) }, options);
    });
  }

  /**
   * Its console: the line shell of `interactiveExec` on a terminal (input echoed), one session per
   * environment at a time (CONFLICT while one is open); `exit` in it ends the session.
   */
  async console(id: string, options?: CallOptions): Promise<InteractiveProcess> {
    return this.call(`console of ${id}`, options, async () => {
      const env = this.find(id);
      if (env.state !== 'running') throw new ConflictError(`Environment ${id} is not running (it is ${env.state})`, { id, state: env.state });
      if (this.consoles.has(id)) throw new ConflictError(`A console session of ${id} is already open`, { id });
      this.log(env, 'console attached');
      const p = startInteractive(['sh'], { fs: env.fs, hostname: env.spec.iface.hostname, env: env.spec.iface.config ?? {}, onIo: (read, written) => env.counters.io(read, written) }, { tty: true });
      this.consoles.add(id);
      void p.exit.finally(() => this.consoles.delete(id)).catch(() => undefined);
      return p;
    });
  }

  /** Its log lines (lifecycle events and commands run), the last `tail` when given. */
  async logs(id: string, options?: CallOptions & { tail?: number }): Promise<string> {
    return this.call(`logs of ${id}`, options, async () => {
      const env = this.find(id);
      const lines = options?.tail !== undefined ? env.logs.slice(-Math.max(0, options.tail)) : env.logs;
      return lines.map((line) => `${line}\n`).join('');
    });
  }
  /** Its log lines from a cursor (the number of lines read before); each line starts with its ISO time. */
  async readLog(id: string, options?: LogReadOptions): Promise<LogRead> {
    return this.call(`log of ${id}`, options, async () => {
      const env = this.find(id);
      if (options?.tail !== undefined && (!Number.isInteger(options.tail) || options.tail < 0)) throw new BadInputError(`tail must be a whole number of lines ≥ 0, not ${options.tail}`, { id });
      let from = 0;
      if (options?.cursor !== undefined) {
        if (!/^\d{1,15}$/.test(options.cursor)) throw new BadInputError(`"${options.cursor}" is not a cursor of this log`, { id, cursor: options.cursor });
        from = Math.min(Number(options.cursor), env.logs.length);
      } else if (options?.since) {
        const since = options.since.toISOString();
        while (from < env.logs.length && env.logs[from]!.slice(0, since.length) < since) from++;
      }
      let lines = env.logs.slice(from);
      if (options?.tail !== undefined) lines = lines.slice(lines.length - Math.min(lines.length, options.tail));
      return { text: lines.map((line) => `${line}\n`).join(''), cursor: String(env.logs.length) };
    });
  }


  /** Changes the given limits (the others stay); a disk limit below what is used is refused. */
  async resize(id: string, limits: ResourceLimits, options?: CallOptions): Promise<void> {
    return this.call(`resize of ${id}`, options, async () => {
      const env = this.find(id);
      const checked = checkLimits(this, limits, this.capacity);
      if (checked.diskBytes !== undefined && checked.diskBytes < env.fs.usedBytes()) {
        throw new BadInputError(`diskBytes ${checked.diskBytes} is less than the ${env.fs.usedBytes()} bytes ${id} already uses`, { id });
      }
      const before = { ...env.limits };
      env.counters.sample(Date.now(), before, env.fs.usedBytes());
      env.limits = { ...env.limits, ...checked };
      env.fs.diskLimitBytes = env.limits.diskBytes;
      this.log(env, `resized ${JSON.stringify(checked)}`);
    });
  }

  /** What the driver holds, for tests that check nothing is left behind. */
  held(): { environments: number; reserved: number; volumeAttachments: number; images: number } {
    let attachments = 0;
    for (const users of this.volumeUsers.values()) attachments += users.size;
    const environments = [...this.environments.values()].filter((e) => e.labels[ENVIRONMENT_LABEL]).length;
    return { environments, reserved: this.reserved.size, volumeAttachments: attachments, images: this.images.size };
  }

  /** Leaves the fake network. */
  close(): void {
    if (this.options.uri) this.network.close(this.options.uri);
  }

  private async build(spec: EnvironmentSpec, seed: Seed): Promise<EnvironmentInfo> {
    const limits = checkLimits(this, spec.limits, this.capacity);
    if (this.environments.has(spec.id) || this.reserved.has(spec.id)) throw new EnvironmentExistsError(this.name, spec.id);
    const revert = new Revert();
    try {
      this.reserved.add(spec.id);
      revert.add(() => this.reserved.delete(spec.id));
      this.inject(spec.id, 'after-reserve');

      for (const volume of spec.volumes ?? []) {
        await this.attachVolume(volume.hostPath, spec.id);
        revert.add(() => this.detachVolume(volume.hostPath, spec.id));
      }
      this.inject(spec.id, 'after-volume');

      const addresses: string[] = [];
      if ((spec.iface.network?.mode ?? 'bridge') === 'bridge') {
        const address = this.addresses.take(spec.iface.network?.ipv4?.split('/')[0]);
        addresses.push(address);
        revert.add(() => this.addresses.release(address));
      }
      this.inject(spec.id, 'after-network');

      const root = new Map(seed.root);
      for (const [path, data] of interfaceFiles(spec, addresses)) root.set(path, data);
      const fs = new FakeFilesystem(root, spec.volumes ?? [], limits.diskBytes);
      if (limits.diskBytes !== undefined && fs.usedBytes() > limits.diskBytes) {
        throw new BadInputError(`the image needs ${fs.usedBytes()} bytes, more than diskBytes ${limits.diskBytes}`, { id: spec.id });
      }
      for (const file of seed.volumeFiles) {
        const volume = spec.volumes!.find((v) => v.name === file.volume)!;
        const target = join(volume.hostPath, ...file.path.split('/'));
        const previous = await readFile(target).catch(() => undefined);
        await mkdir(dirname(target), { recursive: true });
        await writeFile(target, file.data);
        revert.add(() => (previous ? writeFile(target, previous) : rm(target, { force: true })));
      }
      this.inject(spec.id, 'after-filesystem');

      const env: FakeEnvironment = {
        spec: structuredClone(spec),
        handle: `${this.name}-${spec.id}`,
        state: 'created',
        limits,
        labels: { ...spec.labels, [ENVIRONMENT_LABEL]: spec.id },
        addresses,
        fs,
        counters: new FakeCounters(),
        logs: [],
        snapshots: new Map(),
      };
      this.environments.set(spec.id, env);
      this.reserved.delete(spec.id);
      this.log(env, 'created');
      revert.success();
      return toInfo(env);
    } finally {
      await revert.run();
    }
  }

  private checkSpec(spec: EnvironmentSpec): void {
    if (!spec || typeof spec !== 'object') throw new BadInputError('an environment spec is required');
    assertEnvironmentId(spec.id);
    if (!spec.image?.ref) throw new BadInputError('spec.image.ref is required', { id: spec.id });
    if (!spec.iface || !HOSTNAME_PATTERN.test(spec.iface.hostname ?? '')) {
      throw new BadInputError(`"${spec.iface?.hostname}" is not a valid hostname`, { id: spec.id });
    }
    assertFeaturesSupported(this, spec.iface);
    const names = new Set<string>();
    const mounts = new Set<string>();
    for (const volume of spec.volumes ?? []) {
      if (!VOLUME_NAME_PATTERN.test(volume.name)) throw new BadInputError(`"${volume.name}" is not a valid volume name`, { volume: volume.name });
      if (!isAbsolute(volume.hostPath) || !volume.mountPath.startsWith('/') || volume.mountPath === '/') {
        throw new BadInputError(`volume ${volume.name} needs an absolute hostPath and an absolute mountPath other than /`, { volume: volume.name });
      }
      if (names.has(volume.name) || mounts.has(volume.mountPath)) throw new BadInputError(`volume ${volume.name} is named or mounted twice`, { volume: volume.name });
      names.add(volume.name);
      mounts.add(volume.mountPath);
    }
  }

  private async attachVolume(hostPath: string, id: string): Promise<void> {
    const found = await stat(hostPath).catch(() => undefined);
    if (!found?.isDirectory()) throw new BadInputError(`volume directory ${hostPath} does not exist (the caller creates it)`, { hostPath });
    const users = this.volumeUsers.get(hostPath) ?? new Set<string>();
    users.add(id);
    this.volumeUsers.set(hostPath, users);
  }

  private detachVolume(hostPath: string, id: string): void {
    const users = this.volumeUsers.get(hostPath);
    users?.delete(id);
    if (users && !users.size) this.volumeUsers.delete(hostPath);
  }

  private inject(id: string, step: FakeCreateStep): void {
    if (this.options.failOn?.create === step) throw new UnavailableError(`fake failure injected in create of ${id} ${step}`, { driver: this.name, id, step });
  }

  /** The export archive of `env` with `root` as its root filesystem, and its volumes' files as they are now. */
  private async archive(env: FakeEnvironment, root: ReadonlyMap<string, Buffer>): Promise<Readable> {
    const entries: ArchiveEntry[] = [...root.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, data]) => ({ name, data: Buffer.from(data) }));
    for (const volume of env.spec.volumes ?? []) {
      for (const file of await env.fs.volumeFiles(volume)) entries.push({ name: `volume:${volume.name}:${file.path}`, data: file.data });
    }
    return encodeArchive({ id: env.spec.id, hostname: env.spec.iface.hostname, image: env.spec.image, limits: env.limits, labels: env.spec.labels ?? {} }, entries);
  }

  private find(id: string): FakeEnvironment {
    assertEnvironmentId(id);
    const env = this.environments.get(id);
    if (!env || env.labels[ENVIRONMENT_LABEL] !== id) throw new EnvironmentNotFoundError(this.name, id);
    return env;
  }

  private halt(env: FakeEnvironment): void {
    env.counters.stopped(Date.now(), env.limits);
    env.state = 'stopped';
    this.log(env, 'stopped');
  }

  private log(env: FakeEnvironment, message: string): void {
    env.logs.push(`${new Date().toISOString()} ${env.spec.iface.hostname} ${message}`);
  }

  private addForeign(id: string): void {
    const spec: EnvironmentSpec = { id, image: { ref: 'foreign' }, iface: { hostname: id } };
    this.environments.set(id, {
      spec,
      handle: id,
      state: 'running',
      limits: {},
      labels: {},
      addresses: [],
      fs: new FakeFilesystem(new Map(), []),
      counters: new FakeCounters(),
      logs: [],
      snapshots: new Map(),
    });
  }

  private call<T>(what: string, options: CallOptions | undefined, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.options.unavailable && what !== 'probe') {
      return Promise.reject(new UnavailableError(`${this.name}: ${what} failed: the engine is unavailable (${this.options.unavailable})`, { driver: this.name }));
    }
    return withDeadline(`${this.name}: ${what}`, options, DEFAULT_TIMEOUT_MS, work);
  }
}
