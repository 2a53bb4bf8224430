import { pipeline } from 'node:stream/promises';
import type { Request, Response } from 'express';
import { bearerSecret } from '../auth/bearer';
import type { Principal } from '../auth/principal';
import { BadInputError, fromDatabaseError, isRspError, OutageError, UnauthenticatedError } from '../errors';
import type { Logger } from '../logging/logger';
import type { Services } from '../services';

const STATUS: Record<string, number> = { BAD_USER_INPUT: 400, UNAUTHENTICATED: 401, FORBIDDEN: 403, NOT_FOUND: 404, CONFLICT: 409, INTEGRITY_ERROR: 422, UNAVAILABLE: 503 };

/** The token of a request, authenticated like GraphQL's (UNAUTHENTICATED otherwise). */
async function caller(services: Services, req: Request): Promise<Principal> {
  const actor = await services.tokens.authenticate(bearerSecret(req.headers.authorization));
  if (!actor || actor.kind !== 'token') throw new UnauthenticatedError();
  return actor;
}

/** Answers an error GraphQL-shaped, with its code and the status that goes with it. */
function refuse(res: Response, logger: Logger, e: unknown): void {
  const error = isRspError(e) ? e : fromDatabaseError(e) ?? null;
  if (!error) logger.error({ err: e, requestId: res.locals.requestId }, 'a peer site request failed');
  const code = error?.category ?? 'INTERNAL_SERVER_ERROR';
  if (res.headersSent) return void res.destroy();
  if (error instanceof OutageError) res.set('retry-after', String(error.retryAfterSeconds));
  res.status(STATUS[code] ?? 500).json({ errors: [{ message: error?.message ?? `Internal error (request ${res.locals.requestId})`, extensions: { code, ...(error && Object.keys(error.details).length ? { details: error.details } : {}) } }] });
}

/**
 * `GET /images/content/:digest` — the bits of an image the token may use, by digest: what another
 * site fetches when it lacks the image (`importImage` there). NOT_FOUND when the token may use no
 * image of that digest here.
 */
export function imageContentHandler(services: Services, logger: Logger) {
  return async (req: Request, res: Response): Promise<void> => {
    try {
      const { stream } = await services.images.openContent(await caller(services, req), String(req.params.digest));
      res.status(200).set('content-type', 'application/x-tar');
      await pipeline(stream, res);
    } catch (e) {
      refuse(res, logger, e);
    }
  };
}

/** The largest body of a peer store call: a batch of chunks (base64) with room to spare. */
export const MAX_PEER_BODY_BYTES = 32 * 1024 * 1024;

/**
 * Bytes of peer store bodies the gateway holds at once, all callers together (four of the largest
 * bodies): each is read whole before it is parsed, so without a bound any member token sending a
 * few dozen large bodies at once would exhaust the gateway's memory.
 */
export const MAX_PEER_BYTES_IN_FLIGHT = 4 * MAX_PEER_BODY_BYTES;

/**
 * Bytes of peer store bodies one group's tokens hold at once (two of the largest bodies, half of
 * MAX_PEER_BYTES_IN_FLIGHT): a member sending large bodies slowly holds its own share, never what
 * the other groups' replication runs need. A run sends one body at a time, so this is never short.
 */
export const MAX_PEER_BYTES_PER_GROUP = 2 * MAX_PEER_BODY_BYTES;

/** The bounds of `peerStoreHandler`: bytes held at once (in all, per group) and how long a body may send nothing. */
export interface PeerStoreBounds {
  maxInFlight: number;
  maxPerGroup: number;
  /** A body that sends nothing for this long is cut (its bytes freed), however long the whole-body deadline; 0: never. */
  idleMs: number;
}

/** Answers a body refused before it is read: the connection closes (the rest of the body is not read). */
function refuseBody(res: Response, status: number, message: string, code: string, retryAfter?: number): void {
  res.set('connection', 'close');
  if (retryAfter !== undefined) res.set('retry-after', String(retryAfter));
  res.status(status).json({ errors: [{ message, extensions: { code } }] });
}

/**
 * `POST /peer/store` — another site's replication run writing to this site's store, with a token
 * this site issued (`{ call, args }` → `{ result }`; see `PeerStore`). Before its body is read:
 * the token is checked (401) and must be a MEMBER's of a group (403); the body must announce its
 * length (411) of at most MAX_PEER_BODY_BYTES (413); and it must fit in what the gateway holds of
 * such bodies at once, in all and for the token's group (`bounds`; over either 429 RATE_LIMITED,
 * Retry-After: 1). A body that then sends nothing for `bounds.idleMs` is cut, its bytes freed.
 */
export function peerStoreHandler(services: Services, logger: Logger, bounds: Partial<PeerStoreBounds> = {}) {
  const { maxInFlight = MAX_PEER_BYTES_IN_FLIGHT, maxPerGroup = MAX_PEER_BYTES_PER_GROUP, idleMs = 0 } = bounds;
  let inFlight = 0;
  const groups = new Map<string, number>();
  return async (req: Request, res: Response): Promise<void> => {
    let held = 0;
    let group = '';
    try {
      const actor = await caller(services, req);
      const { groupId } = services.peerStore.requireCaller(actor);
      const header = req.headers['content-length'];
      if (header === undefined || !/^\d+$/.test(header)) return refuseBody(res, 411, 'A peer store call needs a Content-Length', 'BAD_REQUEST');
      const length = Number(header);
      if (length > MAX_PEER_BODY_BYTES) return refuseBody(res, 413, `The body is larger than ${MAX_PEER_BODY_BYTES} bytes`, 'BAD_REQUEST');
      if (inFlight + length > maxInFlight) return refuseBody(res, 429, 'The gateway is reading as many peer store calls as it holds at once: retry in a second', 'RATE_LIMITED', 1);
      const ofGroup = groups.get(groupId) ?? 0;
      if (ofGroup + length > maxPerGroup) return refuseBody(res, 429, "The gateway is reading as many of this group's peer store calls as it holds at once: retry in a second", 'RATE_LIMITED', 1);
      inFlight += held = length;
      groups.set((group = groupId), ofGroup + length);
      const body = await readJson(req, idleMs);
      res.json({ result: (await services.peerStore.call(actor, String(body.call), (body.args ?? {}) as Record<string, unknown>)) ?? null });
    } catch (e) {
      // Its client went, or was cut for sending nothing (`idleMs`): there is no one to answer.
      if (req.socket.destroyed && !req.complete) return void logger.info({ err: e, requestId: res.locals.requestId }, 'a peer store body did not come whole: its connection is closed');
      // Refused before its body was read (the token, its role): the rest of it is not read either.
      if (!req.complete && !res.headersSent) res.set('connection', 'close');
      refuse(res, logger, e);
    } finally {
      inFlight -= held;
      if (held) {
        const left = groups.get(group)! - held;
        if (left > 0) groups.set(group, left);
        else groups.delete(group);
      }
    }
  };
}

/**
 * A JSON object body of at most MAX_PEER_BODY_BYTES (BAD_USER_INPUT otherwise). Once `idleMs`
 * (when not 0) pass without a byte, the connection is closed: the read fails as a client gone.
 */
async function readJson(req: Request, idleMs: number): Promise<Record<string, unknown>> {
  const parts: Buffer[] = [];
  let size = 0;
  const socket = req.socket;
  const stalled = () => socket.destroy(new Error(`the peer store body sent nothing for ${idleMs} ms`));
  if (idleMs > 0 && !req.complete) {
    socket.setTimeout(idleMs);
    socket.once('timeout', stalled);
  }
  try {
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_PEER_BODY_BYTES) throw new BadInputError(`The body is larger than ${MAX_PEER_BODY_BYTES} bytes`);
      parts.push(chunk as Buffer);
    }
  } finally {
    socket.off('timeout', stalled);
    if (!socket.destroyed) socket.setTimeout(0);
  }
  try {
    const value: unknown = JSON.parse(Buffer.concat(parts).toString('utf8'));
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // Refused below.
  }
  throw new BadInputError('The body must be a JSON object { call, args }');
}
