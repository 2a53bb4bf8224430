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
 * such bodies at once (MAX_PEER_BYTES_IN_FLIGHT; over it 429 RATE_LIMITED, Retry-After: 1).
 */
export function peerStoreHandler(services: Services, logger: Logger, maxInFlight = MAX_PEER_BYTES_IN_FLIGHT) {
  let inFlight = 0;
  return async (req: Request, res: Response): Promise<void> => {
    let held = 0;
    try {
      const actor = await caller(services, req);
      services.peerStore.requireCaller(actor);
      const header = req.headers['content-length'];
      if (header === undefined || !/^\d+$/.test(header)) return refuseBody(res, 411, 'A peer store call needs a Content-Length', 'BAD_REQUEST');
      const length = Number(header);
      if (length > MAX_PEER_BODY_BYTES) return refuseBody(res, 413, `The body is larger than ${MAX_PEER_BODY_BYTES} bytes`, 'BAD_REQUEST');
      if (inFlight + length > maxInFlight) return refuseBody(res, 429, 'The gateway is reading as many peer store calls as it holds at once: retry in a second', 'RATE_LIMITED', 1);
      inFlight += held = length;
      const body = await readJson(req);
      res.json({ result: (await services.peerStore.call(actor, String(body.call), (body.args ?? {}) as Record<string, unknown>)) ?? null });
    } catch (e) {
      // Refused before its body was read (the token, its role): the rest of it is not read either.
      if (!req.complete && !res.headersSent) res.set('connection', 'close');
      refuse(res, logger, e);
    } finally {
      inFlight -= held;
    }
  };
}

/** A JSON object body of at most MAX_PEER_BODY_BYTES (BAD_USER_INPUT otherwise). */
async function readJson(req: Request): Promise<Record<string, unknown>> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_PEER_BODY_BYTES) throw new BadInputError(`The body is larger than ${MAX_PEER_BODY_BYTES} bytes`);
    parts.push(chunk as Buffer);
  }
  try {
    const value: unknown = JSON.parse(Buffer.concat(parts).toString('utf8'));
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // Refused below.
  }
  throw new BadInputError('The body must be a JSON object { call, args }');
}
