/**
 * The opening of a remote agent's WebSocket, before any call: the agent says who it is and shows
 * its secret; the gateway welcomes it (with its new credential when it enrolled with a join
 * token) or closes the socket with one of `CLOSE_CODES` and a reason saying why.
 */

import { randomBytes } from 'node:crypto';

/** Prefix of an agent credential (refused at /graphql: no API token check accepts it). */
export const AGENT_CREDENTIAL_PREFIX = 'rspa_';

/** A new agent credential: the prefix and 32 random bytes in hex. */
export function newAgentCredential(): string {
  return AGENT_CREDENTIAL_PREFIX + randomBytes(32).toString('hex');
}

/** Whether `value` has the form of an agent credential (`newAgentCredential`). */
export function isAgentCredentialForm(value: string): boolean {
  return /^rspa_[0-9a-f]{64}$/.test(value);
}

/** The gateway's path agents dial (the GraphQL WebSocket is `/graphql`). */
export const AGENT_WEBSOCKET_PATH = '/agent';

/** The agent's first message. */
export interface AgentHandshake {
  type: 'handshake';
  /**
   * The oldest protocol version the agent speaks (`OLDEST_AGENT_PROTOCOL_VERSION`): what a gateway
   * of protocol 4, which does not negotiate, checks against its own.
   */
  protocol: number;
  /** The newest version the agent speaks (`AGENT_PROTOCOL_VERSION`); absent (agents of protocol 4): `protocol`. */
  newestProtocol?: number;
  /** The id the agent believes it has; absent at enrollment (the join token names it). */
  agentId?: string;
  /** A join token (rspj_…) or the agent's credential (rspa_…). */
  secret: string;
  /** The RSP version the agent runs. */
  software: string;
  /**
   * At enrollment (`secret` a join token): the credential the agent chose and saved before it
   * sent this (`newAgentCredential`). The gateway records it as the agent's credential, so an
   * enrollment whose welcome was lost is finished by trying again with the same token and
   * credential, instead of being refused for a spent token.
   */
  credential?: string;
}

/** The gateway's answer to an accepted handshake; calls follow in both directions. */
export interface GatewayWelcome {
  type: 'welcome';
  /** The version the connection speaks from now on: the highest both sides speak (`negotiateProtocol`). */
  protocol: number;
  agentId: string;
  /** The agent's own credential, once, when it enrolled with a join token: it keeps it from now on. */
  credential?: string;
  /** How often the agent must push heartbeats (the gateway's `RSP_HEARTBEAT_MS`). */
  heartbeatMs: number;
  /**
   * Where in each interval the agent beats: at `beatPhaseMs + k × heartbeatMs` ms since the epoch
   * (its own clock; `beatPhase`). The gateway puts its agents' beats together in a few bursts,
   * which it takes many to one wake-up. Absent (gateways before it): anywhere.
   */
  beatPhaseMs?: number;
}

/** WebSocket close codes of the agent protocol: WebSocket's normal closure, and the application's own (4000–4999). */
export const CLOSE_CODES = {
  /** WebSocket's normal closure: an agent stopping (`rsp agent` ended by SIGTERM or SIGINT) closes its connection with it. */
  STOPPING: 1000,
  /** The other side sent something that is not a frame of the protocol. */
  MALFORMED: 4400,
  /** A wrong, expired, used or revoked secret. */
  UNAUTHENTICATED: 4401,
  /** The two sides have no protocol version in common (more than one version of skew). */
  PROTOCOL_MISMATCH: 4426,
  /** The handshake did not come in time. */
  HANDSHAKE_TIMEOUT: 4408,
  /** Another connection of the same agent replaced this one. */
  REPLACED: 4409,
} as const;

/** Close codes after which an agent does not dial again: retrying cannot help. */
export const FINAL_CLOSE_CODES: ReadonlySet<number> = new Set([CLOSE_CODES.UNAUTHENTICATED, CLOSE_CODES.PROTOCOL_MISMATCH, CLOSE_CODES.MALFORMED]);

/** A close reason as WebSocket carries it (at most 123 bytes). */
export function closeReason(text: string): string {
  let reason = text;
  while (Buffer.byteLength(reason) > 123) reason = `${reason.slice(0, reason.length - 2)}…`;
  return reason;
}
