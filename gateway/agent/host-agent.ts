import type { ExecResult, ImageRef, InteractiveProcess, LogRead, ResourceLimits } from '../../drivers/contract';
import type { DriverProbeReport } from '../../drivers/registry';
import type { ArtifactManifest } from '../artifacts/manifest';
import type { ChunkCheck, VerifyReport } from '../artifacts/artifact-store';
import type { ScrubPace } from '../artifacts/read-pacer';
import type { HostFactsData } from './host-facts';
import type {
  AgentHello,
  ArtifactRef,
  CallContext,
  ChunkData,
  CreatedEnvironment,
  EnvironmentInfoData,
  EnvironmentRequest,
  EnvironmentStatsData,
  ExportSummary,
  HostSampleData,
  ImageArtifact,
  SnapshotData,
} from './protocol';
import { AGENT_METHOD_SINCE } from './protocol';

/** Names a driver of the agent and an environment on it. */
export interface EnvironmentTarget {
  driver: string;
  environmentId: string;
}

/**
 * What the gateway asks of a host: the only way it reaches drivers. Every call takes one
 * plain-data params object and a `CallContext` (operation id, deadline) and answers plain data
 * (see `protocol.ts`), so the same calls work in process (`InProcessAgent`), through the loopback
 * that JSON-encodes them, and over the network (`AgentClient`). Calls are coarse: one creates an
 * environment from an image artifact, one exports into the agent's store, one imports from it.
 */
export interface HostAgent {
  /** `local` for the gateway's own in-process agent. */
  readonly id: string;
  /** Who the agent is and which protocol it speaks. */
  hello(params?: Record<string, never>, context?: CallContext): Promise<AgentHello>;
  /** Aborts every call of the operation still running on the agent (they fail; nothing else changes). */
  cancel(params: { operationId: string }, context?: CallContext): Promise<{ cancelled: number }>;
  /** Every driver of the host with what its last probe found. */
  drivers(params?: Record<string, never>, context?: CallContext): Promise<DriverProbeReport[]>;
  /** The facts of the agent's machine (CPUs, memory, filesystems, network interfaces, kernel) with each driver's probe. */
  hostFacts(params?: Record<string, never>, context?: CallContext): Promise<HostFactsData>;
  /**
   * A sample of the agent's own machine from its `/proc` and `/sys`: CPU, load, memory, swap,
   * disks, filesystems, networks, with rates since its previous sample.
   */
  hostSample(params?: Record<string, never>, context?: CallContext): Promise<HostSampleData>;

  /**
   * Creates an environment: imports the image into the driver unless it has it (fetching the
   * chunks its own cache lacks from the agent's upstream chunk source), makes the volume
   * directories (kept if they exist) and creates it, stopped. With `replace`, the environment's
   * engine object is destroyed first, once the image is ready (rebuild: the volumes stay).
   */
  createEnvironment(params: { driver: string; image: ImageArtifact; environment: EnvironmentRequest; replace?: boolean }, context?: CallContext): Promise<CreatedEnvironment>;
  startEnvironment(params: EnvironmentTarget, context?: CallContext): Promise<void>;
  stopEnvironment(params: EnvironmentTarget & { graceSeconds?: number }, context?: CallContext): Promise<void>;
  /** Removes it from the engine, and its volume directories too with `removeVolumes`. */
  destroyEnvironment(params: EnvironmentTarget & { removeVolumes?: boolean }, context?: CallContext): Promise<void>;
  /**
   * Changes limits of an environment in place, running or not (the driver's optional `resize`;
   * UNSUPPORTED_OPERATION without it, or for a limit it does not enforce): the given ones, the
   * others stay. An agent older than this call refuses it with UNSUPPORTED_OPERATION too.
   */
  resizeEnvironment(params: EnvironmentTarget & { limits: ResourceLimits }, context?: CallContext): Promise<void>;
  inspectEnvironment(params: EnvironmentTarget, context?: CallContext): Promise<EnvironmentInfoData>;
  /**
   * Takes a snapshot of the environment (the driver's optional `snapshot`). This call and the three
   * below refuse with UNSUPPORTED_OPERATION on a driver without snapshots, and on an agent older
   * than them.
   */
  snapshotEnvironment(params: EnvironmentTarget & { name: string }, context?: CallContext): Promise<SnapshotData>;
  /** The environment's snapshots on its driver, oldest first. */
  environmentSnapshots(params: EnvironmentTarget, context?: CallContext): Promise<SnapshotData[]>;
  /** Brings the environment back to a snapshot (a running one runs again afterwards). */
  rollbackSnapshot(params: EnvironmentTarget & { name: string }, context?: CallContext): Promise<void>;
  /** Removes a snapshot; a missing one is not an error. */
  deleteSnapshot(params: EnvironmentTarget & { name: string }, context?: CallContext): Promise<void>;
  listEnvironments(params: { driver: string }, context?: CallContext): Promise<EnvironmentInfoData[]>;
  environmentStats(params: EnvironmentTarget, context?: CallContext): Promise<EnvironmentStatsData>;
  /**
   * Runs a command inside the environment; its standard input is `stdin` or the plaintext of an
   * artifact of the agent's store (`stdinArtifact`).
   */
  exec(params: EnvironmentTarget & { command: string[]; stdin?: string; stdinArtifact?: ArtifactRef }, context?: CallContext): Promise<ExecResult>;
  /**
   * Starts an interactive process in the environment (the driver's optional `interactiveExec`).
   * An agent in the gateway's process starts it directly; an `AgentClient` opens a session whose
   * streams travel as frames on the agent connection (`stream-frames.ts`), refused with
   * UNSUPPORTED_OPERATION by an agent of a release without sessions.
   */
  interactiveExec?(params: EnvironmentTarget & { command: string[]; tty?: boolean; columns?: number; rows?: number }): Promise<InteractiveProcess>;
  /** Attaches to the environment's console (the driver's optional `console`), directly or as a session, as `interactiveExec`. */
  console?(params: EnvironmentTarget): Promise<InteractiveProcess>;
  /**
   * Reads the environment's console/stdout log (the driver's optional `readLog`): the last `tail`
   * lines, those since `since` (ISO 8601), or what follows `cursor` (from an earlier read). An
   * agent older than this call refuses it with UNSUPPORTED_OPERATION.
   */
  environmentLog(params: EnvironmentTarget & { tail?: number; since?: string; cursor?: string }, context?: CallContext): Promise<LogRead>;
  /** Bytes each environment's volume directories take on the host's disk (0 without volumes), by environment id. */
  volumesBytes(params: { environmentIds: string[] }, context?: CallContext): Promise<Record<string, number>>;
  /** Removes an environment's volume directories. */
  removeVolumes(params: { environmentId: string }, context?: CallContext): Promise<void>;

  /**
   * Exports into the agent's own store: the environment's filesystem, config and volumes, or with
   * `commandOutput` what that command prints inside it (CONFLICT when it exits non-zero).
   * Encrypted with `key` (base64 group key) when given. With `snapshot`: from that snapshot of the
   * environment (the driver's `exportSnapshot`; callers check the driver advertises it).
   */
  exportEnvironment(params: EnvironmentTarget & { commandOutput?: string[]; snapshot?: string; key?: string; labels: Record<string, string> }, context?: CallContext): Promise<ExportSummary>;
  /** Creates an environment (stopped) from an export in the agent's store, making its volume directories. */
  importEnvironment(params: { driver: string; artifact: ArtifactRef; environment: EnvironmentRequest; image: ImageRef }, context?: CallContext): Promise<EnvironmentInfoData>;

  /** True when the agent's store has the manifest. */
  hasArtifact(params: { manifestId: string }, context?: CallContext): Promise<boolean>;
  /** Removes a manifest from the agent's store (its chunks go at the next collection). */
  deleteArtifact(params: { manifestId: string }, context?: CallContext): Promise<void>;
  /** Collects the chunks of the agent's store that no manifest references. */
  collectArtifacts(params?: Record<string, never>, context?: CallContext): Promise<{ removedChunks: number; freedBytes: number }>;
  /** Reads a whole artifact of the agent's store back and checks every chunk. */
  verifyArtifact(params: ArtifactRef, context?: CallContext): Promise<VerifyReport>;
  /**
   * The verify job on the agent's store: re-hashes every chunk of an artifact once, at most
   * `bytesPerSecond`, or (without it) adaptively, never slower than `floorBytesPerSecond`, or
   * (neither) as fast as the disk allows (see `ScrubPace`).
   */
  scrubArtifact(params: ArtifactRef & ScrubPace, context?: CallContext): Promise<VerifyReport>;

  /** The chunk transport into the agent's store: a manifest (NOT_FOUND when absent). */
  getManifest(params: { manifestId: string }, context?: CallContext): Promise<ArtifactManifest>;
  /** Writes a manifest whose chunks are all in the store already (INTEGRITY_ERROR otherwise). */
  putManifest(params: { manifest: ArtifactManifest }, context?: CallContext): Promise<void>;
  /** Which of `ids` the store lacks. */
  missingChunks(params: { ids: string[] }, context?: CallContext): Promise<string[]>;
  /** Which of `ids` the store lacks, holds damaged, or cannot vouch for. */
  checkChunks(params: { ids: string[] }, context?: CallContext): Promise<ChunkCheck>;
  /** Chunks as stored (NOT_FOUND naming the first absent one). */
  getChunks(params: { ids: string[] }, context?: CallContext): Promise<ChunkData[]>;
  putChunks(params: { chunks: ChunkData[] }, context?: CallContext): Promise<void>;
}

/** The calls of `HostAgent`, by name. */
export type AgentMethod = Exclude<keyof HostAgent, 'id' | 'interactiveExec' | 'console'>;

/** Every call of `HostAgent`: what a dispatcher answers (anything else is refused); the protocol's table of calls names them all. */
export const AGENT_METHODS = Object.keys(AGENT_METHOD_SINCE) as AgentMethod[];
