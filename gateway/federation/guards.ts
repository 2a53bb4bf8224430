import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { settingsFromEnv } from '../config/config';
import { clientAddress } from '../limits/client-address';
import { RATE_LIMITED, RateLimitError } from '../limits/request-limits';
import { AddressPlaces, CAP_RETRY_SECONDS } from '../limits/socket-admission';
import { TokenBuckets } from '../limits/token-buckets';
import { refuseUpgrade } from '../server/graphql-upgrade';

/**
 * The abuse limits of `rsp federate`, with the gateway's settings and defaults where the gateway
 * has the same limit: the rate of operations per group (`RSP_RATE_QUERIES_PER_MINUTE`; callers
 * without a valid key: per client address), graphql-ws sockets (`RSP_RATE_SOCKETS_PER_MINUTE`
 * new ones and `RSP_MAX_SOCKETS_PER_ADDRESS` open ones per address,
 * `RSP_MAX_SUBSCRIPTIONS_PER_SOCKET` operations on one), and the federation's own: connections
 * (`RSP_FEDERATION_MAX_CONNECTIONS`, `…_PER_ADDRESS`) and the time to receive a request
 * (`RSP_FEDERATION_HEADERS_TIMEOUT_MS`, `RSP_FEDERATION_REQUEST_TIMEOUT_MS`).
 */
export interface FederationGuardSettings {
  rateQueriesPerMinute: number;
  rateSocketsPerMinute: number;
  maxSocketsPerAddress: number;
  maxSubscriptionsPerSocket: number;
  federationMaxConnections: number;
  federationMaxConnectionsPerAddress: number;
  federationHeadersTimeoutMs: number;
  federationRequestTimeoutMs: number;
}

/** The guard settings of `env` (ConfigError naming every variable whose value is not valid). */
export function federationGuardSettings(env: NodeJS.ProcessEnv = process.env): FederationGuardSettings {
  return settingsFromEnv(
    ['rateQueriesPerMinute', 'rateSocketsPerMinute', 'maxSocketsPerAddress', 'maxSubscriptionsPerSocket', 'federationMaxConnections', 'federationMaxConnectionsPerAddress', 'federationHeadersTimeoutMs', 'federationRequestTimeoutMs'] as const,
    env,
  );
}

/** The `createServer` options of the time limits: Node checks them every `connectionsCheckingInterval`, here a tenth of the headers' time (at most 1 s). */
export function serverTimeouts(settings: FederationGuardSettings): { headersTimeout: number; requestTimeout: number; connectionsCheckingInterval: number } {
  const requestTimeout = settings.federationRequestTimeoutMs;
  // Node refuses a headers timeout longer than the request's.
  const headersTimeout = Math.min(settings.federationHeadersTimeoutMs, requestTimeout);
  return { headersTimeout, requestTimeout, connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(headersTimeout / 10))) };
}

/** The GraphQL-shaped 429 of a caller over its rate, with `Retry-After`, as the gateway answers it. */
export function refuseRate(res: ServerResponse, error: RateLimitError): void {
  const text = JSON.stringify({ errors: [{ message: error.message, extensions: { code: RATE_LIMITED, details: { retryAfter: error.retryAfter } } }] });
  res.writeHead(429, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'retry-after': String(error.retryAfter) });
  res.end(text);
}

/** The limits of one federation process (see FederationGuardSettings). Per process: replicas of the federation each count their own. */
export class FederationGuards {
  private readonly operations: TokenBuckets;
  private readonly newSockets: TokenBuckets;
  private readonly openSockets: AddressPlaces;
  private readonly connections: AddressPlaces;
  /** Connections refused by `capConnections`: their answer is written, anything they send is not served. */
  private readonly refused = new WeakSet<object>();

  constructor(readonly settings: FederationGuardSettings) {
    this.operations = new TokenBuckets(settings.rateQueriesPerMinute);
    this.newSockets = new TokenBuckets(settings.rateSocketsPerMinute);
    this.openSockets = new AddressPlaces({ total: 0, perAddress: settings.maxSocketsPerAddress });
    this.connections = new AddressPlaces({ total: settings.federationMaxConnections, perAddress: settings.federationMaxConnectionsPerAddress });
  }

  /**
   * Takes one operation from the caller's bucket: its group's (`group`), or its address's when it
   * has no valid key. The refusal (RATE_LIMITED, the seconds to wait) when it is empty.
   */
  rate(group: string | undefined, address: string): RateLimitError | undefined {
    const key = group !== undefined ? `group:${group}` : `address:${address}`;
    const wait = this.operations.take(key);
    if (!wait) return undefined;
    const who = group !== undefined ? 'per federation group' : 'per address without a federation key';
    return new RateLimitError(`Too many operations: at most ${this.settings.rateQueriesPerMinute} a minute ${who} (RSP_RATE_QUERIES_PER_MINUTE); retry in ${wait} s`, wait);
  }

  /** The refusal (RATE_LIMITED) of one more operation on a graphql-ws socket running `running` of them, this one counted. */
  socketOperations(running: number): RateLimitError | undefined {
    const max = this.settings.maxSubscriptionsPerSocket;
    return max > 0 && running > max ? new RateLimitError(`Too many operations on this connection: at most ${max} at once (RSP_MAX_SUBSCRIPTIONS_PER_SOCKET)`, CAP_RETRY_SECONDS) : undefined;
  }

  /**
   * Caps the connections of `server`: over `RSP_FEDERATION_MAX_CONNECTIONS_PER_ADDRESS` from one
   * address a new one is answered 429, over `RSP_FEDERATION_MAX_CONNECTIONS` in all 503, both
   * `RATE_LIMITED` with `Retry-After`, and closed. The address is the peer's (a proxy in front
   * counts as one client here).
   */
  capConnections(server: Server): void {
    server.on('connection', (socket: Duplex & { remoteAddress?: string }) => {
      const address = socket.remoteAddress ?? 'unknown';
      const taken = this.connections.take(address);
      if (typeof taken !== 'function') this.refused.add(socket);
      if (taken === 'perAddress') {
        refuseUpgrade(socket, 429, 'Too Many Requests', `Too many open connections from ${address}: at most ${this.settings.federationMaxConnectionsPerAddress} (RSP_FEDERATION_MAX_CONNECTIONS_PER_ADDRESS)`, RATE_LIMITED, CAP_RETRY_SECONDS);
      } else if (taken === 'total') {
        refuseUpgrade(socket, 503, 'Service Unavailable', `Too many open connections: at most ${this.settings.federationMaxConnections} on this federation (RSP_FEDERATION_MAX_CONNECTIONS)`, RATE_LIMITED, CAP_RETRY_SECONDS);
      } else socket.once('close', taken);
    });
  }

  /** Whether `socket` is a connection refused over the caps (its request is dropped, not served). */
  isRefused(socket: object): boolean {
    return this.refused.has(socket);
  }

  /**
   * Admits a graphql-ws socket at its HTTP upgrade, before the handshake: 429 `RATE_LIMITED` with
   * `Retry-After` when its address holds `RSP_MAX_SOCKETS_PER_ADDRESS` open ones or opened
   * `RSP_RATE_SOCKETS_PER_MINUTE` this minute (the answer is written and false returned); else
   * true, its place freed when `socket` closes.
   */
  admitSocket(req: IncomingMessage, socket: Duplex): boolean {
    const address = clientAddress(req);
    const place = this.openSockets.take(address);
    if (typeof place !== 'function') {
      refuseUpgrade(socket, 429, 'Too Many Requests', `Too many open connections from ${address}: at most ${this.settings.maxSocketsPerAddress} (RSP_MAX_SOCKETS_PER_ADDRESS)`, RATE_LIMITED, CAP_RETRY_SECONDS);
      return false;
    }
    const wait = this.newSockets.take(address);
    if (wait) {
      place();
      refuseUpgrade(socket, 429, 'Too Many Requests', `Too many new connections from ${address}: at most ${this.settings.rateSocketsPerMinute} a minute (RSP_RATE_SOCKETS_PER_MINUTE); retry in ${wait} s`, RATE_LIMITED, wait);
      return false;
    }
    socket.once('close', place);
    return true;
  }
}
