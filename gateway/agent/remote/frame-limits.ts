import { BadInputError } from '../../errors';
import type { AgentMethod } from '../host-agent';

/**
 * Most bytes of a frame a host agent sends its gateway, except the answer to a call whose answer
 * carries bulk data: a heartbeat (with the environments it fenced), facts, a chunk request, a
 * session's stream frame (a data frame is at most SESSION_CHUNK_BYTES, base64) and the answer to
 * any other call are far below it.
 */
export const MAX_AGENT_FRAME_BYTES = 4 * 1024 * 1024;

/** Most bytes of the answer to a control call (start, stop, inspect, stats, hello…): small plain data. */
export const CONTROL_ANSWER_BYTES = 1024 * 1024;

/**
 * Most bytes (UTF-8 of the whole answer frame) of a host agent's answer to each call of the
 * gateway: small for control calls, larger only for the calls whose answers carry bulk data.
 * `getChunks` carries one copy batch (4 MiB of chunks, base64, plus one chunk: copyArtifact and
 * the replica verifier's repair ask for no more), `getManifest` a manifest of a very large
 * artifact (about 80 bytes per chunk), `exec` what a command printed. An agent answers a call
 * whose answer would be over its bound with AGENT_ANSWER_TOO_LARGE instead (it never sends it);
 * the gateway refuses one that is, unparsed, with the same code (`answerOverBound`).
 */
export const AGENT_ANSWER_BOUNDS: Readonly<Record<AgentMethod, number>> = {
  hello: CONTROL_ANSWER_BYTES,
  cancel: CONTROL_ANSWER_BYTES,
  drivers: CONTROL_ANSWER_BYTES,
  hostFacts: 4 * 1024 * 1024,
  hostSample: CONTROL_ANSWER_BYTES,
  createEnvironment: CONTROL_ANSWER_BYTES,
  startEnvironment: CONTROL_ANSWER_BYTES,
  stopEnvironment: CONTROL_ANSWER_BYTES,
  destroyEnvironment: CONTROL_ANSWER_BYTES,
  resizeEnvironment: CONTROL_ANSWER_BYTES,
  inspectEnvironment: CONTROL_ANSWER_BYTES,
  snapshotEnvironment: CONTROL_ANSWER_BYTES,
  environmentSnapshots: 16 * 1024 * 1024,
  rollbackSnapshot: CONTROL_ANSWER_BYTES,
  deleteSnapshot: CONTROL_ANSWER_BYTES,
  listEnvironments: 16 * 1024 * 1024,
  environmentStats: CONTROL_ANSWER_BYTES,
  exec: 64 * 1024 * 1024,
  environmentLog: 16 * 1024 * 1024,
  volumesBytes: 16 * 1024 * 1024,
  removeVolumes: CONTROL_ANSWER_BYTES,
  exportEnvironment: 16 * 1024 * 1024,
  importEnvironment: CONTROL_ANSWER_BYTES,
  hasArtifact: CONTROL_ANSWER_BYTES,
  deleteArtifact: CONTROL_ANSWER_BYTES,
  collectArtifacts: CONTROL_ANSWER_BYTES,
  verifyArtifact: 64 * 1024 * 1024,
  scrubArtifact: 64 * 1024 * 1024,
  getManifest: 256 * 1024 * 1024,
  putManifest: CONTROL_ANSWER_BYTES,
  missingChunks: 4 * 1024 * 1024,
  checkChunks: 4 * 1024 * 1024,
  getChunks: 16 * 1024 * 1024,
  putChunks: CONTROL_ANSWER_BYTES,
};

/** The bound of the answer to `method` (see AGENT_ANSWER_BOUNDS); a method not in the table gets the small frames' limit. */
export function answerBound(method: string): number {
  return Object.hasOwn(AGENT_ANSWER_BOUNDS, method) ? AGENT_ANSWER_BOUNDS[method as AgentMethod] : MAX_AGENT_FRAME_BYTES;
}

/** Most bytes of any message of a host agent, the socket's own limit: the largest answer bound. */
export const MAX_AGENT_ANSWER_BYTES = Math.max(...Object.values(AGENT_ANSWER_BOUNDS));

/** The calls of the gateway whose answers may be over MAX_AGENT_FRAME_BYTES. */
export const BULK_ANSWER_METHODS: ReadonlySet<AgentMethod> = new Set<AgentMethod>((Object.keys(AGENT_ANSWER_BOUNDS) as AgentMethod[]).filter((m) => AGENT_ANSWER_BOUNDS[m] > MAX_AGENT_FRAME_BYTES));

/** The code (`details.reason`) of the error of a call whose answer is over its method's bound. */
export const AGENT_ANSWER_TOO_LARGE = 'AGENT_ANSWER_TOO_LARGE';

/**
 * The error of a call to `agent` whose answer (`bytes`, when known) is over `method`'s bound:
 * BAD_USER_INPUT (ask for less: fewer chunks, a shorter output), details.reason AGENT_ANSWER_TOO_LARGE.
 */
export function answerTooLarge(agent: string, method: string, bytes?: number): BadInputError {
  const bound = answerBound(method);
  const size = bytes === undefined ? 'would be' : `is ${bytes} bytes,`;
  return new BadInputError(`The answer of host agent ${agent} to ${method} ${size} over its bound of ${bound} bytes (${AGENT_ANSWER_TOO_LARGE}): ask for less at once`, { reason: AGENT_ANSWER_TOO_LARGE, agent, method, bound, ...(bytes !== undefined ? { bytes } : {}) });
}

/** How an agent's answer frame begins, as its dispatcher writes it (`{"type":"result","id":"7",…`): read without parsing the frame. */
const ANSWER_HEAD = /^\{"type":"(?:result|error)","id":"([0-9]{1,16})"/;

/**
 * Why a frame of `data` (a host agent's message, not parsed yet) is refused for its size, or
 * undefined when it is within its limit: a frame over MAX_AGENT_FRAME_BYTES must be the answer to
 * a call in flight whose answer carries bulk data (`bulkCall(id)`), else it is refused before it
 * is read, so a compromised host's agent makes the gateway parse no more than that for anything
 * else (each frame it sends is otherwise parsed, whatever it is, before it is dropped).
 */
export function agentFrameRefusal(data: Buffer, bulkCall: (id: string) => boolean): string | undefined {
  if (data.length <= MAX_AGENT_FRAME_BYTES) return undefined;
  const id = ANSWER_HEAD.exec(data.subarray(0, 64).toString('latin1'))?.[1];
  if (id !== undefined && bulkCall(id)) return undefined;
  return `frame of ${data.length} bytes over ${MAX_AGENT_FRAME_BYTES}, not the answer to a bulk call in flight`;
}

/**
 * The request id and method of an answer frame (`data`, not parsed yet) to a call in flight
 * (`methodOf(id)`) that is over its method's bound, read from the frame's head; undefined for
 * anything else (read as usual, or refused by `agentFrameRefusal`).
 */
export function answerOverBound(data: Buffer, methodOf: (id: string) => string | undefined): { id: string; method: string } | undefined {
  if (data.length <= CONTROL_ANSWER_BYTES) return undefined;
  const id = ANSWER_HEAD.exec(data.subarray(0, 64).toString('latin1'))?.[1];
  const method = id === undefined ? undefined : methodOf(id);
  if (id === undefined || method === undefined || data.length <= answerBound(method)) return undefined;
  return { id, method };
}

/**
 * The verdict on a host agent's message (frame-gate.ts) from its declared length (`declared`) and
 * its first bytes (`head`), before it is read, with the bounds of `agentFrameRefusal` and
 * `answerOverBound`: the answer to a call in flight (`methodOf(id)`) over its method's bound is
 * dropped (`overBound` fails the call; null), any other message over MAX_AGENT_FRAME_BYTES closes
 * the connection (the reason), and what is within its bound is read (that bound).
 */
export function messageVerdict(declared: number, head: Buffer, methodOf: (id: string) => string | undefined, overBound: (id: string, method: string) => void): number | null | string {
  const id = ANSWER_HEAD.exec(head.toString('latin1'))?.[1];
  const method = id === undefined ? undefined : methodOf(id);
  const bulk = method !== undefined && BULK_ANSWER_METHODS.has(method as AgentMethod);
  if (declared > MAX_AGENT_FRAME_BYTES && !bulk) return `frame of ${declared} bytes over ${MAX_AGENT_FRAME_BYTES}, not the answer to a bulk call in flight`;
  if (method !== undefined && declared > CONTROL_ANSWER_BYTES && declared > answerBound(method)) {
    overBound(id!, method);
    return null;
  }
  return Math.max(MAX_AGENT_FRAME_BYTES, method === undefined ? 0 : answerBound(method));
}
