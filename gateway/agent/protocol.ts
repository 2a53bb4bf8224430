import type { ImageRef, InterfaceSpec, ResourceLimits, EnvironmentInfo, EnvironmentStats } from '../../drivers/contract';
import type { ErrorCategory } from '../errors';
import type { MachineSample } from '../metrics/samples';

/**
 * The host-agent protocol: plain data only (what `JSON.stringify` keeps as it is: no Dates,
 * Buffers, streams, signals or functions). The gateway sends request frames, the agent answers
 * each with a result or an error frame carrying the same id. Bulk data moves beside the calls as
 * content-addressed chunks (base64 in `ChunkData`), never as streams.
 */

/**
 * The protocol version this code speaks; an agent reports its own in `hello`, and each request
 * carries the caller's. 2: agents push `heartbeat` (answered with a lease) and report what they
 * self-fenced. 3: the gateway asks agents for `hostSample` (their machine's metrics) and
 * `volumesBytes` (replacing `volumeBytes`); agents push `reportFacts` when their facts change.
 * 4: each heartbeat answer names the environments the agent would self-fence (`failover`); an
 * agent fences only those, so it must never take an older gateway's answer (which lacks them).
 */
export const AGENT_PROTOCOL_VERSION = 4;

/**
 * What travels with every call: the operation it belongs to (`cancel` names it) and when it must
 * be done by. An agent aborts the call at the deadline with TIMEOUT.
 */
export interface CallContext {
  /** The operation (or one-off call) the call belongs to; several calls may share one. */
  operationId: string;
  /** ISO 8601 time after which the call fails with TIMEOUT; absent: the driver's own defaults. */
  deadline?: string;
}

/** A call of the gateway to an agent. */
export interface RequestFrame {
  type: 'request';
  /** Unique among the caller's calls in flight; the answer carries it back. */
  id: string;
  /** The caller's `AGENT_PROTOCOL_VERSION`; a mismatch is refused. */
  protocol: number;
  method: string;
  params: unknown;
  context: CallContext;
}

/** A call's successful answer. */
export interface ResultFrame {
  type: 'result';
  id: string;
  result: unknown;
}

/** A call's failure: the error as data, raised again on the caller's side as the RspError of its category. */
export interface ErrorFrame {
  type: 'error';
  /** The request's id; null when the frame could not be read far enough to know it. */
  id: string | null;
  error: WireError;
}

/** Any frame of the protocol. */
export type AgentFrame = RequestFrame | ResultFrame | ErrorFrame;

/** An error as it travels. */
export interface WireError {
  category: ErrorCategory;
  message: string;
  details: Record<string, unknown>;
}

/** What an agent says about itself. */
export interface AgentHello {
  agentId: string;
  protocol: number;
  /** The RSP version the agent runs. */
  software: string;
}

/** A volume an environment asks for; the agent makes its directory (kept across rebuilds). */
export interface VolumeRequest {
  name: string;
  kind: 'config' | 'data';
  mountPath: string;
  readOnly?: boolean;
}

/** An environment as the gateway asks an agent to make it: the driver's spec without host paths or image. */
export interface EnvironmentRequest {
  id: string;
  limits?: ResourceLimits;
  volumes: VolumeRequest[];
  iface: InterfaceSpec;
  command?: string[];
  labels?: Record<string, string>;
}

/** An image the agent fetches from its upstream chunk source: the artifact `manifestId` holds its bits. */
export interface ImageArtifact {
  name: string;
  version: string;
  /** `sha256:<hex>` of the image's bits; names the image in the agent's record of imported images. */
  digest: string;
  manifestId: string;
}

/** An artifact in the agent's own store, with the group key (base64) when it is encrypted. */
export interface ArtifactRef {
  manifestId: string;
  key?: string;
}

/** `EnvironmentInfo` as data (`startedAt` an ISO string). */
export type EnvironmentInfoData = Omit<EnvironmentInfo, 'startedAt'> & { startedAt?: string };

/** `EnvironmentStats` as data (`at` an ISO string). */
export type EnvironmentStatsData = Omit<EnvironmentStats, 'at'> & { at: string };

/** What `createEnvironment` made: the environment and the driver's reference of the image it runs. */
export interface CreatedEnvironment {
  environment: EnvironmentInfoData;
  image: ImageRef;
}

/** What an export stored in the agent's store: the manifest and the counts of the put. */
export interface ExportSummary {
  manifestId: string;
  /** Plaintext bytes and chunks of the artifact. */
  bytes: number;
  chunks: number;
  /** Chunks (and their bytes) the store did not have before. */
  newChunks: number;
  newBytes: number;
}

/** A host agent's measure of its own machine (`/proc`, `/sys`): plain numbers, `at` in epoch ms of the agent's clock. */
export type HostSampleData = MachineSample;

/** An environment an agent stopped itself because it could not renew its lease (self-fencing). */
export interface FencedEnvironment {
  id: string;
  driver: string;
  /** When it was stopped (ms since the epoch, the agent's clock). */
  at: number;
}

/** The agent's `heartbeat` upstream call: it is alive, and what it fenced since it was last heard. */
export interface HeartbeatRequest {
  /** When the agent sent it (ms since the epoch, the agent's clock): the lease counts from it. */
  sentAt: number;
  /** Environments it self-fenced that the gateway has not acknowledged yet. */
  fenced: FencedEnvironment[];
}

/** The gateway's answer to a heartbeat: the agent's lease and what it took note of. */
export interface HeartbeatAnswer {
  /** Until when (ms, the agent's clock) the agent may run its environments without another answer. */
  leaseUntil: number;
  /** How often the agent must beat (ms). */
  heartbeatMs: number;
  /** How long a silent host lasts before the gateway declares it DOWN (ms). */
  downAfterMs: number;
  /** Ids of the fenced environments the gateway took note of: the agent forgets them. */
  acknowledged: string[];
  /**
   * Ids of the environments on the agent's hosts that the gateway would fail over (restart
   * elsewhere) if their host went DOWN: the only ones that could ever run twice, so the only
   * ones the agent self-fences when its lease runs out. Replaces the set of the previous answer.
   */
  failover: string[];
}

export type { ChunkData } from '../artifacts/chunk-transport';
