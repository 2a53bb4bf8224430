import { lstatSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { DEFAULT_IMAGE_FORMATS, type CallOptions, type EnvironmentSpec, type ImageFormat, type InteractiveProcess, type ImageRef, type LogRead, type ResourceLimits, type VolumeSpec } from '../../drivers/contract';
import { requireCapability, UnsupportedOperationError } from '../../drivers/errors';
import type { DriverProbeReport, DriverRegistry } from '../../drivers/registry';
import { ArtifactStore } from '../artifacts/artifact-store';
import { copyArtifact } from '../artifacts/chunk-copy';
import type { ChunkTransport } from '../artifacts/chunk-transport';
import type { ArtifactManifest } from '../artifacts/manifest';
import type { ScrubPace } from '../artifacts/read-pacer';
import { StoreChunkTransport } from '../artifacts/store-chunk-transport';
import { BadInputError, IntegrityError, isCategory, RspError, TimeoutError, UnavailableError } from '../errors';
import type { Logger } from '../logging/logger';
import { HostCollector } from '../metrics/host-collector';
import { HOST_ROOTS, ProcReader, type ProcRoots } from '../metrics/proc-readers';
import { RSP_VERSION } from '../version';
import { directoryBytes } from './directory-size';
import { collectHostFacts } from './host-facts';
import type { EnvironmentTarget, HostAgent } from './host-agent';
import { LABEL_AGENT } from './environment-request';
import { infoData, snapshotData, statsData } from './plain-data';
import { AGENT_PROTOCOL_VERSION } from './protocol';
import type { ArtifactRef, CallContext, ChunkData, EnvironmentRequest, ImageArtifact, VolumeRequest } from './protocol';

/** How long a cancelled operation id is remembered, so a call of it that arrives late fails at once. */
const CANCELLED_MEMORY_MS = 10 * 60_000;

/**
 * Why a driver that does not advertise `console` refuses one (vserver: util-vserver gives a guest no
 * terminal; libvirt's domains other than QEMU's and KVM's; a plugin's driver without one), and the way round
 * it where the driver runs commands.
 */
function noConsole(operations: readonly string[]): string {
  return `its environments have no console RSP can attach to${operations.includes('exec') || operations.includes('interactiveExec') ? ' (run commands with rsp env exec instead)' : ''}`;
}

/** Options of an `InProcessAgent`. */
export interface InProcessAgentOptions {
  /** Where its machine's kernel files are (`/proc`, `/sys` unless given): its facts and samples are read there. */
  roots?: ProcRoots;
}

/**
 * A host agent running inside the gateway process (embedded mode): it holds its driver registry
 * (its own driver instances), the environments' volume directories, the record of imported
 * images, its image cache (chunks fetched from its upstream chunk source) and its artifact store
 * (`<data dir>/artifacts` unless given), all under its own data directory. Each call's context
 * becomes an AbortSignal here: aborted at the deadline (TIMEOUT) or by `cancel` of its operation.
 */
export class InProcessAgent implements HostAgent {
  private reports: DriverProbeReport[] | undefined;
  private images: Record<string, ImageRef> | undefined;
  private readonly imagesFile: string;
  private store: ArtifactStore | undefined;
  private storeTransport: StoreChunkTransport | undefined;
  private cacheTransport: StoreChunkTransport | undefined;
  /** Calls running, by operation id. */
  private readonly running = new Map<string, Set<AbortController>>();
  /** Operation ids cancelled lately, with when they are forgotten. */
  private readonly cancelled = new Map<string, number>();
  private readonly roots: ProcRoots;
  private readonly collector: HostCollector;

  constructor(
    private readonly registry: DriverRegistry,
    private readonly dataDir: string,
    private readonly logger: Logger,
    /** `local` for the gateway's own agent; extra agents (`RSP_AGENTS`) have their own ids. */
    readonly id: string = 'local',
    /** The directory of the agent's artifact store. */
    private readonly artifactDir: string = join(dataDir, 'artifacts'),
    /** Where images' chunks come from (the gateway's image store); without it, creating an environment is UNAVAILABLE. */
    private readonly upstream?: ChunkTransport,
    options: InProcessAgentOptions = {},
  ) {
    this.imagesFile = join(dataDir, 'agent', 'images.json');
    this.roots = options.roots ?? HOST_ROOTS;
    this.collector = new HostCollector(new ProcReader(this.roots));
  }

  /** Probes every driver (again) and keeps the result; a driver is logged when its probe found something new. */
  async probe(): Promise<DriverProbeReport[]> {
    const before = new Map((this.reports ?? []).map((r) => [r.name, `${r.available}|${r.version}|${r.reason}`]));
    this.reports = await this.registry.probeAll();
    for (const r of this.reports) {
      if (before.get(r.name) === `${r.available}|${r.version}|${r.reason}`) continue;
      this.logger.info({ driver: r.name, available: r.available, version: r.version, reason: r.reason }, 'driver probed');
    }
    return this.reports;
  }

  async hello() {
    return { agentId: this.id, protocol: AGENT_PROTOCOL_VERSION, software: RSP_VERSION };
  }

  async cancel({ operationId }: { operationId: string }) {
    const now = Date.now();
    for (const [id, until] of this.cancelled) if (until <= now) this.cancelled.delete(id);
    this.cancelled.set(operationId, now + CANCELLED_MEMORY_MS);
    const calls = this.running.get(operationId) ?? new Set();
    for (const controller of calls) controller.abort(cancelledError(operationId));
    return { cancelled: calls.size };
  }

  async drivers(): Promise<DriverProbeReport[]> {
    return this.reports ?? this.probe();
  }

  async hostFacts() {
    await mkdir(this.dataDir, { recursive: true });
    return collectHostFacts({ dataDir: this.dataDir, drivers: await this.drivers(), roots: this.roots });
  }

  async hostSample(_params?: Record<string, never>, context?: CallContext) {
    return this.run('sampling the host', context, () => this.collector.sample());
  }

  async createEnvironment({ driver, image, environment, replace }: { driver: string; image: ImageArtifact; environment: EnvironmentRequest; replace?: boolean }, context?: CallContext) {
    return this.run(`creating environment ${environment.id}`, context, async (options) => {
      const engine = await this.driver(driver);
      let imageRef = await this.ensureImage(driver, image, options);
      if (replace) await engine.destroy(environment.id, options);
      const volumes = await this.prepareVolumes(environment.id, environment.volumes);
      const info = await engine.create(specOf(environment, imageRef, volumes, this.id), options).catch(async (e: unknown) => {
        // The engine lost the image the record names (pruned, or an engine that keeps nothing
        // across restarts): import it again, once.
        if (!isCategory(e, 'NOT_FOUND') || e.details.kind !== 'Image') throw e;
        this.logger.warn({ driver, image: imageRef.ref, digest: image.digest }, 'the engine no longer has an image this agent imported: importing it again');
        await this.forgetImage(driver, image);
        imageRef = await this.ensureImage(driver, image, options);
        return engine.create(specOf(environment, imageRef, volumes, this.id), options);
      });
      return { environment: infoData(info), image: imageRef };
    });
  }

  async startEnvironment({ driver, environmentId }: EnvironmentTarget, context?: CallContext) {
    return this.run(`starting environment ${environmentId}`, context, async (options) => (await this.driver(driver)).start(environmentId, options));
  }

  async stopEnvironment({ driver, environmentId, graceSeconds }: EnvironmentTarget & { graceSeconds?: number }, context?: CallContext) {
    return this.run(`stopping environment ${environmentId}`, context, async (options) => (await this.driver(driver)).stop(environmentId, { ...options, graceSeconds }));
  }

  async destroyEnvironment({ driver, environmentId, removeVolumes }: EnvironmentTarget & { removeVolumes?: boolean }, context?: CallContext) {
    return this.run(`destroying environment ${environmentId}`, context, async (options) => {
      await (await this.driver(driver)).destroy(environmentId, options);
      if (removeVolumes) await this.removeVolumes({ environmentId });
    });
  }

  async resizeEnvironment({ driver, environmentId, limits }: EnvironmentTarget & { limits: ResourceLimits }, context?: CallContext) {
    if (!limits || typeof limits !== 'object' || Array.isArray(limits)) throw new BadInputError('resizeEnvironment needs limits, an object of limit → value', { environmentId });
    return this.run(`resizing environment ${environmentId}`, context, async (options) => requireCapability(await this.driver(driver), 'resize')(environmentId, limits, options));
  }

  async snapshotEnvironment({ driver, environmentId, name }: EnvironmentTarget & { name: string }, context?: CallContext) {
    return this.run(`snapshot ${name} of environment ${environmentId}`, context, async (options) => snapshotData(await requireCapability(await this.driver(driver), 'snapshot')(environmentId, name, options)));
  }

  async environmentSnapshots({ driver, environmentId }: EnvironmentTarget, context?: CallContext) {
    return this.run(`listing the snapshots of environment ${environmentId}`, context, async (options) => (await requireCapability(await this.driver(driver), 'listSnapshots')(environmentId, options)).map(snapshotData));
  }

  async rollbackSnapshot({ driver, environmentId, name }: EnvironmentTarget & { name: string }, context?: CallContext) {
    return this.run(`rollback of environment ${environmentId} to snapshot ${name}`, context, async (options) => requireCapability(await this.driver(driver), 'rollbackSnapshot')(environmentId, name, options));
  }

  async deleteSnapshot({ driver, environmentId, name }: EnvironmentTarget & { name: string }, context?: CallContext) {
    return this.run(`deletion of snapshot ${name} of environment ${environmentId}`, context, async (options) => requireCapability(await this.driver(driver), 'deleteSnapshot')(environmentId, name, options));
  }

  async inspectEnvironment({ driver, environmentId }: EnvironmentTarget, context?: CallContext) {
    return this.run(`inspecting environment ${environmentId}`, context, async (options) => infoData(await (await this.driver(driver)).inspect(environmentId, options)));
  }

  async listEnvironments({ driver }: { driver: string }, context?: CallContext) {
    return this.run(`listing the environments of driver ${driver}`, context, async (options) => (await (await this.driver(driver)).list(options)).map(infoData));
  }

  async environmentStats({ driver, environmentId }: EnvironmentTarget, context?: CallContext) {
    return this.run(`stats of environment ${environmentId}`, context, async (options) => statsData(await (await this.driver(driver)).stats(environmentId, options)));
  }

  async exec({ driver, environmentId, command, stdin, stdinArtifact }: EnvironmentTarget & { command: string[]; stdin?: string; stdinArtifact?: ArtifactRef }, context?: CallContext) {
    return this.run(`running a command in environment ${environmentId}`, context, async (options) => {
      const run = requireCapability(await this.driver(driver), 'exec');
      const input = stdinArtifact ? await this.readArtifact(stdinArtifact) : stdin;
      return run(environmentId, command, { ...options, ...(input !== undefined ? { stdin: input } : {}) });
    });
  }

  /**
   * Starts an interactive process through the driver's `interactiveExec`; a driver with a console
   * but no way to start a process (libvirt's VMs: no guest agent) says so and names the console.
   */
  async interactiveExec({ driver, environmentId, command, tty, columns, rows }: EnvironmentTarget & { command: string[]; tty?: boolean; columns?: number; rows?: number }): Promise<InteractiveProcess> {
    const d = await this.driver(driver);
    const { operations } = d.capabilities();
    if (!operations.includes('interactiveExec') && operations.includes('console')) {
      throw new UnsupportedOperationError('interactive exec', `driver ${d.name}`, 'a VM has no channel RSP can start a process through (no guest agent); attach to its serial console instead (rsp env console)');
    }
    return requireCapability(d, 'interactiveExec')(environmentId, command, { tty, columns, rows });
  }

  /** Attaches to the environment's console through the driver's `console`; a driver without one says so, and how to run commands instead where it can. */
  async console({ driver, environmentId }: EnvironmentTarget): Promise<InteractiveProcess> {
    const d = await this.driver(driver);
    const { operations } = d.capabilities();
    if (!operations.includes('console')) throw new UnsupportedOperationError('console', `driver ${d.name}`, noConsole(operations));
    return requireCapability(d, 'console')(environmentId);
  }

  async environmentLog({ driver, environmentId, tail, since, cursor }: EnvironmentTarget & { tail?: number; since?: string; cursor?: string }, context?: CallContext): Promise<LogRead> {
    if (tail !== undefined && typeof tail !== 'number') throw new BadInputError('environmentLog: tail must be a number of lines', { environmentId });
    if (cursor !== undefined && typeof cursor !== 'string') throw new BadInputError('environmentLog: cursor must be a string', { environmentId });
    const from = since === undefined ? undefined : new Date(since);
    if (from && (typeof since !== 'string' || Number.isNaN(from.getTime()))) throw new BadInputError('environmentLog: since must be an ISO 8601 time', { environmentId, since });
    return this.run(`reading the log of environment ${environmentId}`, context, async (options) => {
      const read = await requireCapability(await this.driver(driver), 'readLog')(environmentId, { ...options, tail, since: from, cursor });
      return { text: read.text, cursor: read.cursor };
    });
  }

  async volumesBytes({ environmentIds }: { environmentIds: string[] }): Promise<Record<string, number>> {
    if (!Array.isArray(environmentIds) || !environmentIds.every((id) => typeof id === 'string')) throw new BadInputError('volumesBytes needs environmentIds, a list of environment ids');
    const out: Record<string, number> = {};
    for (const id of environmentIds) out[id] = await directoryBytes(this.volumeRoot(id));
    return out;
  }

  async removeVolumes({ environmentId }: { environmentId: string }): Promise<void> {
    const root = this.volumeRoot(environmentId);
    // Most environments have no volumes: a look costs less than the failing removal's error.
    if (lstatSync(root, { throwIfNoEntry: false })) await rm(root, { recursive: true, force: true });
  }

  async exportEnvironment({ driver, environmentId, commandOutput, snapshot, key, labels }: EnvironmentTarget & { commandOutput?: string[]; snapshot?: string; key?: string; labels: Record<string, string> }, context?: CallContext) {
    return this.run(`exporting environment ${environmentId}`, context, async (options) => {
      const engine = await this.driver(driver);
      let source: Readable;
      if (commandOutput) {
        const result = await requireCapability(engine, 'exec')(environmentId, commandOutput, options);
        if (result.exitCode !== 0) throw new RspError('CONFLICT', `The backup command ${JSON.stringify(commandOutput)} exited with ${result.exitCode}: ${result.stderr.trim().slice(0, 500)}`, { exitCode: result.exitCode });
        source = Readable.from([Buffer.from(result.stdout, 'utf8')]);
      } else if (snapshot !== undefined) {
        source = await requireCapability(engine, 'exportSnapshot')(environmentId, snapshot, options);
      } else {
        source = await requireCapability(engine, 'exportEnvironment')(environmentId, options);
      }
      try {
        const { manifest, stats } = await this.artifacts().put(source, { key: keyOf(key), labels, signal: options.signal });
        return { manifestId: manifest.id, ...stats };
      } catch (e) {
        source.destroy();
        throw e;
      }
    });
  }

  async importEnvironment({ driver, artifact, environment, image }: { driver: string; artifact: ArtifactRef; environment: EnvironmentRequest; image: ImageRef }, context?: CallContext) {
    return this.run(`importing environment ${environment.id}`, context, async (options) => {
      const importer = requireCapability(await this.driver(driver), 'importEnvironment');
      const source = await this.artifacts().open(artifact.manifestId, { key: keyOf(artifact.key) });
      const volumes = await this.prepareVolumes(environment.id, environment.volumes);
      try {
        return infoData(await importer(source, specOf(environment, image, volumes, this.id), options));
      } finally {
        source.destroy();
      }
    });
  }

  async hasArtifact({ manifestId }: { manifestId: string }) {
    return this.artifacts().has(manifestId);
  }

  async deleteArtifact({ manifestId }: { manifestId: string }) {
    await this.transport().deleteManifest(manifestId);
  }

  async collectArtifacts() {
    return this.artifacts().gc();
  }

  async verifyArtifact({ manifestId, key }: ArtifactRef) {
    return this.artifacts().verify(manifestId, { key: keyOf(key) });
  }

  async scrubArtifact({ manifestId, key, bytesPerSecond, floorBytesPerSecond }: ArtifactRef & ScrubPace) {
    return this.artifacts().scrub(manifestId, { key: keyOf(key), pace: { bytesPerSecond, floorBytesPerSecond } });
  }

  async checkChunks({ ids }: { ids: string[] }) {
    return this.transport().checkChunks(ids);
  }

  async getManifest({ manifestId }: { manifestId: string }) {
    return this.transport().getManifest(manifestId);
  }

  async putManifest({ manifest }: { manifest: ArtifactManifest }) {
    return this.transport().putManifest(manifest);
  }

  async missingChunks({ ids }: { ids: string[] }) {
    return this.transport().missingChunks(ids);
  }

  async getChunks({ ids }: { ids: string[] }) {
    return this.transport().getChunks(ids);
  }

  async putChunks({ chunks }: { chunks: ChunkData[] }) {
    return this.transport().putChunks(chunks);
  }

  /** The agent's own artifact store (replicas made on it and replicas other hosts keep there). */
  artifacts(): ArtifactStore {
    this.store ??= ArtifactStore.inDirectory(this.artifactDir, { logger: this.logger });
    return this.store;
  }

  /** Creates the host directories of an environment's volumes (kept if they exist); returns the driver's volume specs. */
  async prepareVolumes(environmentId: string, volumes: VolumeRequest[]): Promise<VolumeSpec[]> {
    const out: VolumeSpec[] = [];
    for (const v of volumes) {
      const hostPath = join(this.volumeRoot(environmentId), v.name);
      await mkdir(hostPath, { recursive: true });
      out.push({ name: v.name, kind: v.kind, hostPath, mountPath: v.mountPath, readOnly: v.readOnly });
    }
    return out;
  }

  /**
   * Imports the image into the driver unless the record says it is there: its chunks this agent's
   * image cache lacks come from the upstream source, the whole is checked against the digest.
   */
  private async ensureImage(driverName: string, image: ImageArtifact, options: CallOptions): Promise<ImageRef> {
    const key = `${driverName}:${image.digest}`;
    const known = (await this.imageRecord())[key];
    if (known) return known;
    const driver = this.usable(driverName, await this.drivers());
    const importImage = requireCapability(driver, 'importImage');
    if (!this.upstream) throw new UnavailableError(`Host agent ${this.id} has no upstream chunk source to fetch image ${image.name}:${image.version} from`, { agent: this.id, digest: image.digest });
    this.cacheTransport ??= new StoreChunkTransport(ArtifactStore.inDirectory(join(this.dataDir, 'agent', 'image-chunks'), { logger: this.logger }));
    const { manifest } = await copyArtifact(this.upstream, this.cacheTransport, image.manifestId, { signal: options.signal });
    if (`sha256:${manifest.sha256}` !== image.digest) throw new IntegrityError(manifest.id, undefined, `it holds bits of sha256 ${manifest.sha256}, not image ${image.digest}`);
    const source = await this.cacheTransport.store.open(manifest.id);
    const imported = await importImage(source, { name: image.name, version: image.version, format: importFormat(driver.capabilities().imageFormats) }, options);
    const ref = { ref: imported.ref, digest: imported.digest };
    (await this.imageRecord())[key] = ref;
    await this.saveImageRecord();
    return ref;
  }

  /** Drops the record of an image imported into a driver (the driver no longer has it). */
  private async forgetImage(driverName: string, image: ImageArtifact): Promise<void> {
    delete (await this.imageRecord())[`${driverName}:${image.digest}`];
    await this.saveImageRecord();
  }

  /** Writes the record of the images imported into the drivers (driver:digest → the driver's ref). */
  private async saveImageRecord(): Promise<void> {
    await mkdir(join(this.dataDir, 'agent'), { recursive: true });
    await writeFile(this.imagesFile, JSON.stringify(await this.imageRecord(), null, 2));
  }

  /**
   * Runs one call under its context: a signal aborted at the deadline (TIMEOUT) or by `cancel` of
   * its operation; the call fails at once when either happens, whatever the work does.
   */
  private async run<T>(what: string, context: CallContext | undefined, work: (options: CallOptions) => Promise<T>): Promise<T> {
    const operationId = context?.operationId;
    if (operationId && this.cancelled.has(operationId)) throw cancelledError(operationId);
    let timeoutMs: number | undefined;
    if (context?.deadline !== undefined) {
      const deadline = Date.parse(context.deadline);
      if (Number.isNaN(deadline)) throw new BadInputError(`The call's deadline "${context.deadline}" is not an ISO 8601 time`, { deadline: context.deadline });
      timeoutMs = Math.max(0, deadline - Date.now());
      if (timeoutMs === 0) throw new TimeoutError(what, 0, { operationId, deadline: context.deadline });
    }
    const controller = new AbortController();
    const calls = operationId ? (this.running.get(operationId) ?? new Set<AbortController>()) : undefined;
    if (operationId && calls) {
      calls.add(controller);
      this.running.set(operationId, calls);
    }
    const timer = timeoutMs !== undefined ? setTimeout(() => controller.abort(new TimeoutError(what, timeoutMs!, { operationId, deadline: context?.deadline })), timeoutMs) : undefined;
    const aborted = new Promise<never>((_, reject) => controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true }));
    aborted.catch(() => undefined);
    try {
      return await Promise.race([work({ signal: controller.signal, ...(timeoutMs !== undefined ? { timeoutMs } : {}) }), aborted]);
    } finally {
      clearTimeout(timer);
      if (operationId && calls) {
        calls.delete(controller);
        if (!calls.size) this.running.delete(operationId);
      }
    }
  }

  /** The plaintext of an artifact of the agent's store, as text (a command's standard input). */
  private async readArtifact(ref: ArtifactRef): Promise<string> {
    const parts: Buffer[] = [];
    for await (const chunk of await this.artifacts().open(ref.manifestId, { key: keyOf(ref.key) })) parts.push(chunk as Buffer);
    return Buffer.concat(parts).toString('utf8');
  }

  private transport(): StoreChunkTransport {
    this.storeTransport ??= new StoreChunkTransport(this.artifacts());
    return this.storeTransport;
  }

  private async driver(name: string) {
    return this.usable(name, await this.drivers());
  }

  /** The registered driver, or UNAVAILABLE when its engine is not usable here. */
  private usable(name: string, reports: DriverProbeReport[]) {
    const driver = this.registry.get(name);
    const report = reports.find((r) => r.name === name);
    if (report && !report.available) throw new UnavailableError(`Driver ${name} is not usable on this host: ${report.reason ?? 'unknown reason'}`, { driver: name });
    return driver;
  }

  /** The directory of an environment's volumes; BAD_USER_INPUT for an id that is not a plain name (it would leave the volumes directory). */
  private volumeRoot(environmentId: string): string {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(environmentId)) throw new BadInputError(`"${environmentId}" is not an environment id`, { environmentId });
    return join(this.dataDir, 'volumes', environmentId);
  }

  private async imageRecord(): Promise<Record<string, ImageRef>> {
    if (!this.images) {
      try {
        this.images = JSON.parse(await readFile(this.imagesFile, 'utf8')) as Record<string, ImageRef>;
      } catch {
        this.images = {};
      }
    }
    return this.images;
  }
}

/**
 * The driver's spec of an environment the gateway asked for, with the image and the volume
 * directories made here, labelled with the agent that makes it (`LABEL_AGENT`).
 */
function specOf(request: EnvironmentRequest, image: ImageRef, volumes: VolumeSpec[], agentId: string): EnvironmentSpec {
  return {
    id: request.id,
    image,
    limits: request.limits,
    volumes,
    iface: request.iface,
    ...(request.command ? { command: request.command } : {}),
    labels: { ...(request.labels ?? {}), [LABEL_AGENT]: agentId },
  };
}

/** A group key sent as base64. */
function keyOf(key: string | undefined): Buffer | undefined {
  return key === undefined ? undefined : Buffer.from(key, 'base64');
}

function cancelledError(operationId: string): RspError {
  return new RspError('CONFLICT', `Operation ${operationId} was cancelled`, { operationId });
}

/** The format an image is imported in: `rootfs-tar` when the driver takes it, else the first format it declares. */
function importFormat(declared: readonly ImageFormat[] | undefined): ImageFormat {
  const formats = declared?.length ? declared : DEFAULT_IMAGE_FORMATS;
  return formats.includes('rootfs-tar') ? 'rootfs-tar' : formats[0]!;
}
