import { randomUUID } from 'node:crypto';
import type { HostAgent } from './host-agent';
import type { CallContext } from './protocol';

/** Options of `callContext`. */
export interface CallContextOptions {
  /** Aborting it sends `cancel` of the context's operation to the agent. */
  signal?: AbortSignal;
  /** The operation the calls belong to; default: one id per (signal, agent), or a fresh one. */
  operationId?: string;
  /** The call's deadline, this many ms from now. */
  timeoutMs?: number;
}

/** Operation ids already given out per signal and agent, so one abort sends one `cancel` per agent. */
const given = new WeakMap<AbortSignal, Map<HostAgent, string>>();

/**
 * The gateway side of deadlines and cancellation: the data context of a call to `agent` made
 * under `signal`. An aborted signal throws its reason at once; a signal aborted later sends
 * `cancel` of the context's operation to the agent (once per signal and agent).
 */
export function callContext(agent: HostAgent, options: CallContextOptions = {}): CallContext {
  const { signal, timeoutMs } = options;
  signal?.throwIfAborted();
  let operationId = options.operationId;
  if (signal) {
    const byAgent = given.get(signal) ?? new Map<HostAgent, string>();
    given.set(signal, byAgent);
    const known = byAgent.get(agent);
    if (known && (!operationId || operationId === known)) operationId = known;
    else {
      operationId ??= randomUUID();
      byAgent.set(agent, operationId);
      const id = operationId;
      signal.addEventListener('abort', () => void agent.cancel({ operationId: id }).catch(() => undefined), { once: true });
    }
  }
  return { operationId: operationId ?? randomUUID(), ...(timeoutMs !== undefined ? { deadline: new Date(Date.now() + timeoutMs).toISOString() } : {}) };
}
