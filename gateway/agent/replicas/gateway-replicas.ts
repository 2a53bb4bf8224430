import { randomUUID } from 'node:crypto';
import type { Logger } from '../../logging/logger';
import type { AgentLink } from '../agent-link';
import { AgentDirectory } from './agent-directory';
import { CallRelay } from './call-relay';
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
}

/** This gateway as one of several replicas. */
export interface GatewayReplicas {
  replicaId: string;
  directory: AgentDirectory;
  relay: CallRelay;
  /** Releases this replica's agents, fails the relayed calls in flight and closes the bus. */
  close(): Promise<void>;
}

/**
 * Makes this gateway one of several replicas sharing a bus: every agent connected here is
 * recorded in the agent directory (and removed when it leaves), calls for agents connected to
 * another replica go through the call relay, and a replica that goes away fails the calls in
 * flight to it.
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
  agents.useReplicas((id) => {
    const holder = directory.holder(id);
    return holder && holder !== replicaId ? relay.agentAt(holder, id) : undefined;
  });
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
