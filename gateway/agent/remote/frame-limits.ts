import type { AgentMethod } from '../host-agent';

/**
 * Most bytes of a frame a host agent sends its gateway, except the answer to a call whose answer
 * carries bulk data: a heartbeat (with the environments it fenced), facts, a chunk request, a
 * session's stream frame (a data frame is at most SESSION_CHUNK_BYTES, base64) and the answer to
 * any other call are far below it.
 */
export const MAX_AGENT_FRAME_BYTES = 4 * 1024 * 1024;

/**
 * Most bytes of an answer with bulk data, the socket's own limit: what a command printed (`exec`),
 * a batch of chunks (`getChunks`), a large artifact's manifest, a log, a verification's report,
 * the lists of a host with many environments or volumes.
 */
export const MAX_AGENT_ANSWER_BYTES = 256 * 1024 * 1024;

/** The calls of the gateway whose answers may be over MAX_AGENT_FRAME_BYTES. */
export const BULK_ANSWER_METHODS: ReadonlySet<AgentMethod> = new Set<AgentMethod>([
  'exec',
  'getChunks',
  'getManifest',
  'environmentLog',
  'listEnvironments',
  'exportEnvironment',
  'verifyArtifact',
  'scrubArtifact',
  'snapshotEnvironment',
  'environmentSnapshots',
  'volumesBytes',
]);

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
