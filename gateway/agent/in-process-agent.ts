import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { CallOptions, EnvironmentSpec, ImageRef, StopOptions, VolumeSpec } from '../../drivers/contract';
import { requireCapability } from '../../drivers/errors';
import type { DriverProbeReport, DriverRegistry } from '../../drivers/registry';
import { ArtifactStore } from '../artifacts/artifact-store';
import { UnavailableError } from '../errors';
import type { Logger } from '../logging/logger';
import type { EnvironmentVolume } from '../persistence/entities';
import { directoryBytes } from './directory-size';
import type { HostAgent, ImageSource } from './host-agent';

/**
 * A host agent running inside the gateway process (embedded mode): it holds its driver registry
 * (its own driver instances), the environments' volume directories and the record of imported
 * images and its artifact store (`<data dir>/artifacts` unless given), all under its own data directory.
 */
export class InProcessAgent implements HostAgent {
  private reports: DriverProbeReport[] | undefined;
  private images: Record<string, ImageRef> | undefined;
  private readonly imagesFile: string;
  private store: ArtifactStore | undefined;

  constructor(
    private readonly registry: DriverRegistry,
    private readonly dataDir: string,
    private readonly logger: Logger,
    /** `local` for the gateway's own agent; extra agents (`RSP_AGENTS`) have their own ids. */
    readonly id: string = 'local',
    /** The directory of the agent's artifact store. */
    private readonly artifactDir: string = join(dataDir, 'artifacts'),
  ) {
    this.imagesFile = join(dataDir, 'agent', 'images.json');
  }

  /** Probes every driver (again) and keeps the result. */
  async probe(): Promise<DriverProbeReport[]> {
    this.reports = await this.registry.probeAll();
    for (const r of this.reports) this.logger.info({ agent: this.id, driver: r.name, available: r.available, version: r.version, reason: r.reason }, 'driver probed');
    return this.reports;
  }

  async drivers(): Promise<DriverProbeReport[]> {
    return this.reports ?? this.probe();
  }

  async ensureImage(driverName: string, image: ImageSource, options?: CallOptions): Promise<ImageRef> {
    const key = `${driverName}:${image.digest}`;
    const known = (await this.imageRecord())[key];
    if (known) return known;
    const importImage = requireCapability(this.usable(driverName, await this.drivers()), 'importImage');
    const imported = await importImage(await image.open(), { name: image.name, version: image.version, format: 'rootfs-tar' }, options);
    const ref = { ref: imported.ref, digest: imported.digest };
    const record = await this.imageRecord();
    record[key] = ref;
    await mkdir(join(this.dataDir, 'agent'), { recursive: true });
    await writeFile(this.imagesFile, JSON.stringify(record, null, 2));
    return ref;
  }

  async prepareVolumes(environmentId: string, volumes: EnvironmentVolume[]): Promise<VolumeSpec[]> {
    const out: VolumeSpec[] = [];
    for (const v of volumes) {
      const hostPath = join(this.volumeRoot(environmentId), v.name);
      await mkdir(hostPath, { recursive: true });
      out.push({ name: v.name, kind: v.kind, hostPath, mountPath: v.mountPath, readOnly: v.readOnly });
    }
    return out;
  }

  async volumeBytes(environmentId: string): Promise<number> {
    return directoryBytes(this.volumeRoot(environmentId));
  }

  async removeVolumes(environmentId: string): Promise<void> {
    await rm(this.volumeRoot(environmentId), { recursive: true, force: true });
  }

  async create(driver: string, spec: EnvironmentSpec, options?: CallOptions) {
    return (await this.driver(driver)).create(spec, options);
  }

  async start(driver: string, id: string, options?: CallOptions) {
    return (await this.driver(driver)).start(id, options);
  }

  async stop(driver: string, id: string, options?: StopOptions) {
    return (await this.driver(driver)).stop(id, options);
  }

  async destroy(driver: string, id: string, options?: CallOptions) {
    return (await this.driver(driver)).destroy(id, options);
  }

  async inspect(driver: string, id: string, options?: CallOptions) {
    return (await this.driver(driver)).inspect(id, options);
  }

  async list(driver: string, options?: CallOptions) {
    return (await this.driver(driver)).list(options);
  }

  async stats(driver: string, id: string, options?: CallOptions) {
    return (await this.driver(driver)).stats(id, options);
  }

  async exec(driver: string, id: string, command: string[], options?: CallOptions & { stdin?: string }) {
    return requireCapability(await this.driver(driver), 'exec')(id, command, options);
  }

  async exportEnvironment(driver: string, id: string, options?: CallOptions) {
    return requireCapability(await this.driver(driver), 'exportEnvironment')(id, options);
  }

  async importEnvironment(driver: string, source: Readable, spec: EnvironmentSpec, options?: CallOptions) {
    return requireCapability(await this.driver(driver), 'importEnvironment')(source, spec, options);
  }

  artifacts(): ArtifactStore {
    this.store ??= ArtifactStore.inDirectory(this.artifactDir, { logger: this.logger });
    return this.store;
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

  private volumeRoot(environmentId: string): string {
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
