import type { ImageRef, InterfaceSpec, ResourceLimits, EnvironmentInfo, EnvironmentStats } from '../../drivers/contract';
import type { ErrorCategory } from '../errors';
import type { MachineSample } from '../metrics/samples';
import type { AgentMethod } from './host-agent';
import type { UpstreamMethod } from './remote/upstream-dispatcher';

/**
 * The host-agent protocol: plain data only (what `JSON.stringify` keeps as it is: no Dates,
 * Buffers, streams, signals or functions). The gateway sends request frames, the agent answers
 * each with a result or an error frame carrying the same id. Bulk data moves beside the calls as
 * content-addressed chunks (base64 in `ChunkData`). Interactive sessions (an agent's `sessions`
 * feature) carry their streams as `stream` frames beside the calls (`stream-frames.ts`).
 */

/**
 * The newest protocol version this code speaks (N). 2: agents push `heartbeat` (answered with a
 * lease) and report what they self-fenced. 3: the gateway asks agents for `hostSample` and
 * `volumesBytes`; agents push `reportFacts`. 4: each heartbeat answer names the environments the
 * agent would self-fence (`failover`). 5: the handshake negotiates the version (an agent
 * announces the oldest and newest it speaks, the welcome names the one chosen), and the calls
 * `resizeEnvironment`, `environmentLog`, `checkChunks`, `scrubArtifact` and the snapshot calls
 * (`snapshotEnvironment`, `environmentSnapshots`, `rollbackSnapshot`, `deleteSnapshot`; see `AGENT_METHOD_SINCE`).
 */
export const AGENT_PROTOCOL_VERSION = 5;

/**
 * The oldest protocol version this code still speaks (N−1): one version of skew between the
 * gateway and its agents works in both directions; two is refused at the handshake.
 */
export const OLDEST_AGENT_PROTOCOL_VERSION = AGENT_PROTOCOL_VERSION - 1;

/** The versions one side speaks, oldest to newest. */
export interface ProtocolRange {
  oldest: number;
  newest: number;
}

/** What this code speaks: N−1 and N. */
export const SPOKEN_PROTOCOLS: ProtocolRange = { oldest: OLDEST_AGENT_PROTOCOL_VERSION, newest: AGENT_PROTOCOL_VERSION };

/**
 * Which calls each protocol version has: the version that brought each call of the gateway to an
 * agent in. A version has every call whose number is at most its own; 4 stands for "in protocol
 * 4 already" (the oldest this code speaks; older versions are not spoken any more). A new call
 * gets the new `AGENT_PROTOCOL_VERSION`, so a gateway never sends it to an agent that lacks it.
 */
export const AGENT_METHOD_SINCE = {
  hello: 4,
  cancel: 4,
  drivers: 4,
  hostFacts: 4,
  hostSample: 4,
  createEnvironment: 4,
  startEnvironment: 4,
  stopEnvironment: 4,
  destroyEnvironment: 4,
  resizeEnvironment: 5,
  inspectEnvironment: 4,
  snapshotEnvironment: 5,
  environmentSnapshots: 5,
  rollbackSnapshot: 5,
  deleteSnapshot: 5,
  listEnvironments: 4,
  environmentStats: 4,
  exec: 4,
  environmentLog: 5,
  volumesBytes: 4,
  removeVolumes: 4,
  exportEnvironment: 4,
  importEnvironment: 4,
  hasArtifact: 4,
  deleteArtifact: 4,
  collectArtifacts: 4,
  verifyArtifact: 4,
  scrubArtifact: 5,
  getManifest: 4,
  putManifest: 4,
  missingChunks: 4,
  checkChunks: 5,
  getChunks: 4,
  putChunks: 4,
} as const satisfies Record<AgentMethod, number>;

/** The same for the calls of an agent to its gateway (`UPSTREAM_METHODS`). */
export const UPSTREAM_METHOD_SINCE = {
  heartbeat: 4,
  reportFacts: 4,
  hasManifest: 4,
  getManifest: 4,
  missingChunks: 4,
  getChunks: 4,
} as const satisfies Record<UpstreamMethod, number>;

/** The protocol version that brought `method` in (of `table`), or undefined when no version has it. */
export function methodSince(table: Readonly<Record<string, number>>, method: string): number | undefined {
  return Object.hasOwn(table, method) ? table[method] : undefined;
}

/** The outcome of `negotiateProtocol`: the version both sides speak, or why there is none. */
export type Negotiated = { version: number } | { refusal: string; upgrade: 'agent' | 'gateway' };

/**
 * The highest version the gateway and an agent both speak, or a refusal naming both sides'
 * versions and the side to upgrade (the older one). `software` are the two sides' RSP versions.
 */
export function negotiateProtocol(gateway: ProtocolRange, agent: ProtocolRange, software: { gateway: string; agent: string }): Negotiated {
  const version = Math.min(gateway.newest, agent.newest);
  if (version >= Math.max(gateway.oldest, agent.oldest)) return { version };
  const upgrade = agent.newest < gateway.oldest ? 'agent' : 'gateway';
  const to = upgrade === 'agent' ? software.gateway : software.agent;
  return { refusal: `protocol mismatch: the gateway speaks ${rangeText(gateway)}, the agent ${rangeText(agent)}; upgrade the ${upgrade} (to RSP ${to})`, upgrade };
}

/** `4–5`, or `5` for a single version. */
export function rangeText(range: ProtocolRange): string {
  return range.oldest === range.newest ? String(range.newest) : `${range.oldest}–${range.newest}`;
}

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
  /** The version the connection negotiated (between replicas: the oldest that has the method); a version the receiver does not speak is refused. */
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
  /** The version this connection speaks (the one negotiated at the handshake). */
  protocol: number;
  /** The RSP version the agent runs. */
  software: string;
  /**
   * What the agent serves beyond the calls of its protocol version, on this connection:
   * `sessions` (interactive exec and consoles, `stream-frames.ts`). Absent: nothing (older agents).
   */
  features?: string[];
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

/** A driver's `SnapshotInfo` as data (`createdAt` an ISO string). */
export interface SnapshotData {
  name: string;
  createdAt: string;
}

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
