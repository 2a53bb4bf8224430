import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { withDeadline } from '../call';
import { consoleNotRunning, ConsoleSessions } from '../host/console-sessions';
import { readFileLog } from '../host/log-read';
import { managedNetworkOf, type ManagedNetwork } from '../host/managed-network';
import { bridgeName, ManagedBridges } from '../host/bridges';
import { assertPortSpecs, PortForwards } from '../host/port-forwards';
import { shapedInterfaces, VethShaping } from '../host/shaping';
import { BridgeNames } from './dns';
import type {
  InteractiveExecOptions,
  InteractiveProcess,
  CallOptions,
  DriverCapabilities,
  DriverCore,
  DriverOptional,
  EnvironmentInfo,
  EnvironmentSpec,
  EnvironmentState,
  EnvironmentStats,
  ExecResult,
  ImageImportSpec,
  ImageRef,
  ImportedImage,
  LogRead,
  LogReadOptions,
  ProbeResult,
  SnapshotInfo,
  StopOptions,
} from '../contract';
import { assertEnvironmentId, BadInputError, ConflictError, EnvironmentExistsError, EnvironmentNotFoundError, SnapshotNotFoundError, UnavailableError, UnsupportedOperationError } from '../errors';
import { Revert } from '../revert';
import { cgroupUsage, cgroupVersion, networkUsage } from '../host/cgroups';
import type { CgroupVersion } from '../host/cgroups';
import { mkdirInside, openImage, storeImage, unpackRootfs, writeInterfaceFiles, WRITABLE_TMPFS } from '../host/rootfs';
import { lastLines } from '../host/run-tool';
import { packTar, unpackStream } from '../host/tar-stream';
import { restoreVolumes, volumePackArgs } from '../host/volumes';
import { lxcConsoleSession } from './console';
import { LxcCli } from './lxc-cli';
import { addressesFromConfig, limitsFromConfig, parseConfig, renderConfig } from './lxc-config';
import { validateSpec } from '../host/validate';
import { assertSnapshotName, containerName, readOwner, readOwnerOf, writeOwner } from './names';
import type { OwnerRecord } from './names';
import type { LxcDriverOptions, ResolvedLxcOptions } from './options';
import { resolveLxcOptions } from './options';
import { probeLxc } from './probe';

/** The comment lines of a snapshot RSP took: its name, and when. */
const SNAPSHOT_COMMENT = 'rsp.snapshot =';
const SNAPSHOT_TIME_COMMENT = 'rsp.snapshotAt =';
/** How long a running container has to stop cleanly for a snapshot or a rollback. */
const SNAPSHOT_STOP_GRACE_SECONDS = 10;

const EXEC_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** `TERM` of a command run on a terminal (what Docker's exec and most consoles are). */
const TERMINAL_TYPE = 'xterm';

/**
 * The LXC driver: system containers on real LXC through the `lxc-*` tools. Each environment is a
 * container `rsp-<id>` under the driver's lxcPath, with a `dir` root filesystem unpacked from a
 * rootfs tarball, a config RSP writes itself, and an `rsp.json` owner file (what `list` looks for).
 */
export class LxcDriver implements DriverCore, Omit<DriverOptional, 'migrate' | 'resize'> {
  readonly technology = 'lxc';
  readonly name: string;
  private readonly options: ResolvedLxcOptions;
  private readonly cli: LxcCli;
  private readonly bridges = new ManagedBridges();
  private readonly ports = new PortForwards();
  private readonly shaping = new VethShaping();
  private readonly names = new BridgeNames();
  private readonly consoles = new ConsoleSessions();
  private cgroup?: Promise<CgroupVersion>;

  constructor(options: LxcDriverOptions = {}) {
    this.options = resolveLxcOptions(options);
    this.name = this.options.name;
    this.cli = new LxcCli(this.options);
  }

  probe(options?: CallOptions): Promise<ProbeResult> {
    return probeLxc(this.options, options?.signal);
  }

  capabilities(): DriverCapabilities {
    return {
      operations: ['importImage', 'exportImage', 'exportEnvironment', 'importEnvironment', 'snapshot', 'listSnapshots', 'rollbackSnapshot', 'deleteSnapshot', 'exportSnapshot', 'exec', 'interactiveExec', 'console', 'logs', 'readLog'],
      limits: ['cpuWeight', 'cpuQuota', 'memoryBytes', 'pids', 'networkBitsPerSecond'],
      features: ['managedNetwork', 'publishedPorts', 'readOnlyRoot', 'ipv6'],
    };
  }

  async create(spec: EnvironmentSpec, options?: CallOptions): Promise<EnvironmentInfo> {
    return withDeadline(`create ${spec.id} on ${this.name}`, options, this.options.timeoutMs, (signal) =>
      this.provision(spec, signal, (rootfs) => unpackRootfs(spec.image.ref, rootfs, signal)),
    );
  }

  async start(id: string, options?: CallOptions): Promise<void> {
    const name = containerName(id, this.options.namePrefix);
    await withDeadline(`start ${id} on ${this.name}`, options, this.options.timeoutMs, async (signal) => {
      const { dir, owner } = await this.owned(id);
      const info = await this.cli.info(name, signal);
      if (info?.state === 'RUNNING') return this.publishPorts(name, owner, signal);
      // The managed network's bridge, made again if it went (a reboot, its last container destroyed meanwhile).
      if (owner.network) {
        await this.bridges.ensure(owner.network, signal);
        await this.names.refresh(owner.network, this.options.lxcPath, signal);
      }
      await this.cli.start(name, signal);
      const after = await this.cli.info(name, signal);
      if (after?.state !== 'RUNNING') {
        const log = await readFile(join(dir, 'lxc.log'), 'utf8').catch(() => '');
        throw new UnavailableError(`LXC container ${name} did not stay running (state ${after?.state ?? 'unknown'}): ${lastLines(log)}`, { container: name });
      }
      await writeOwner(dir, { ...owner, startedAt: new Date().toISOString() });
      await this.shape(name, owner, signal);
      await this.publishPorts(name, owner, signal);
    });
  }

  async stop(id: string, options?: StopOptions): Promise<void> {
    const name = containerName(id, this.options.namePrefix);
    await withDeadline(`stop ${id} on ${this.name}`, options, this.options.timeoutMs, async (signal) => {
      await this.owned(id);
      await this.ports.withdraw(portKey(name));
      const info = await this.cli.info(name, signal);
      if (!info || info.state === 'STOPPED') return;
      await this.cli.stop(name, options?.graceSeconds ?? 10, signal).catch(async (e) => {
        // It may have stopped by itself meanwhile; anything else: kill.
        const now = await this.cli.info(name, signal);
        if (now?.state === 'STOPPED') return;
        await this.cli.kill(name, signal).catch(() => { throw e; });
      });
      await this.shaping.remove(shapedInterfaces(name));
    });
  }

  async destroy(id: string, options?: CallOptions): Promise<void> {
    const name = containerName(id, this.options.namePrefix);
    await withDeadline(`destroy ${id} on ${this.name}`, options, this.options.timeoutMs, async (signal) => {
      const dir = this.dir(name);
      const owner = await readOwnerOf(dir, this.options.owner);
      if (!owner) return;
      const info = await this.cli.info(name, signal);
      if (info && info.state !== 'STOPPED') await this.cli.kill(name, signal).catch(() => undefined);
      await this.cli.destroy(name, signal).catch(() => undefined);
      await this.ports.withdraw(portKey(name));
      await this.shaping.remove(shapedInterfaces(name));
      await rm(dir, { recursive: true, force: true });
      if (owner.network) await this.leaveNetwork(owner.network);
    });
  }

  async inspect(id: string, options?: CallOptions): Promise<EnvironmentInfo> {
    assertEnvironmentId(id);
    return withDeadline(`inspect ${id} on ${this.name}`, options, this.options.timeoutMs, (signal) => this.describe(containerName(id, this.options.namePrefix), signal));
  }

  async list(options?: CallOptions): Promise<EnvironmentInfo[]> {
    return withDeadline(`list on ${this.name}`, options, this.options.timeoutMs, async (signal) => {
      const entries = await readdir(this.options.lxcPath).catch(() => [] as string[]);
      const found: EnvironmentInfo[] = [];
      for (const entry of entries.filter((e) => e.startsWith(this.options.namePrefix)).sort()) {
        const info = await this.describe(entry, signal).catch(() => undefined);
        if (info) found.push(info);
      }
      return found;
    });
  }

  async stats(id: string, options?: CallOptions): Promise<EnvironmentStats> {
    const name = containerName(id, this.options.namePrefix);
    return withDeadline(`stats ${id} on ${this.name}`, options, this.options.timeoutMs, async (signal) => {
      await this.owned(id);
      const info = await this.cli.info(name, signal);
      const at = new Date();
      const stopped = { at, cpuSeconds: 0, memoryBytes: 0, diskReadBytes: 0, diskWriteBytes: 0, networkRxBytes: 0, networkTxBytes: 0, pids: 0 };
      if (info?.state !== 'RUNNING' || !info.pid) return stopped;
      // The container can stop between lxc-info and the read of its init's /proc files.
      const usage = await cgroupUsage(info.pid, this.options.cgroupRoot);
      if (!usage) return stopped;
      const net = await networkUsage(info.pid);
      return { at, ...usage, networkRxBytes: net.rxBytes, networkTxBytes: net.txBytes };
    });
  }

  async exec(id: string, command: string[], options?: CallOptions & { stdin?: string }): Promise<ExecResult> {
    const name = containerName(id, this.options.namePrefix);
    if (!command.length) throw new BadInputError('exec needs a command', { id });
    return withDeadline(`exec in ${id} on ${this.name}`, options, this.options.timeoutMs, async (signal) => {
      const { dir } = await this.owned(id);
      const info = await this.cli.info(name, signal);
      if (info?.state !== 'RUNNING') throw new ConflictError(`environment ${id} is not running`, { id, state: info?.state });
      const env = await this.environmentOf(dir);
      return this.cli.attach(name, command, { PATH: EXEC_PATH, ...env }, { signal, stdin: options?.stdin });
    });
  }

  /**
   * Starts a command inside through `lxc-attach`: with piped standard streams, or with `tty` on a
   * pseudo-terminal the agent gives `lxc-attach` (host/pty.ts), which then gives the command one of
   * the container's, sized and resized as asked (`TERM=xterm`).
   */
  async interactiveExec(id: string, command: string[], options?: InteractiveExecOptions): Promise<InteractiveProcess> {
    const name = containerName(id, this.options.namePrefix);
    if (!Array.isArray(command) || !command.length || command.some((a) => typeof a !== 'string')) throw new BadInputError('exec needs a command (an argument array)', { id });
    return withDeadline(`interactive exec in ${id} on ${this.name}`, options, this.options.timeoutMs, async (signal) => {
      const { dir } = await this.owned(id);
      const info = await this.cli.info(name, signal);
      if (info?.state !== 'RUNNING') throw new ConflictError(`environment ${id} is not running`, { id, state: info?.state });
      return this.cli.attachInteractive(name, command, { PATH: EXEC_PATH, ...(await this.environmentOf(dir)), ...(options?.tty ? { TERM: TERMINAL_TYPE } : {}) }, options?.tty ? { columns: options.columns, rows: options.rows } : undefined);
    });
  }

  /**
   * The container's console (its /dev/console, where its init reads and writes; what it writes
   * is also in the console log) through `lxc-console` on a pseudo-terminal: typed bytes reach it
   * as typed (LXC's escape is neutralised), resizes follow, `kill` detaches and leaves the
   * container running. One session at a time (CONFLICT); CONFLICT when it is not running.
   */
  async console(id: string, options?: CallOptions): Promise<InteractiveProcess> {
    const name = containerName(id, this.options.namePrefix);
    return withDeadline(`console of ${id} on ${this.name}`, options, this.options.timeoutMs, async (signal) => {
      await this.owned(id);
      const info = await this.cli.info(name, signal);
      if (info?.state !== 'RUNNING') throw consoleNotRunning(id, { state: info?.state });
      return this.consoles.attach(id, 'the console', async () => lxcConsoleSession(this.cli.console(name)));
    });
  }

  async logs(id: string, options?: CallOptions & { tail?: number }): Promise<string> {
    return (await this.readLog(id, { tail: options?.tail })).text;
  }

  /** The container's console log (its init's output), a file LXC appends to. */
  async readLog(id: string, options?: LogReadOptions): Promise<LogRead> {
    const { dir } = await this.owned(id);
    return readFileLog(join(dir, 'console.log'), options, id, `driver ${this.name}`);
  }

  async importImage(source: Readable, spec: ImageImportSpec, options?: CallOptions): Promise<ImportedImage> {
    if (spec.format !== 'rootfs-tar') throw new UnsupportedOperationError(`image format ${String(spec.format)}`, `driver ${this.name}`);
    return withDeadline(`import image ${spec.name} on ${this.name}`, options, this.options.timeoutMs, () => storeImage(source, this.options.imageDir));
  }

  async exportImage(image: ImageRef): Promise<Readable> {
    return openImage(image.ref);
  }

  /** The container's config, owner file and root filesystem, and its volumes' content (`volumes/<name>/`), as one tar stream. */
  async exportEnvironment(id: string): Promise<Readable> {
    const { dir, owner } = await this.owned(id);
    return packTar(dir, [...volumePackArgs(owner.volumes), '-C', dir, '--', 'rsp.json', 'config', 'rootfs']);
  }

  /** A new container from an `exportEnvironment` stream: its root filesystem, with `spec`'s identity. */
  async importEnvironment(source: Readable, spec: EnvironmentSpec, options?: CallOptions): Promise<EnvironmentInfo> {
    return withDeadline(`import ${spec.id} on ${this.name}`, options, this.options.timeoutMs, async (signal) => {
      this.validate(spec);
      await mkdir(this.options.lxcPath, { recursive: true });
      const staging = join(this.options.lxcPath, `.rsp-import-${randomBytes(6).toString('hex')}`);
      await mkdir(staging);
      try {
        await unpackStream(source, staging, signal);
        const exists = await stat(join(staging, 'rootfs')).then((s) => s.isDirectory(), () => false);
        if (!exists) throw new BadInputError('the stream is not an LXC environment export (no rootfs/)', { id: spec.id });
        return await this.provision(spec, signal, async (rootfs) => {
          await rm(rootfs, { recursive: true, force: true });
          await rename(join(staging, 'rootfs'), rootfs);
          await restoreVolumes(staging, spec.volumes, signal);
        });
      } finally {
        await rm(staging, { recursive: true, force: true });
      }
    });
  }

  /**
   * `lxc-snapshot` (a copy of the `dir` root filesystem, under the container's `snaps/`); LXC
   * names it snapN, RSP's name and time are its comment. Volumes are not part of it. LXC copies
   * only a stopped container: a running one is stopped for it and started again.
   */
  async snapshot(id: string, name: string, options?: CallOptions): Promise<SnapshotInfo> {
    assertSnapshotName(name);
    const lxcName = containerName(id, this.options.namePrefix);
    return withDeadline(`snapshot ${id} on ${this.name}`, options, this.options.timeoutMs, async (signal) => {
      const { dir } = await this.owned(id);
      if ((await this.snapshotsOf(lxcName, signal)).some((s) => s.name === name)) throw new ConflictError(`Snapshot ${name} of ${id} already exists`, { id, snapshot: name });
      const createdAt = new Date();
      const comment = join(dir, `.snapshot-comment-${randomBytes(4).toString('hex')}`);
      await writeFile(comment, `${SNAPSHOT_COMMENT} ${name}\n${SNAPSHOT_TIME_COMMENT} ${createdAt.toISOString()}\n`);
      // LXC copies only a stopped container: a running one is stopped cleanly for it and started again.
      const running = (await this.cli.info(lxcName, signal))?.state === 'RUNNING';
      try {
        if (running) await this.stop(id, { ...options, graceSeconds: SNAPSHOT_STOP_GRACE_SECONDS });
        await this.cli.snapshot(lxcName, comment, signal);
      } finally {
        await rm(comment, { force: true });
        if (running) await this.start(id, options);
      }
      return { name, createdAt };
    });
  }

  /** The snapshots RSP took (`lxc-snapshot -L -C`, by their comment), oldest first. */
  async listSnapshots(id: string, options?: CallOptions): Promise<SnapshotInfo[]> {
    assertEnvironmentId(id);
    const lxcName = containerName(id, this.options.namePrefix);
    return withDeadline(`snapshots of ${id} on ${this.name}`, options, this.options.timeoutMs, async (signal) => {
      await this.owned(id);
      return (await this.snapshotsOf(lxcName, signal)).map(({ name, createdAt }) => ({ name, createdAt })).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
    });
  }

  /**
   * `lxc-snapshot -r` in place, the container stopped for it (and started again when it ran).
   * LXC rebuilds the container directory from the snapshot: RSP's files beside the root
   * filesystem (config, owner record, console log) are kept as they are now.
   */
  async rollbackSnapshot(id: string, name: string, options?: CallOptions): Promise<void> {
    assertSnapshotName(name);
    const lxcName = containerName(id, this.options.namePrefix);
    await withDeadline(`rollback of ${id} to ${name} on ${this.name}`, options, this.options.timeoutMs, async (signal) => {
      const { dir } = await this.owned(id);
      const snap = (await this.snapshotsOf(lxcName, signal)).find((s) => s.name === name);
      if (!snap) throw new SnapshotNotFoundError(this.name, id, name);
      const running = (await this.cli.info(lxcName, signal))?.state === 'RUNNING';
      if (running) await this.stop(id, { ...options, graceSeconds: SNAPSHOT_STOP_GRACE_SECONDS });
      const kept = new Map<string, Buffer>();
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        if (entry.isFile()) kept.set(entry.name, await readFile(join(dir, entry.name)));
      }
      await this.cli.restoreSnapshot(lxcName, snap.snap, signal);
      for (const [file, data] of kept) await writeFile(join(dir, file), data);
      if (running) await this.start(id, options);
    });
  }

  /**
   * As `exportEnvironment`, with the snapshot's root filesystem (`snaps/<snapN>/rootfs`, read in
   * place: the container keeps running); RSP's config and owner files and the volumes (not part of
   * an LXC snapshot) are read live.
   */
  async exportSnapshot(id: string, name: string, options?: CallOptions): Promise<Readable> {
    assertSnapshotName(name);
    const lxcName = containerName(id, this.options.namePrefix);
    return withDeadline(`export of snapshot ${name} of ${id} on ${this.name}`, options, this.options.timeoutMs, async (signal) => {
      const { dir, owner } = await this.owned(id);
      const snap = (await this.snapshotsOf(lxcName, signal)).find((s) => s.name === name);
      if (!snap) throw new SnapshotNotFoundError(this.name, id, name);
      const snapDir = join(dir, 'snaps', snap.snap);
      if (!(await stat(join(snapDir, 'rootfs')).then((s) => s.isDirectory(), () => false))) throw new UnavailableError(`snapshot ${name} of ${id} has no root filesystem directory at ${snapDir}/rootfs (only the dir backend is read)`, { id, snapshot: name });
      return packTar(dir, [...volumePackArgs(owner.volumes), '-C', dir, 'rsp.json', 'config', '-C', snapDir, 'rootfs']);
    });
  }

  /** `lxc-snapshot -d`; a name RSP never took is not an error. */
  async deleteSnapshot(id: string, name: string, options?: CallOptions): Promise<void> {
    assertSnapshotName(name);
    const lxcName = containerName(id, this.options.namePrefix);
    await withDeadline(`deletion of snapshot ${name} of ${id} on ${this.name}`, options, this.options.timeoutMs, async (signal) => {
      await this.owned(id);
      for (const s of await this.snapshotsOf(lxcName, signal)) if (s.name === name) await this.cli.destroySnapshot(lxcName, s.snap, signal);
    });
  }

  // --- internals -----------------------------------------------------------------------------

  private dir(name: string): string {
    return join(this.options.lxcPath, name);
  }

  private cgroupVersion(): Promise<CgroupVersion> {
    this.cgroup ??= cgroupVersion(this.options.cgroupRoot);
    return this.cgroup;
  }

  /** The snapshots of the container RSP took, by the name and time in their comment. */
  private async snapshotsOf(lxcName: string, signal: AbortSignal): Promise<Array<SnapshotInfo & { snap: string }>> {
    const found: Array<SnapshotInfo & { snap: string }> = [];
    for (const { snap, comment } of await this.cli.snapshots(lxcName, signal)) {
      const name = comment.find((l) => l.startsWith(`${SNAPSHOT_COMMENT} `))?.slice(SNAPSHOT_COMMENT.length + 1);
      const at = comment.find((l) => l.startsWith(`${SNAPSHOT_TIME_COMMENT} `))?.slice(SNAPSHOT_TIME_COMMENT.length + 1);
      if (name) found.push({ snap, name, createdAt: at ? new Date(at) : new Date(0) });
    }
    return found;
  }

  /** Whether a container config under the LXC path still links to `bridge`. */
  private async bridgeInUse(bridge: string): Promise<boolean> {
    for (const entry of await readdir(this.options.lxcPath).catch(() => [] as string[])) {
      const config = await readFile(join(this.options.lxcPath, entry, 'config'), 'utf8').catch(() => '');
      if (new RegExp(`^lxc\\.net\\.\\d+\\.link\\s*=\\s*${bridge}\\s*$`, 'm').test(config)) return true;
    }
    return false;
  }


  /** The container directory and owner record of an RSP environment, or NOT_FOUND. */
  private async owned(id: string): Promise<{ dir: string; owner: OwnerRecord }> {
    const dir = this.dir(containerName(id, this.options.namePrefix));
    const owner = await readOwnerOf(dir, this.options.owner);
    if (!owner) throw new EnvironmentNotFoundError(this.name, id);
    return { dir, owner };
  }

  private validate(spec: EnvironmentSpec): void {
    validateSpec(this, spec);
  }

  /** Creates the container directory, fills the root filesystem with `populate`, writes the config; reverts on failure. */
  private async provision(spec: EnvironmentSpec, signal: AbortSignal, populate: (rootfs: string) => Promise<void>): Promise<EnvironmentInfo> {
    this.validate(spec);
    const name = containerName(spec.id, this.options.namePrefix);
    const dir = this.dir(name);
    let bridge: string | undefined;
    const managed = managedNetworkOf(spec.iface.network);
    assertPortSpecs(spec.iface.ports, managed);
    if (managed) {
      bridge = await this.bridges.ensure(managed, signal);
    } else if (spec.iface.network?.mode === 'bridge') {
      bridge = spec.iface.network.bridge ?? this.options.defaultBridge;
      const isBridge = await stat(`/sys/class/net/${bridge}/bridge`).then(() => true, () => false);
      if (!isBridge) throw new BadInputError(`bridge ${bridge} does not exist on this host (create it, e.g. ip link add ${bridge} type bridge)`, { bridge });
    }
    for (const v of spec.volumes ?? []) {
      const ok = await stat(v.hostPath).then((s) => s.isDirectory(), () => false);
      if (!ok) throw new BadInputError(`volume ${v.name}: host directory ${v.hostPath} does not exist`, { volume: v.name });
    }
    await mkdir(this.options.lxcPath, { recursive: true });
    const revert = new Revert();
    try {
      try {
        await mkdir(dir);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new EnvironmentExistsError(this.name, spec.id);
        throw e;
      }
      // Undone last (after the directory is gone): the bridge goes unless another container links to it.
      if (managed) revert.add(() => this.leaveNetwork(managed));
      revert.add(() => rm(dir, { recursive: true, force: true }));
      const rootfs = join(dir, 'rootfs');
      await mkdir(rootfs, { mode: 0o755 });
      await populate(rootfs);
      // On a managed network the bridge's name server (the gateway) answers the other environments' names, unless other servers were asked for.
      await writeInterfaceFiles(rootfs, managed && !spec.iface.dns?.length ? { ...spec.iface, dns: [managed.gateway] } : spec.iface, spec.command);
      // A read-only root cannot take mount points at start: they are made now.
      if (spec.iface.readOnlyRoot) for (const at of [...Object.keys(WRITABLE_TMPFS), ...(spec.volumes ?? []).map((v) => v.mountPath)]) await mkdirInside(rootfs, at);
      const config = renderConfig({ spec, name, containerDir: dir, cgroup: await this.cgroupVersion(), bridge, vethPair: bridge ? shapedInterfaces(name).veth : undefined });
      await writeFile(join(dir, 'config'), config);
      await writeOwner(dir, { environment: spec.id, image: spec.image, labels: { ...(spec.labels ?? {}), 'rsp.environment': spec.id }, hostname: spec.iface.hostname, ...(spec.volumes?.length ? { volumes: spec.volumes } : {}), ...(managed ? { network: managed } : {}), ...(spec.iface.ports?.length ? { ports: spec.iface.ports } : {}), ...(spec.limits?.networkBitsPerSecond ? { networkBitsPerSecond: spec.limits.networkBitsPerSecond } : {}), ...(this.options.owner ? { owner: this.options.owner } : {}), createdAt: new Date().toISOString() });
      if (managed) await this.names.refresh(managed, this.options.lxcPath, signal);
      const info = await this.describe(name, signal);
      revert.success();
      return info;
    } finally {
      await revert.run();
    }
  }

  /**
   * Caps a started container's traffic on its veth (a container without a network has none to
   * cap); a kernel that cannot shape stops it again and says why.
   */
  private async shape(name: string, owner: OwnerRecord, signal: AbortSignal): Promise<void> {
    const on = shapedInterfaces(name);
    if (!owner.networkBitsPerSecond || !(await stat(`/sys/class/net/${on.veth}`).then(() => true, () => false))) return;
    await this.shaping.apply(on, owner.networkBitsPerSecond, signal).catch(async (e: unknown) => {
      await this.cli.kill(name, signal).catch(() => undefined);
      throw e;
    });
  }

  /** Forwards the host ports the container publishes to its address (and IPv6 address) on its managed network (replacing what was there). */
  private async publishPorts(name: string, owner: OwnerRecord, signal: AbortSignal): Promise<void> {
    if (!owner.network || !owner.ports?.length) return;
    await this.ports.publish(portKey(name), owner.network.address, bridgeName(owner.network.name), owner.ports, signal, owner.network.ipv6?.address);
  }

  /** After a container left a managed network: its bridge goes when it was the last one, and its name leaves the bridge's name server. */
  private async leaveNetwork(network: ManagedNetwork): Promise<void> {
    await this.bridges.release(network, (bridge) => this.bridgeInUse(bridge));
    await this.names.refresh(network, this.options.lxcPath);
  }

  /** Environment variables a container's init gets (from lxc.environment), for exec. */
  private async environmentOf(dir: string): Promise<Record<string, string>> {
    const pairs = parseConfig(await readFile(join(dir, 'config'), 'utf8'));
    const env: Record<string, string> = {};
    for (const [k, v] of pairs) {
      if (k !== 'lxc.environment') continue;
      const eq = v.indexOf('=');
      if (eq > 0) env[v.slice(0, eq)] = v.slice(eq + 1);
    }
    return env;
  }

  private async describe(name: string, signal: AbortSignal): Promise<EnvironmentInfo> {
    const dir = this.dir(name);
    const owner = await readOwnerOf(dir, this.options.owner);
    const id = name.slice(this.options.namePrefix.length);
    if (!owner || owner.environment !== id) throw new EnvironmentNotFoundError(this.name, id);
    const pairs = parseConfig(await readFile(join(dir, 'config'), 'utf8').catch(() => ''));
    const info = await this.cli.info(name, signal);
    const state = lxcState(info?.state, owner);
    const addresses = addressesFromConfig(pairs);
    return {
      id: owner.environment,
      handle: name,
      state,
      image: owner.image,
      addresses: state === 'running' ? addresses : [],
      hostname: owner.hostname,
      limits: { ...limitsFromConfig(pairs), ...(owner.networkBitsPerSecond ? { networkBitsPerSecond: owner.networkBitsPerSecond } : {}) },
      labels: owner.labels,
      startedAt: state === 'running' && owner.startedAt ? new Date(owner.startedAt) : undefined,
    };
  }
}

function lxcState(state: string | undefined, owner: OwnerRecord): EnvironmentState {
  switch (state) {
    case 'RUNNING':
    case 'STARTING':
      return 'running';
    case 'STOPPED':
    case 'STOPPING':
      return owner.startedAt ? 'stopped' : 'created';
    case 'FROZEN':
    case 'FREEZING':
      return 'paused';
    default:
      return 'unknown';
  }
}

/** The key marking a container's port-forwarding rules. */
function portKey(container: string): string {
  return `lxc:${container}`;
}

/** Creates the LXC driver (what the registry and the conformance suite call). */
export function createLxcDriver(options: LxcDriverOptions = {}): LxcDriver {
  return new LxcDriver(options);
}

