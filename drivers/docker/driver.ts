import { randomBytes } from 'node:crypto';
import { readFile, rm, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { finished, PassThrough, type Readable } from 'node:stream';
import type Docker from 'dockerode';
import type { ContainerCreateOptions, ContainerInspectInfo } from 'dockerode';
import { withDeadline } from '../call';
import type {
  InteractiveExecOptions,
  InteractiveProcess,
  CallOptions,
  Driver,
  DriverCapabilities,
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
  ResourceLimits,
  SnapshotInfo,
  StopOptions,
} from '../contract';
import { assertEnvironmentId, assertFeaturesSupported, assertLimitsSupported, assertSnapshotName, BadInputError, ConflictError, EnvironmentExistsError, SnapshotNotFoundError, UnsupportedOperationError } from '../errors';
import { consoleInput } from '../host/console-input';
import { consoleNotRunning, ConsoleSessions } from '../host/console-sessions';
import { checkLogReadOptions } from '../host/log-read';
import { RSP_INIT_SCRIPT } from '../host/rootfs';
import { Revert } from '../revert';
import { resolveDockerConfig, type DockerDriverOptions, type ResolvedDockerConfig } from './config';
import { engineMessage, isConnectionError, translateEngineError } from './engine-errors';
import { exportRootfs, imageTag, importRootfs } from './images';
import { assertInterface, interfaceToCreateOptions, networkModeOf, removeConfigFiles, writeConfigFiles } from './interface';
import { containerName, LABEL_ENVIRONMENT, LABEL_EXPORT_OF, LABEL_GROUP, LABEL_IMAGE_DIGEST, LABEL_IMAGE_REF, LABEL_INSTANCE, LABEL_OWNED_IMAGE, LABEL_OWNER, isOurs, ownedFilter } from './labels';
import { ENFORCED_LIMITS, limitsFromHostConfig, limitsToHostConfig } from './limits';
import { logQuery, logReadOf } from './logs';
import { managedNetworkOf, ManagedNetworks } from './network';
import { EXPORT_FORMAT, packEnvironment, unpackEnvironment, type EnvironmentManifest } from './export';
import { CapKeeper } from './cap-keeper';
import { DockerShaping, unshapeableReason } from './shaping';
import { normaliseStats, type DockerStatsSample } from './stats';
import { copyVolumes, LABEL_SNAPSHOT, LABEL_SNAPSHOT_AT, LABEL_SNAPSHOT_OF, restoreVolumeCopies, SNAPSHOT_LABELS, snapshotImages, snapshotTag, volumeCopiesDir } from './snapshots';

/**
 * dockerode's client class, loaded with the first Docker driver made: its two hundred modules (ssh2's
 * among them) are not loaded by a process that drives no Docker engine (a gateway with other
 * drivers, the CLI's client commands, each test file's gateway on the fake driver).
 */
function dockerode(): typeof Docker {
  return require('dockerode') as typeof Docker;
}

/**
 * The Docker driver: RSP environments as Docker containers on one engine, through dockerode.
 * Every container it creates is named `rsp-<id>` and labelled `rsp.environment=<id>` (and
 * `rsp.group=<group>` when the spec's labels name one); it lists, reconciles and destroys only
 * those. A named instance (several agents on one engine) uses `rsp-<instance>-<id>` and the
 * label `rsp.instance=<instance>`, and sees only its own containers. With an `owner` (the
 * installation or agent), everything it makes is labelled `rsp.owner=<owner>` and it sees only
 * objects of that owner or of none (made before owners existed). Images come from root
 * filesystem tarballs (`importImage`) — no registry needed. A managed network a spec names (the
 * gateway's per-host range) is made on first use and removed with its last container. A
 * bandwidth cap is `tc` on the host's end of the container's veth (engines on this machine only),
 * applied at each start and removed at stop and destroy; starts the engine makes by itself
 * (restart policy, dockerd restarting, `docker restart`) get it again through `caps`.
 */
export class DockerDriver implements Driver {
  readonly name: string = 'docker';
  readonly technology = 'docker' as const;
  readonly config: ResolvedDockerConfig;
  /** The dockerode client, for tests and tools that need the raw engine. */
  readonly engine: Docker;
  private readonly networks: ManagedNetworks;
  private readonly shaping: DockerShaping;
  private readonly consoles = new ConsoleSessions();
  /** Follows the engine's starts of this driver's containers to apply their caps again (from the first cap applied, or `reconcile`). */
  readonly caps: CapKeeper;

  constructor(options: DockerDriverOptions = {}) {
    this.config = resolveDockerConfig(options);
    this.engine = new (dockerode())(this.config.connection);
    this.networks = new ManagedNetworks(this.engine, () => this.local);
    this.shaping = new DockerShaping(this.config.stateDir);
    this.caps = new CapKeeper(this.engine, {
      owned: async () => (await this.containers()).filter((c) => c.State === 'running').map((c) => ({ id: c.Labels![LABEL_ENVIRONMENT]!, containerId: c.Id })),
      environmentOf: (labels) => (labels?.[LABEL_ENVIRONMENT] && isOurs(labels, this.config) && !labels[LABEL_EXPORT_OF] ? labels[LABEL_ENVIRONMENT] : undefined),
      capOf: (id, info) => this.shaping.capOf(id, specOf(info).limits?.networkBitsPerSecond),
      nameOf: (id) => containerName(id, this.config.instance),
      reapply: (id, info) => this.shapeNow(id, info),
    });
  }

  /** Stops following the engine's events (the driver is not used any more). */
  close(): void {
    this.caps.close();
  }

  /** True when the engine runs on this machine (a Unix socket): its containers' veths are this host's interfaces, which a bandwidth cap needs. */
  private get local(): boolean {
    return this.config.endpoint.startsWith('unix://');
  }

  capabilities(): DriverCapabilities {
    return {
      operations: ['importImage', 'exportImage', 'exportEnvironment', 'importEnvironment', 'snapshot', 'listSnapshots', 'rollbackSnapshot', 'deleteSnapshot', 'exportSnapshot', 'exec', 'interactiveExec', 'console', 'logs', 'readLog', 'resize'],
      limits: this.local ? [...ENFORCED_LIMITS, 'networkBitsPerSecond'] : [...ENFORCED_LIMITS],
      features: ['managedNetwork', 'publishedPorts', 'readOnlyRoot', 'ipv6'],
    };
  }

  async probe(options?: CallOptions): Promise<ProbeResult> {
    try {
      return await withDeadline('docker probe', options, Math.min(this.config.timeoutMs, 5_000), async () => {
        const version = await this.engine.version();
        const info = (await this.engine.info()) as { NCPU?: number; MemTotal?: number; KernelVersion?: string; Architecture?: string; DockerRootDir?: string };
        let diskBytes = 0;
        try {
          const fs = await statfs(info.DockerRootDir ?? '/var/lib/docker');
          diskBytes = fs.blocks * fs.bsize;
        } catch {
          // A remote engine: its disk is not visible from here.
        }
        return {
          available: true,
          version: `Docker ${version.Version} (API ${version.ApiVersion})`,
          host: { cpus: info.NCPU ?? 0, memoryBytes: info.MemTotal ?? 0, diskBytes, kernel: info.KernelVersion ?? version.KernelVersion ?? '', arch: info.Architecture ?? version.Arch ?? '' },
        };
      });
    } catch (e) {
      const why = isConnectionError(e) ? `no Docker engine answers at ${this.config.endpoint} (${(e as { code?: string }).code})` : `Docker engine at ${this.config.endpoint} is not usable: ${engineMessage(e)}`;
      return { available: false, reason: why };
    }
  }

  async create(spec: EnvironmentSpec, options?: CallOptions): Promise<EnvironmentInfo> {
    this.assertSpec(spec);
    return this.call('create', spec.id, options, async () => {
      const revert = new Revert();
      try {
        const info = await this.createContainer(spec, revert, {});
        revert.success();
        return info;
      } finally {
        await revert.run();
      }
    }, { image: spec.image.ref });
  }

  async start(id: string, options?: CallOptions): Promise<void> {
    assertEnvironmentId(id);
    await this.call('start', id, options, async () => {
      const container = await this.owned(id);
      const network = managedNetworkOf(specOf(await container.inspect()).iface?.network);
      if (network) await this.networks.ensure(network);
      await this.caps.ownStart(id, async () => {
        try {
          await container.start();
        } catch (e) {
          if ((e as { statusCode?: number }).statusCode !== 304) throw e; // already running
        }
        await this.shape(id, await container.inspect());
      });
    });
  }

  /**
   * Caps a started container's bandwidth (again: a new start is a new veth) when it has a cap; a
   * container that cannot be shaped is stopped again and the error says why.
   */
  private async shape(id: string, info: ContainerInspectInfo, signal?: AbortSignal): Promise<void> {
    const cap = await this.shaping.capOf(id, specOf(info).limits?.networkBitsPerSecond);
    if (!cap || !info.State.Running || !info.State.Pid) return;
    if (this.local) await this.caps.follow();
    await this.caps.serialize(id, () => this.shapeNow(id, info, signal));
  }

  /** `shape` inside the environment's turn of `caps`. */
  private async shapeNow(id: string, info: ContainerInspectInfo, signal?: AbortSignal): Promise<void> {
    const cap = await this.shaping.capOf(id, specOf(info).limits?.networkBitsPerSecond);
    if (!cap || !info.State.Running || !info.State.Pid) return;
    try {
      await this.shaping.apply(containerName(id, this.config.instance), info.State.Pid, info.HostConfig.NetworkMode ?? 'default', cap, signal);
    } catch (e) {
      await this.engine.getContainer(info.Id).kill().catch(() => undefined);
      await this.shaping.remove(containerName(id, this.config.instance));
      throw e;
    }
  }

  async stop(id: string, options?: StopOptions): Promise<void> {
    assertEnvironmentId(id);
    const grace = options?.graceSeconds ?? 10;
    await withDeadline(`docker stop ${id}`, options, this.config.timeoutMs + grace * 1000, async () => {
      try {
        const container = await this.owned(id);
        const pid = (await container.inspect()).State.Pid;
        await container.stop({ t: grace }).catch((e: { statusCode?: number }) => {
          if (e.statusCode !== 304) throw e; // 304: already stopped
        });
        await this.caps.serialize(id, () => this.shaping.remove(containerName(id, this.config.instance), pid));
      } catch (e) {
        throw translateEngineError(e, `stop ${id}`, this.context(id));
      }
    });
  }

  async destroy(id: string, options?: CallOptions): Promise<void> {
    assertEnvironmentId(id);
    await this.call('destroy', id, options, async () => {
      const found = await this.containers(id);
      for (const summary of found) {
        const container = this.engine.getContainer(summary.Id);
        const pid = await container.inspect().then((i) => i.State.Pid, () => undefined);
        await this.shaping.remove(containerName(id, this.config.instance), pid);
        await container.remove({ force: true }).catch((e: { statusCode?: number }) => {
          if (e.statusCode !== 404) throw e;
        });
        if (summary.Labels?.[LABEL_OWNED_IMAGE] === 'true') await this.engine.getImage(summary.Labels[LABEL_IMAGE_REF] ?? summary.ImageID).remove().catch(() => undefined);
        const network = managedNetworkOf((JSON.parse(summary.Labels?.['rsp.spec'] ?? '{}') as Partial<EnvironmentSpec>).iface?.network);
        if (network) await this.networks.release(network.name);
      }
      for (const exporting of await this.exportContainers(id)) await this.engine.getContainer(exporting.Id).remove({ force: true }).catch(() => undefined);
      for (const snap of await snapshotImages(this.engine, this.config.imageRepository, id, this.config.instance, this.config.owner)) {
        await this.engine.getImage(snap.imageId).remove({ force: true }).catch(() => undefined);
      }
      await rm(volumeCopiesDir(this.config.stateDir, id, undefined, this.config.instance), { recursive: true, force: true });
      await removeConfigFiles(this.config.stateDir, id);
    });
  }

  async inspect(id: string, options?: CallOptions): Promise<EnvironmentInfo> {
    assertEnvironmentId(id);
    return this.call('inspect', id, options, async () => this.infoOf(await (await this.owned(id)).inspect()));
  }

  async list(options?: CallOptions): Promise<EnvironmentInfo[]> {
    return this.call('list', undefined, options, async () => {
      const found = await this.containers();
      const infos = await Promise.all(found.map((s) => this.engine.getContainer(s.Id).inspect().then((i) => this.infoOf(i), () => undefined)));
      return infos.filter((i): i is EnvironmentInfo => i !== undefined);
    });
  }

  async stats(id: string, options?: CallOptions): Promise<EnvironmentStats> {
    assertEnvironmentId(id);
    return this.call('stats', id, options, async () => {
      const container = await this.owned(id);
      const sample = (await container.stats({ stream: false, 'one-shot': true })) as unknown as DockerStatsSample;
      return normaliseStats(sample);
    });
  }

  async exec(id: string, command: string[], options?: CallOptions & { stdin?: string }): Promise<ExecResult> {
    assertEnvironmentId(id);
    if (!Array.isArray(command) || command.length === 0) throw new BadInputError('exec needs a command (an argument array)', {});
    return this.call('exec', id, options, async () => {
      const container = await this.owned(id);
      const exec = await container.exec({ Cmd: command, AttachStdout: true, AttachStderr: true, AttachStdin: options?.stdin !== undefined });
      const stream = await exec.start({ hijack: true, stdin: options?.stdin !== undefined });
      const stdout = new PassThrough();
      const stderr = new PassThrough();
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      stdout.on('data', (c: Buffer) => out.push(c));
      stderr.on('data', (c: Buffer) => err.push(c));
      this.engine.modem.demuxStream(stream, stdout, stderr);
      if (options?.stdin !== undefined) stream.end(options.stdin);
      await new Promise<void>((resolve, reject) => {
        stream.once('end', resolve);
        stream.once('close', resolve);
        stream.on('error', reject);
      });
      const result = await exec.inspect();
      return { exitCode: result.ExitCode ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
    });
  }

  /**
   * Starts an exec instance attached to standard input (on a terminal with `tty`, sized from the
   * start) over the engine's hijacked connection; its exit code is the exec's once the output ended.
   */
  async interactiveExec(id: string, command: string[], options?: InteractiveExecOptions): Promise<InteractiveProcess> {
    assertEnvironmentId(id);
    if (!Array.isArray(command) || command.length === 0 || command.some((a) => typeof a !== 'string')) throw new BadInputError('exec needs a command (an argument array)', {});
    const tty = options?.tty === true;
    return this.call('interactive exec', id, options, async () => {
      const container = await this.owned(id);
      const exec = await container.exec({ Cmd: command, AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: tty });
      const stream = await exec.start({ hijack: true, stdin: true, Tty: tty });
      // Sized once started (ConsoleSize at create needs engine API 1.42).
      if (tty && options?.columns && options?.rows) await exec.resize({ h: options.rows, w: options.columns });
      const stdin = new PassThrough();
      const stdout = new PassThrough();
      const stderr = new PassThrough();
      stdin.pipe(stream);
      if (tty) stream.pipe(stdout);
      else this.engine.modem.demuxStream(stream, stdout, stderr);
      const ended = new Promise<void>((resolve) => {
        stream.once('end', resolve);
        stream.once('close', resolve);
        stream.once('error', () => resolve());
      });
      const exit = ended.then(async () => {
        stdout.end();
        stderr.end();
        const info = await exec.inspect().catch(() => undefined);
        return info?.ExitCode ?? -1;
      });
      return {
        stdin,
        stdout,
        stderr,
        exit,
        resize: async (columns: number, rows: number) => {
          if (tty) await exec.resize({ h: rows, w: columns }).catch((e: unknown) => Promise.reject(translateEngineError(e, 'resizing the exec terminal', this.context(id))));
        },
        kill: () => {
          stream.destroy();
          void this.killExec(container, exec);
        },
      };
    });
  }

  /**
   * The container's console: its main process, attached to over the engine's hijacked connection
   * (`docker attach`): what it writes comes live on `stdout` and `stderr` (RSP makes containers
   * without a TTY, so they stay apart), what is typed goes to its standard input, which
   * RSP keeps open (`OpenStdin`, never closed by a detach: `StdinOnce` off); ending `stdin` does
   * not detach, `kill` does, and neither stops the container. One session at a time (CONFLICT);
   * CONFLICT when it is not running; UNSUPPORTED_OPERATION for a container made before RSP kept
   * its standard input open (nothing typed could reach it: rebuild it to get a console).
   */
  async console(id: string, options?: CallOptions): Promise<InteractiveProcess> {
    assertEnvironmentId(id);
    return this.call('console', id, options, async () => {
      const container = await this.owned(id);
      const info = await container.inspect();
      if (!info.State.Running) throw consoleNotRunning(id);
      if (!info.Config.OpenStdin) {
        throw new UnsupportedOperationError('console', `container ${info.Name.replace(/^\//, '')}`, "its main process's standard input is closed (made before RSP kept it open), so nothing typed could reach it; rebuild the environment to get a console");
      }
      return this.consoles.attach(id, 'the console', () => this.attachMain(container));
    });
  }

  /** Attaches to a running container's main process (its console): the streams, not its past output. */
  private async attachMain(container: Docker.Container): Promise<InteractiveProcess> {
    const stream = (await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as NodeJS.ReadWriteStream & { destroy(): void };
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    this.engine.modem.demuxStream(stream, stdout, stderr);
    // Typed bytes go through; the end of input is not passed on (it would end the attach).
    const stdin = consoleInput(stream);
    const exit = new Promise<number>((resolve) => {
      const ended = () => {
        stdout.end();
        stderr.end();
        resolve(0);
      };
      stream.once('end', ended);
      stream.once('close', ended);
      stream.once('error', ended);
    });
    return { stdin, stdout, stderr, exit, resize: async () => undefined, kill: () => stream.destroy() };
  }

  /**
   * Ends an exec's process still running once its client went (the engine has no call for it, and
   * a process on a terminal or ignoring its input's end outlives the connection): its pid inside
   * the container is read from the host's /proc (`NSpid`) and killed by a second exec. Best effort:
   * an engine on another machine leaves it to end by itself.
   */
  private async killExec(container: Docker.Container, exec: Docker.Exec): Promise<void> {
    try {
      const info = await exec.inspect();
      if (!info.Running || !info.Pid) return;
      const nspid = /^NSpid:\s+(.*)$/m.exec(await readFile(`/proc/${info.Pid}/status`, 'utf8'))?.[1]?.trim().split(/\s+/).pop();
      if (!nspid || !/^\d+$/.test(nspid)) return;
      const killer = await container.exec({ Cmd: ['kill', '-KILL', nspid], AttachStdout: false, AttachStderr: false });
      await killer.start({ Detach: true });
    } catch {
      // The process ended meanwhile, or its /proc is not this machine's.
    }
  }

  async logs(id: string, options?: CallOptions & { tail?: number }): Promise<string> {
    return (await this.readLog(id, { ...options, tail: options?.tail })).text;
  }

  /** The container's stdout and stderr as the engine's log driver keeps them, in order. */
  async readLog(id: string, options?: LogReadOptions): Promise<LogRead> {
    assertEnvironmentId(id);
    checkLogReadOptions(options, id);
    const query = logQuery(options, id);
    return this.call('logs', id, options, async () => {
      const container = await this.owned(id);
      const raw = (await container.logs({ stdout: true, stderr: true, follow: false, ...query } as unknown as { follow: false })) as unknown as Buffer;
      return logReadOf(demuxBuffer(raw), options, id);
    });
  }

  async resize(id: string, limits: ResourceLimits, options?: CallOptions): Promise<void> {
    assertEnvironmentId(id);
    assertLimitsSupported(this, limits);
    await this.call('resize', id, options, async () => {
      const container = await this.owned(id);
      const host = limitsToHostConfig(limits);
      if (host.Memory !== undefined) (host as { MemorySwap?: number }).MemorySwap = -1;
      if (Object.keys(host).length) await container.update(host);
      if (limits.networkBitsPerSecond !== undefined) {
        const info = await container.inspect();
        const reason = unshapeableReason(info.HostConfig.NetworkMode ?? 'default');
        if (reason) throw new UnsupportedOperationError('networkBitsPerSecond', `container ${containerName(id, this.config.instance)}`, reason);
        await this.shaping.record(id, limits.networkBitsPerSecond);
        await this.shape(id, info);
      }
    });
  }

  /**
   * Commits the container (paused while it is taken) to an image labelled with the environment
   * and the snapshot, and copies its volumes beside (see snapshots.ts).
   */
  async snapshot(id: string, name: string, options?: CallOptions): Promise<SnapshotInfo> {
    assertEnvironmentId(id);
    assertSnapshotName(name);
    return this.call('snapshot', id, options, async () => {
      const container = await this.owned(id);
      if ((await snapshotImages(this.engine, this.config.imageRepository, id, this.config.instance, this.config.owner)).some((s) => s.tagged && s.name === name)) {
        throw new ConflictError(`Snapshot ${name} of ${id} already exists`, { id, snapshot: name });
      }
      const createdAt = new Date();
      const copies = volumeCopiesDir(this.config.stateDir, id, name, this.config.instance);
      const revert = new Revert();
      try {
        await rm(copies, { recursive: true, force: true });
        revert.add(() => rm(copies, { recursive: true, force: true }));
        await copyVolumes(copies, specOf(await container.inspect()).volumes ?? []);
        const { repo, tag } = snapshotTag(this.config.imageRepository, id, name, this.config.instance);
        const labels = { [LABEL_SNAPSHOT_OF]: id, [LABEL_SNAPSHOT]: name, [LABEL_SNAPSHOT_AT]: createdAt.toISOString() };
        await container.commit({ repo, tag, pause: true, comment: `RSP snapshot ${name} of ${id}`, changes: Object.entries(labels).map(([k, v]) => `LABEL ${k}=${v}`) });
        revert.success();
      } finally {
        await revert.run();
      }
      return { name, createdAt };
    });
  }

  /** The environment's snapshot images (still tagged), oldest first. */
  async listSnapshots(id: string, options?: CallOptions): Promise<SnapshotInfo[]> {
    assertEnvironmentId(id);
    return this.call('listSnapshots', id, options, async () => {
      await this.owned(id);
      return (await snapshotImages(this.engine, this.config.imageRepository, id, this.config.instance, this.config.owner)).filter((s) => s.tagged).map(({ name, createdAt }) => ({ name, createdAt }));
    });
  }

  /**
   * A container made from the snapshot image with the environment's spec replaces the current one
   * (made first, then swapped: a failure leaves the current one), the volumes get their copies
   * back, and it is started again when it ran.
   */
  async rollbackSnapshot(id: string, name: string, options?: CallOptions): Promise<void> {
    assertEnvironmentId(id);
    assertSnapshotName(name);
    await this.call('rollbackSnapshot', id, options, async () => {
      const snap = (await snapshotImages(this.engine, this.config.imageRepository, id, this.config.instance, this.config.owner)).find((s) => s.tagged && s.name === name);
      const current = await this.owned(id);
      if (!snap) throw new SnapshotNotFoundError(this.name, id, name);
      const info = await current.inspect();
      const kept = specOf(info);
      const labels = info.Config.Labels ?? {};
      const spec: EnvironmentSpec = {
        id,
        image: { ref: labels[LABEL_IMAGE_REF] ?? info.Image, ...(labels[LABEL_IMAGE_DIGEST] ? { digest: labels[LABEL_IMAGE_DIGEST] } : {}) },
        limits: await this.limitsOf(id, info),
        volumes: kept.volumes ?? [],
        iface: kept.iface ?? { hostname: info.Config.Hostname },
        labels: kept.labels ?? {},
      };
      const running = info.State.Running;
      const replacementName = `${containerName(id, this.config.instance)}-rollback`;
      await this.engine.getContainer(replacementName).remove({ force: true }).catch(() => undefined);
      let replacement: EnvironmentInfo;
      try {
        // The creation's own undo steps are not run: they would remove the config files and network the current container shares.
        replacement = await this.createContainer(spec, new Revert(), labels[LABEL_OWNED_IMAGE] === 'true' ? { [LABEL_OWNED_IMAGE]: 'true' } : {}, { image: snap.imageId, name: replacementName });
        if (running) await current.stop({ t: 10 }).catch((e: { statusCode?: number }) => { if (e.statusCode !== 304) throw e; });
        await current.remove({ force: true });
      } catch (e) {
        await this.engine.getContainer(replacementName).remove({ force: true }).catch(() => undefined);
        if (running) await current.start().catch(() => undefined);
        throw e;
      }
      const container = this.engine.getContainer(replacement.handle);
      await container.rename({ name: containerName(id, this.config.instance) });
      await restoreVolumeCopies(volumeCopiesDir(this.config.stateDir, id, snap.name, this.config.instance), spec.volumes ?? []);
      if (running) await container.start();
    });
  }

  /** Removes the snapshot image (only untagged while a container still runs from it) and its volume copies; a missing name is not an error. */
  async deleteSnapshot(id: string, name: string, options?: CallOptions): Promise<void> {
    assertEnvironmentId(id);
    assertSnapshotName(name);
    await this.call('deleteSnapshot', id, options, async () => {
      await this.owned(id);
      for (const snap of await snapshotImages(this.engine, this.config.imageRepository, id, this.config.instance, this.config.owner)) {
        if (snap.name !== name || !snap.tagged) continue;
        const { repo, tag } = snapshotTag(this.config.imageRepository, id, name, this.config.instance);
        // Forced: while a container runs from it (after a rollback) the engine only untags it; destroy removes it.
        await this.engine.getImage(`${repo}:${tag}`).remove({ force: true }).catch((e: { statusCode?: number }) => { if (e.statusCode !== 404) throw e; });
      }
      await rm(volumeCopiesDir(this.config.stateDir, id, name, this.config.instance), { recursive: true, force: true });
    });
  }

  /**
   * The environment as snapshot `name` holds it, in the `exportEnvironment` format: the root
   * filesystem from a container made (never started) from the snapshot image and removed once the
   * stream ends, the volumes from the snapshot's copies. That container carries the image's labels
   * (the environment's among them) and `rsp.export-of`, by which `list`, `inspect`, reconciliation
   * and `destroy`'s own search pass it by (destroy removes a leftover one).
   */
  async exportSnapshot(id: string, name: string, options?: CallOptions): Promise<Readable> {
    assertEnvironmentId(id);
    assertSnapshotName(name);
    return this.call('exportSnapshot', id, options, async () => {
      const current = await this.owned(id);
      const snap = (await snapshotImages(this.engine, this.config.imageRepository, id, this.config.instance, this.config.owner)).find((s) => s.tagged && s.name === name);
      if (!snap) throw new SnapshotNotFoundError(this.name, id, name);
      const info = await current.inspect();
      const spec = JSON.parse(info.Config.Labels?.['rsp.spec'] ?? '{}') as Partial<EnvironmentSpec>;
      const exporting = await this.engine.createContainer({
        Image: snap.imageId,
        name: `${containerName(id, this.config.instance)}-export-${randomBytes(4).toString('hex')}`,
        Labels: { [LABEL_EXPORT_OF]: id, ...(this.config.instance ? { [LABEL_INSTANCE]: this.config.instance } : {}), ...(this.config.owner ? { [LABEL_OWNER]: this.config.owner } : {}) },
        NetworkDisabled: true,
      });
      const remove = () => exporting.remove({ force: true }).catch(() => undefined);
      let rootfs: Readable;
      try {
        rootfs = (await exporting.export()) as unknown as Readable;
      } catch (e) {
        await remove();
        throw e;
      }
      const copies = volumeCopiesDir(this.config.stateDir, id, name, this.config.instance);
      const volumes: Array<{ name: string; hostPath: string }> = [];
      for (const v of spec.volumes ?? []) {
        const copy = join(copies, v.name);
        if (await stat(copy).then((s) => s.isDirectory(), () => false)) volumes.push({ name: v.name, hostPath: copy });
      }
      const stream = packEnvironment(manifestOf(id, info, spec, await this.limitsOf(id, info)), rootfs, volumes);
      finished(stream, () => void remove());
      return stream;
    });
  }

  async importImage(source: Readable, spec: ImageImportSpec, options?: CallOptions): Promise<ImportedImage> {
    if (spec.format !== 'rootfs-tar') throw new BadInputError(`image format ${String(spec.format)} is not supported by the Docker driver (rootfs-tar is)`, { format: spec.format });
    return withDeadline(`docker import ${spec.name}`, options, this.config.transferTimeoutMs, async (signal) => {
      try {
        // digest and sizeBytes both describe the imported tarball (not the engine's unpacked size), as on every driver.
        return await importRootfs(this.engine, source, imageTag(this.config.imageRepository, spec), signal);
      } catch (e) {
        throw translateEngineError(e, `import of image ${spec.name}`, this.context());
      }
    });
  }

  async exportImage(image: ImageRef, options?: CallOptions): Promise<Readable> {
    return withDeadline(`docker export of image ${image.ref}`, options, this.config.timeoutMs, async () => {
      try {
        return await exportRootfs(this.engine, image.ref);
      } catch (e) {
        throw translateEngineError(e, `export of image ${image.ref}`, { ...this.context(), creating: true });
      }
    });
  }

  async exportEnvironment(id: string, options?: CallOptions): Promise<Readable> {
    assertEnvironmentId(id);
    return this.call('exportEnvironment', id, options, async () => {
      const container = await this.owned(id);
      const info = await container.inspect();
      const spec = JSON.parse(info.Config.Labels?.['rsp.spec'] ?? '{}') as Partial<EnvironmentSpec>;
      const rootfs = (await container.export()) as unknown as Readable;
      return packEnvironment(manifestOf(id, info, spec, await this.limitsOf(id, info)), rootfs, spec.volumes ?? []);
    });
  }

  async importEnvironment(source: Readable, spec: EnvironmentSpec, options?: CallOptions): Promise<EnvironmentInfo> {
    this.assertSpec({ ...spec, image: spec.image ?? { ref: 'imported' } });
    return withDeadline(`docker importEnvironment ${spec.id}`, options, this.config.transferTimeoutMs, async (signal) => {
      const revert = new Revert();
      try {
        if ((await this.containers(spec.id)).length) throw new EnvironmentExistsError(this.name, spec.id);
        const volumes = new Map((spec.volumes ?? []).map((v) => [v.name, v.hostPath]));
        const { manifest, result: image } = await unpackEnvironment(source, {
          rootfs: async (_manifest, tarStream) => {
            const imported = await importRootfs(this.engine, tarStream, { repo: this.config.imageRepository, tag: `env-${spec.id}` }, signal);
            revert.add(() => this.engine.getImage(imported.ref).remove({ force: true }));
            return imported;
          },
          volumeDir: (name) => volumes.get(name),
        });
        const info = await this.createContainer(
          { ...spec, image: { ref: image.ref, digest: image.digest }, command: spec.command ?? [...(manifest.entrypoint ?? []), ...(manifest.command ?? [])] },
          revert,
          { [LABEL_OWNED_IMAGE]: 'true' },
        );
        revert.success();
        return info;
      } catch (e) {
        throw translateEngineError(e, `import of environment ${spec.id}`, { ...this.context(spec.id), creating: true });
      } finally {
        await revert.run();
      }
    });
  }

  /** Removes every container RSP owns whose environment id is not in `keep`; returns the ids removed. Unlabelled containers are never touched. */
  async reconcile(keep: Iterable<string>, options?: CallOptions): Promise<string[]> {
    if (this.local) await this.caps.follow();
    const known = new Set(keep);
    const dangling = (await this.list(options)).map((e) => e.id).filter((id) => !known.has(id));
    for (const id of dangling) await this.destroy(id, options);
    return dangling;
  }

  // --- internals ------------------------------------------------------------------------------

  private assertSpec(spec: EnvironmentSpec): void {
    assertEnvironmentId(spec.id);
    assertLimitsSupported(this, spec.limits);
    if (!spec.image?.ref) throw new BadInputError('the spec names no image', { id: spec.id });
    if (!spec.iface) throw new BadInputError('the spec has no interface (iface)', { id: spec.id });
    assertFeaturesSupported(this, spec.iface);
    assertInterface(spec.iface, spec.volumes);
    managedNetworkOf(spec.iface.network);
    const unshapeable = spec.limits?.networkBitsPerSecond ? unshapeableReason(networkModeOf(spec.iface)) : undefined;
    if (unshapeable) throw new UnsupportedOperationError('limit networkBitsPerSecond', `driver ${this.name}`, unshapeable);
  }

  /** The limits in force on a container: those in its HostConfig and its bandwidth cap. */
  private async limitsOf(id: string, info: ContainerInspectInfo): Promise<ResourceLimits> {
    const cap = await this.shaping.capOf(id, specOf(info).limits?.networkBitsPerSecond);
    return { ...limitsFromHostConfig(info.HostConfig), ...(cap ? { networkBitsPerSecond: cap } : {}) };
  }

  /** The contract's view of one inspected container, its bandwidth cap included. */
  private async infoOf(info: ContainerInspectInfo): Promise<EnvironmentInfo> {
    const result = toInfo(info);
    return { ...result, limits: await this.limitsOf(result.id, info) };
  }

  /**
   * Writes the config files and creates the container, registering each undo on `revert`; `engine`
   * gives another image to run than the spec's (a snapshot's) and another container name.
   */
  private async createContainer(spec: EnvironmentSpec, revert: Revert, extraLabels: Record<string, string>, engine: { image?: string; name?: string } = {}): Promise<EnvironmentInfo> {
    const configDir = await writeConfigFiles(this.config.stateDir, spec.id, spec.iface);
    revert.add(() => removeConfigFiles(this.config.stateDir, spec.id));
    const network = managedNetworkOf(spec.iface.network);
    if (network) {
      await this.networks.ensure(network);
      revert.add(() => this.networks.release(network.name));
    }
    const iface = interfaceToCreateOptions(spec.iface, spec.volumes ?? [], configDir);
    const labels: Record<string, string> = {
      ...(spec.labels ?? {}),
      ...extraLabels,
      [LABEL_ENVIRONMENT]: spec.id,
      ...(this.config.instance ? { [LABEL_INSTANCE]: this.config.instance } : {}),
      [LABEL_IMAGE_REF]: spec.image.ref,
      ...(spec.image.digest ? { [LABEL_IMAGE_DIGEST]: spec.image.digest } : {}),
      'rsp.spec': JSON.stringify({ iface: spec.iface, labels: spec.labels ?? {}, volumes: spec.volumes ?? [], ...(spec.limits?.networkBitsPerSecond ? { limits: { networkBitsPerSecond: spec.limits.networkBitsPerSecond } } : {}) }),
    };
    if (spec.labels?.[LABEL_GROUP]) labels[LABEL_GROUP] = spec.labels[LABEL_GROUP];
    if (!this.config.instance) delete labels[LABEL_INSTANCE];
    if (this.config.owner) labels[LABEL_OWNER] = this.config.owner;
    else delete labels[LABEL_OWNER];
    const create: ContainerCreateOptions = {
      ...iface,
      name: engine.name ?? containerName(spec.id, this.config.instance),
      Image: engine.image ?? spec.image.ref,
      Labels: labels,
      ...(await this.commandFor(spec, engine.image)),
      // The main process's standard input stays open (no TTY: the log keeps stdout and stderr
      // apart, as they are): the console (`console`) types into it, and a detach leaves it open.
      OpenStdin: true,
      StdinOnce: false,
      HostConfig: { ...iface.HostConfig, ...limitsToHostConfig(spec.limits), Init: true },
    };
    if (spec.limits?.memoryBytes !== undefined) create.HostConfig!.MemorySwap = spec.limits.memoryBytes;
    const container = await this.engine.createContainer(create);
    revert.add(() => container.remove({ force: true }));
    return this.infoOf(await container.inspect());
  }

  /**
   * The command of a new container: the spec's; else the image's own; else — an image with neither
   * CMD nor ENTRYPOINT, as every rootfs-tar import is — RSP's default init (idle until stopped), the
   * one the LXC and vserver drivers run too. Docker refuses a container with no command at all.
   */
  private async commandFor(spec: EnvironmentSpec, image = spec.image.ref): Promise<{ Cmd?: string[] }> {
    if (spec.command?.length) return { Cmd: spec.command };
    const config = (await this.engine.getImage(image).inspect()).Config as { Cmd?: string[] | null; Entrypoint?: string[] | string | null } | undefined;
    if (config?.Cmd?.length || config?.Entrypoint?.length) return {};
    return { Cmd: ['/bin/sh', '-c', RSP_INIT_SCRIPT] };
  }

  /** This instance's containers (of environment `id`, when given), found by their labels. */
  private async containers(id?: string): Promise<Docker.ContainerInfo[]> {
    const found = await this.engine.listContainers({ all: true, filters: ownedFilter(id, this.config.instance) });
    return found.filter((c) => isOurs(c.Labels, this.config) && !c.Labels?.[LABEL_EXPORT_OF]);
  }

  /** The containers `exportSnapshot` made from `id`'s snapshots and has not removed yet (of this instance). */
  private async exportContainers(id: string): Promise<Docker.ContainerInfo[]> {
    const found = await this.engine.listContainers({ all: true, filters: { label: [`${LABEL_EXPORT_OF}=${id}`] } });
    return found.filter((c) => isOurs(c.Labels, this.config));
  }

  /** The container of environment `id`, found by its label (never by name alone). NOT_FOUND otherwise. */
  private async owned(id: string): Promise<Docker.Container> {
    const found = await this.containers(id);
    if (!found.length) throw Object.assign(new Error(`no container labelled ${LABEL_ENVIRONMENT}=${id}`), { statusCode: 404 });
    return this.engine.getContainer(found[0]!.Id);
  }

  private context(id?: string) {
    return { driver: this.name, endpoint: this.config.endpoint, ...(id ? { id } : {}) };
  }

  /** Runs one engine call under the default deadline, translating engine errors (`creating`: 404 means the image). */
  private call<T>(what: string, id: string | undefined, options: CallOptions | undefined, work: () => Promise<T>, creating?: { image: string }): Promise<T> {
    return withDeadline(`docker ${what}${id ? ` ${id}` : ''}`, options, this.config.timeoutMs, async () => {
      try {
        return await work();
      } catch (e) {
        throw translateEngineError(e, `${what}${id ? ` ${id}` : ''}`, { ...this.context(id), ...(creating ? { creating: true, image: creating.image } : {}) });
      }
    });
  }
}

/** A Docker driver for `options` (socket path, `DOCKER_HOST`, state directory, deadlines). */
export function createDockerDriver(options: DockerDriverOptions = {}): DockerDriver {
  return new DockerDriver(options);
}

const STATES: Record<string, EnvironmentState> = { created: 'created', running: 'running', restarting: 'running', paused: 'paused', exited: 'stopped', dead: 'stopped' };

/** The export manifest of environment `id` from its container's inspection, the spec in its labels and its limits. */
function manifestOf(id: string, info: ContainerInspectInfo, spec: Partial<EnvironmentSpec>, limits: ResourceLimits): EnvironmentManifest {
  return {
    format: EXPORT_FORMAT,
    technology: 'docker',
    id,
    exportedAt: new Date().toISOString(),
    ...(info.Config.Cmd ? { command: info.Config.Cmd } : {}),
    ...(info.Config.Entrypoint ? { entrypoint: info.Config.Entrypoint as string[] } : {}),
    ...(info.Config.WorkingDir ? { workingDir: info.Config.WorkingDir } : {}),
    limits,
    iface: spec.iface ?? { hostname: info.Config.Hostname },
    labels: spec.labels ?? {},
    volumes: (spec.volumes ?? []).map(({ name, kind, mountPath, readOnly }) => ({ name, kind, mountPath, ...(readOnly ? { readOnly } : {}) })),
  };
}

/** The contract's view of one inspected container. */
export function toInfo(info: ContainerInspectInfo): EnvironmentInfo {
  const labels = { ...(info.Config.Labels ?? {}) };
  delete labels['rsp.spec'];
  for (const inherited of SNAPSHOT_LABELS) delete labels[inherited];
  const addresses = Object.values(info.NetworkSettings?.Networks ?? {})
    .flatMap((n) => [n.IPAddress, n.GlobalIPv6Address])
    .filter((a): a is string => !!a);
  const started = info.State.StartedAt ? new Date(info.State.StartedAt) : undefined;
  const result: EnvironmentInfo = {
    id: labels[LABEL_ENVIRONMENT] ?? info.Name.replace(/^\/rsp-/, ''),
    handle: info.Id,
    state: STATES[info.State.Status] ?? 'unknown',
    image: { ref: labels[LABEL_IMAGE_REF] ?? info.Image, ...(labels[LABEL_IMAGE_DIGEST] ? { digest: labels[LABEL_IMAGE_DIGEST] } : {}) },
    addresses,
    hostname: info.Config.Hostname,
    limits: limitsFromHostConfig(info.HostConfig),
    labels,
  };
  if (started && started.getTime() > 0) result.startedAt = started;
  return result;
}

/** The spec the driver kept on a container (its `rsp.spec` label). */
function specOf(info: ContainerInspectInfo): Partial<EnvironmentSpec> {
  return JSON.parse(info.Config.Labels?.['rsp.spec'] ?? '{}') as Partial<EnvironmentSpec>;
}

/** Docker's multiplexed log frames (8-byte header + payload) → text; plain text passes through. */
function demuxBuffer(raw: Buffer | string): string {
  if (typeof raw === 'string') return raw;
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= raw.length && raw[offset]! <= 2 && raw[offset + 1] === 0) {
    const size = raw.readUInt32BE(offset + 4);
    parts.push(raw.subarray(offset + 8, offset + 8 + size));
    offset += 8 + size;
  }
  return offset === 0 ? raw.toString('utf8') : Buffer.concat(parts).toString('utf8');
}
