import { randomUUID } from 'node:crypto';
import type { Logger } from '../../logging/logger';
import type { AgentLink } from '../agent-link';
import { AgentDirectory } from './agent-directory';
import type { HostAgent } from '../host-agent';
import { AGENT_METHOD_SINCE } from '../protocol';
import { agentNotAt, CallRelay } from './call-relay';
import type { ReplicaBus } from './relay-transport';

/** Options of `joinReplicas`. */
export interface ReplicaOptions {
  bus: ReplicaBus;
  agents: AgentLink;
  logger: Logger;
  /** This replica's id; default a fresh one per start (a restarted replica is a new one). */
  replicaId?: string;
  /** Life of a directory entry without a refresh (default 10 s). */
  ttlMs?: number;
  /** Largest relayed frame (default 16 MiB). */
  maxFrameBytes?: number;
  /** The deadline of a relayed call made without one (ms; default 15 minutes). */
  callTimeoutMs?: number;
  /** The newest agent protocol version this replica speaks on the relay (default this code's). */
  newestProtocol?: number;
  /** How long a call for a host whose agent is arriving (see `AgentDirectory.presence`) waits for a replica to announce it (ms; default 2 s). */
  agentWaitMs?: number;
}

/**
 * How long a call for a host whose agent is arriving (no replica is known to hold it, but one may
 * announce it: see `AgentDirectory.presence`) waits for that before answering UNAVAILABLE: 2 s.
 * An agent that has just connected to (or moved to) another replica is announced within a bus
 * round trip. A host whose agent is known to be gone answers UNAVAILABLE at once.
 */
export const DEFAULT_AGENT_WAIT_MS = 2_000;

/** This gateway as one of several replicas. */
export interface GatewayReplicas {
  replicaId: string;
  directory: AgentDirectory;
  relay: CallRelay;
  /** Releases this replica's agents, fails the relayed calls in flight and closes the bus. */
  close(): Promise<void>;
}

/**
 * `agent` (reached through replica `holder`) whose calls, when `holder` answers that it no longer
 * holds the agent (it left, and this replica has not heard yet), are made once more where the
 * agent is now (`elsewhere`, which waits for it to be announced): such a call reached no agent, so
 * making it again delivers it once. Sessions and everything else pass through as they are.
 */
function redirectOnce(agent: HostAgent, holder: string, elsewhere: () => Promise<HostAgent | undefined>): HostAgent {
  return new Proxy(agent, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      if (typeof property !== 'string' || !Object.hasOwn(AGENT_METHOD_SINCE, property)) return (value as (...a: unknown[]) => unknown).bind(target);
      return async (...args: unknown[]) => {
        try {
          return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        } catch (e) {
          if (!agentNotAt(e, holder)) throw e;
          const next = await elsewhere();
          if (!next) throw e;
          return (next[property as keyof HostAgent] as (...a: unknown[]) => Promise<unknown>).apply(next, args);
        }
      };
    },
  });
}

/**
 * Makes this gateway one of several replicas sharing a bus: every agent connected here is
 * recorded in the agent directory (and removed when it leaves), calls for agents connected to
 * another replica go through the call relay, and a replica that goes away fails the calls in
 * flight to it. A call for an agent no replica is known to hold but that is arriving waits up to
 * `agentWaitMs` for one to announce it (its claim on the directory channel, or a beat naming it),
 * so an agent that has just connected to another replica is reached rather than answered
 * UNAVAILABLE; one the directory knows is gone is answered UNAVAILABLE at once.
 */
export async function joinReplicas(options: ReplicaOptions): Promise<GatewayReplicas> {
  const { bus, agents, logger } = options;
  const replicaId = options.replicaId ?? randomUUID();
  const log = logger.child({ replica: replicaId });
  const directory = new AgentDirectory({ replicaId, bus, logger: log, ...(options.ttlMs !== undefined ? { ttlMs: options.ttlMs } : {}) });
  const relay = new CallRelay({ replicaId, bus, logger: log, localAgent: (id) => agents.get(id), ...(options.maxFrameBytes !== undefined ? { maxFrameBytes: options.maxFrameBytes } : {}), ...(options.callTimeoutMs !== undefined ? { callTimeoutMs: options.callTimeoutMs } : {}), ...(options.newestProtocol !== undefined ? { newestProtocol: options.newestProtocol } : {}) });
  await relay.start();
  await directory.start();
  directory.onReplicaGone((replica, reason) => relay.replicaGone(replica, reason));
  directory.onMoved((id, from) => relay.agentMoved(from, id));
  // The newest connection of an agent wins: a replica still holding an older one lets it go.
  directory.onTaken((id) => {
    const stale = agents.get(id);
    if (stale) agents.remove(id, stale);
  });
  const record = (id: string, connected: boolean) => {
    const done = connected ? directory.claim(id) : directory.release(id);
    done.catch((e: unknown) => log.warn({ err: e, agent: id, connected }, 'could not record an agent in the directory'));
  };
  agents.onChange(record);
  await Promise.all(agents.connected().map((id) => directory.claim(id)));
  const agentWaitMs = options.agentWaitMs ?? DEFAULT_AGENT_WAIT_MS;
  const redirecting = new WeakMap<HostAgent, HostAgent>();
  /** Agent `id` at `holder`: here, or through the relay, redirected once when that replica answers it no longer holds it. */
  const reach = (holder: string, id: string): HostAgent | undefined => {
    if (holder === replicaId) return agents.get(id);
    const client = relay.agentAt(holder, id);
    let agent = redirecting.get(client);
    if (!agent) {
      agent = redirectOnce(client, holder, async () => {
        const now = await directory.whenHeld(id, agentWaitMs, holder);
        if (!now) return undefined;
        return now === replicaId ? agents.get(id) : relay.agentAt(now, id);
      });
      redirecting.set(client, agent);
    }
    return agent;
  };
  agents.useReplicas(
    (id) => {
      const holder = directory.holder(id);
      return holder && holder !== replicaId ? reach(holder, id) : undefined;
    },
    async (id) => {
      const holder = await directory.whenHeld(id, agentWaitMs);
      return holder ? reach(holder, id) : undefined;
    },
    (id) => (directory.presence(id) === 'gone' ? 'gone' : 'arriving'),
  );
  log.info('joined the gateway replicas: agents connected to the others are reached through the call relay');
  return {
    replicaId,
    directory,
    relay,
    close: async () => {
      await directory.stop();
      await relay.stop();
      await bus.close();
    },
  };
}
