import type { Readable } from 'node:stream';
import type {
  CallOptions,
  EnvironmentInfo,
  EnvironmentSpec,
  EnvironmentStats,
  ExecResult,
  ImageRef,
  StopOptions,
  VolumeSpec,
} from '../../drivers/contract';
import type { DriverProbeReport } from '../../drivers/registry';
import type { ArtifactStore } from '../artifacts/artifact-store';
import type { EnvironmentVolume } from '../persistence/entities';

/** An image the agent should have in a driver: its digest names it, `open` streams its bits. */
export interface ImageSource {
  name: string;
  version: string;
  digest: string;
  open(): Promise<Readable>;
}

/**
 * What the gateway asks of a host: the only way it reaches drivers. The in-process agent runs in
 * the gateway (embedded mode); a remote agent will carry the same calls over the network.
 */
export interface HostAgent {
  /** `local` for the in-process agent. */
  readonly id: string;
  /** Every driver of the host with what its last probe found. */
  drivers(): Promise<DriverProbeReport[]>;
  /** Imports the image into the driver unless it is there already; returns the driver's reference. */
  ensureImage(driver: string, image: ImageSource, options?: CallOptions): Promise<ImageRef>;
  /** Creates the host directories of an environment's volumes (kept across rebuilds). */
  prepareVolumes(environmentId: string, volumes: EnvironmentVolume[]): Promise<VolumeSpec[]>;
  /** Bytes an environment's volume directories take on the host's disk (0 without volumes). */
  volumeBytes(environmentId: string): Promise<number>;
  /** Removes an environment's volume directories. */
  removeVolumes(environmentId: string): Promise<void>;
  create(driver: string, spec: EnvironmentSpec, options?: CallOptions): Promise<EnvironmentInfo>;
  start(driver: string, id: string, options?: CallOptions): Promise<void>;
  stop(driver: string, id: string, options?: StopOptions): Promise<void>;
  destroy(driver: string, id: string, options?: CallOptions): Promise<void>;
  inspect(driver: string, id: string, options?: CallOptions): Promise<EnvironmentInfo>;
  list(driver: string, options?: CallOptions): Promise<EnvironmentInfo[]>;
  stats(driver: string, id: string, options?: CallOptions): Promise<EnvironmentStats>;
  /** Runs a command inside the environment; `stdin` is written to its standard input. */
  exec(driver: string, id: string, command: string[], options?: CallOptions & { stdin?: string }): Promise<ExecResult>;
  /** The environment's filesystem, config and volumes as one stream. */
  exportEnvironment(driver: string, id: string, options?: CallOptions): Promise<Readable>;
  /** Creates an environment from an export stream, with `spec` for its new identity. */
  importEnvironment(driver: string, source: Readable, spec: EnvironmentSpec, options?: CallOptions): Promise<EnvironmentInfo>;
  /**
   * The host's own artifact store (replicas made on it and replicas other hosts keep there). The
   * in-process agent's is a directory under its data directory; a remote agent gives a store whose
   * chunk backend reaches the host over the network, so `copyTo` still moves only missing chunks.
   */
  artifacts(): ArtifactStore;
}
