import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocketServer } from 'ws';
import type { Principal } from '../auth/principal';
import { bearerSecret } from '../auth/bearer';
import { outageOf } from '../errors';
import { batchFramesPerTurn } from './frame-batching';
import { quietFrameErrors } from './frame-errors';
import { sliceMessages } from './message-slicing';
import { TurnSlices } from './turn-slices';
import { clientAddress } from '../limits/client-address';
import type { RefusalLog } from '../limits/refusal-log';
import { RATE_LIMITED, RequestLimits } from '../limits/request-limits';
import { isRefusal, UnauthenticatedPlace, UnauthenticatedSockets } from '../limits/socket-admission';

/**
 * The `Sec-WebSocket-Protocol` entry that carries a token at the upgrade, for clients that cannot
 * set headers (browsers): `rsp.bearer.<secret>` beside `graphql-transport-ws` (the protocol the
 * gateway answers with).
 */
export const TOKEN_PROTOCOL_PREFIX = 'rsp.bearer.';

/** What the upgrade learnt of a socket, read by graphql-ws's `onConnect`. */
export interface UpgradeAdmission {
  /** The principal of the token sent at the upgrade; null when it did not authenticate (the socket is closed 4403 at its `connection_init`, unless that brings a good one). */
  actor?: Principal | null;
  /** The place a socket without credentials holds among the unauthenticated ones. */
  place?: UnauthenticatedPlace;
}

/** The token a graphql-ws upgrade carries: `Authorization: Bearer …`, else a `rsp.bearer.…` protocol entry. */
export function upgradeSecret(req: IncomingMessage): string | undefined {
  const header = bearerSecret(req.headers.authorization);
  if (header) return header;
  const protocols = req.headers['sec-websocket-protocol'];
  if (typeof protocols !== 'string') return undefined;
  for (const entry of protocols.split(',')) {
    const p = entry.trim();
    if (p.startsWith(TOKEN_PROTOCOL_PREFIX) && p.length > TOKEN_PROTOCOL_PREFIX.length) return p.slice(TOKEN_PROTOCOL_PREFIX.length);
  }
  return undefined;
}

/**
 * Upgrades handled per turn of the event loop: a burst of sockets is checked, refused or shaken
 * hands with in slices of this many, other requests answered between the slices.
 */
export const UPGRADES_PER_TURN = 16;

/**
 * Upgrades that may wait for their slice; more are refused at once (503, `Retry-After: 1`). The
 * port accepts connections faster than upgrades are checked (accept-handles.ts): during a flood
 * the waiting ones would pile up in memory, each holding its socket, where the kernel's accept
 * queues used to hold them (as many as a listen backlog: the same bound).
 */
export const MAX_UPGRADES_WAITING = 4096;

/** Messages of graphql-ws sockets (all of them together) handled per turn of the event loop. */
export const MESSAGES_PER_TURN = 32;

/** Answers an upgrade with an HTTP error and a GraphQL-shaped body, and ends the connection (for /graphql, /exec and /agent). */
export function refuseUpgrade(socket: Duplex, status: number, reason: string, message: string, code: string, retryAfter?: number): void {
  const body = JSON.stringify({ errors: [{ message, extensions: { code } }] });
  const retry = retryAfter === undefined ? '' : `Retry-After: ${retryAfter}\r\n`;
  socket.end(`HTTP/1.1 ${status} ${reason}\r\n${retry}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/**
 * The HTTP `upgrade` handler of `/graphql`: everything a socket is refused for is refused here,
 * before the WebSocket handshake, so a burst costs HTTP answers rather than handshakes. In order:
 * the caps of sockets without credentials (`unauthenticated`: 429 per address, 503 over all), the
 * open sockets and new sockets a minute of the address (429), then a token sent at the upgrade is
 * authenticated (503 UNAVAILABLE when the database cannot say): a socket whose token does takes no
 * unauthenticated place; one whose token does not is one without credentials (capped as those,
 * then closed 4403 at its `connection_init` as graphql-ws clients expect of a refused token).
 * Upgrades are taken `UPGRADES_PER_TURN` per turn of the event loop, in the order they came (past
 * `maxWaiting` waiting, refused at once: 503), and the admitted sockets' messages
 * `MESSAGES_PER_TURN` per turn, all sockets together.
 * `admissionOf` gives `onConnect` what was learnt.
 */
export function graphqlUpgrade(options: {
  limits: RequestLimits;
  unauthenticated: UnauthenticatedSockets;
  refusals: RefusalLog;
  authenticate: (secret: string) => Promise<Principal | null>;
  wsServer: WebSocketServer;
  /** Upgrades that may wait for their slice (default `MAX_UPGRADES_WAITING`). */
  maxWaiting?: number;
}): { handle: (req: IncomingMessage, socket: Duplex, head: Buffer) => Promise<void>; admissionOf: (req: IncomingMessage) => UpgradeAdmission } {
  const { limits, unauthenticated, refusals, authenticate, wsServer, maxWaiting = MAX_UPGRADES_WAITING } = options;
  const admissions = new WeakMap<IncomingMessage, UpgradeAdmission>();
  const slices = new TurnSlices(UPGRADES_PER_TURN);
  const messages = new TurnSlices(MESSAGES_PER_TURN);
  const ignore = () => undefined;
  const handle = (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    // Node leaves an upgraded socket without an error listener: one that fails while it waits (a reset) must not end the process.
    socket.on('error', ignore);
    if (slices.waiting >= maxWaiting) {
      refusals.count('upgrades waiting');
      refuseUpgrade(socket, 503, 'Service Unavailable', `The gateway is busy: ${maxWaiting} connections wait for their turn; try again`, RATE_LIMITED, 1);
      return Promise.resolve();
    }
    return slices.run(async () => {
      // A client that went while its socket waited holds nothing.
      if (socket.destroyed) return;
      await check(req, socket, head);
    });
  };
  const check = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    const address = clientAddress(req);
    const secret = upgradeSecret(req);
    const admission: UpgradeAdmission = {};
    const releases: Array<() => void> = [];
    const release = () => releases.splice(0).forEach((r) => r());
    // Released on close whatever happens next (the socket of a refused or failed upgrade closes too).
    socket.once('close', release);
    // A place among the sockets without credentials, or the refusal answered.
    const placed = (): boolean => {
      const place = unauthenticated.admit(address);
      if (isRefusal(place)) {
        refusals.count(place.limit);
        refuseUpgrade(socket, place.status, place.status === 503 ? 'Service Unavailable' : 'Too Many Requests', place.message, RATE_LIMITED, place.retryAfter);
        return false;
      }
      admission.place = place;
      releases.push(place.release);
      return true;
    };
    if (!secret && !placed()) return;
    const admitted = await limits.admitSocket(address);
    if (isRefusal(admitted)) {
      refusals.count(admitted.limit);
      return refuseUpgrade(socket, admitted.status, 'Too Many Requests', admitted.message, RATE_LIMITED, admitted.retryAfter);
    }
    releases.push(admitted);
    if (secret) {
      try {
        admission.actor = await authenticate(secret);
      } catch (e) {
        const outage = outageOf(e);
        if (!outage) throw e;
        return refuseUpgrade(socket, 503, 'Service Unavailable', outage.message, 'UNAVAILABLE', outage.retryAfterSeconds);
      }
      if (!admission.actor && !placed()) return;
    }
    // The client may have gone while the checks were awaited.
    if (socket.destroyed) return release();
    admissions.set(req, admission);
    // ws listens for the socket's errors from here.
    socket.off('error', ignore);
    wsServer.handleUpgrade(req, socket, head, (ws) => {
      batchFramesPerTurn(ws, socket);
      quietFrameErrors(ws);
      sliceMessages(ws, messages);
      wsServer.emit('connection', ws, req);
    });
  };
  return { handle, admissionOf: (req) => admissions.get(req) ?? {} };
}
