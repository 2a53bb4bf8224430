import { pipeline } from 'node:stream/promises';
import type { Request, Response } from 'express';
import { bearerSecret } from '../auth/bearer';
import type { Principal } from '../auth/principal';
import { fromDatabaseError, isRspError, OutageError, UnauthenticatedError } from '../errors';
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
