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
const MAX_PEER_BODY_BYTES = 32 * 1024 * 1024;

/**
 * `POST /peer/store` — another site's replication run writing to this site's store, with a token
 * this site issued (`{ call, args }` → `{ result }`; see `PeerStore`).
 */
export function peerStoreHandler(services: Services, logger: Logger) {
  return async (req: Request, res: Response): Promise<void> => {
    try {
      const actor = await caller(services, req);
      const body = await readJson(req);
      res.json({ result: (await services.peerStore.call(actor, String(body.call), (body.args ?? {}) as Record<string, unknown>)) ?? null });
    } catch (e) {
      refuse(res, logger, e);
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
